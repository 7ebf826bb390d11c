"""The customer portal's pages. Each one reads through portal.selectors (scoped to the session's
customer) or writes through one service, then renders a template of templates/portal/."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from customers.selectors import customer_get
from customers.services import customer_update
from dodo_billing.errors import ApplicationError, InvalidRequestBody, NotFound
from dodo_billing.views import business_required, safe_next_url
from metering.invoice_pdf import invoice_pdf_filename, render_invoice_pdf
from metering.services.billing import subscription_cancel
from portal import selectors
from portal.auth import (
    clear_portal_cookie,
    current_portal_session,
    portal_session_required,
    set_portal_cookie,
)
from portal.forms import CancelForm, ProfileForm
from portal.services import (
    PortalLinkRefused,
    portal_link_create,
    portal_link_redeem,
    portal_session_end,
    token_digest,
)
from wallets.services import supported_currencies

LEDGER_PAGE_SIZE = 25

BILLING_PAGE_SIZE = 25  # payments, and refunds, per page of the billing history


def _render(request, template, context=None, status=200):
    session = request.portal_session
    base = {
        "portal_session": session,
        "customer": request.portal_customer,
        "business": request.portal_customer.business,
        "return_url": session.return_url,
    }
    return render(request, template, {**base, **(context or {})}, status=status)


def _not_found(request, exc: NotFound):
    return _render(request, "portal/not_found.html", {"message": exc.message}, status=404)


# --- opening a link -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def open_link(request, token):
    """GET shows a "Continue" button and spends nothing (mail scanners that prefetch links must not
    use them up); POST opens the link once and signs the customer in to the portal."""
    if request.method == "GET":
        link = selectors.portal_link_peek(token_digest=token_digest(token))
        if link is None:
            return render(request, "portal/link_refused.html", status=403)
        return render(
            request, "portal/open.html", {"business": link.customer.business, "customer": link.customer}
        )
    try:
        session = portal_link_redeem(token=token)
    except PortalLinkRefused:
        return render(request, "portal/link_refused.html", status=403)
    response = redirect("portal:overview")
    set_portal_cookie(response, request, session)
    messages.success(request, f"Welcome, {session.customer.name}.")
    return response


@require_POST
def sign_out(request):
    session = current_portal_session(request)
    if session is not None:
        portal_session_end(session=session)
    response = redirect("portal:signed-out")
    clear_portal_cookie(response)
    return response


def signed_out(request):
    return render(request, "portal/signed_out.html")


# --- pages ----------------------------------------------------------------------------------------


@portal_session_required
def overview(request):
    customer = request.portal_customer
    wallets = selectors.portal_wallets(customer=customer)
    subscriptions = list(selectors.portal_subscription_list(customer=customer, include_ended=False))
    return _render(
        request,
        "portal/overview.html",
        {
            "wallets": wallets,
            "low_wallets": selectors.portal_low_balance_wallets(wallets=wallets),
            "subscriptions": subscriptions,
            "recent_payments": list(selectors.portal_payment_list(customer=customer)[:5]),
            "page": "overview",
        },
    )


@portal_session_required
def billing(request):
    customer = request.portal_customer
    return _render(
        request,
        "portal/billing.html",
        {
            # Newest first, a page at a time; an out-of-range or malformed page number shows the
            # nearest page instead of an error.
            "payments": Paginator(
                selectors.portal_payment_list(customer=customer), BILLING_PAGE_SIZE
            ).get_page(request.GET.get("page")),
            "refunds": Paginator(selectors.portal_refund_list(customer=customer), BILLING_PAGE_SIZE).get_page(
                request.GET.get("refunds_page")
            ),
            "page": "billing",
        },
    )


@portal_session_required
def invoice_pdf(request, payment_id):
    try:
        invoice = selectors.portal_invoice_get(customer=request.portal_customer, payment_id=payment_id)
    except NotFound as exc:
        return _not_found(request, exc)
    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice_pdf_filename(invoice)}"'
    return response


def _subscription_cards(subscriptions):
    return [
        {"subscription": sub, "usage": selectors.portal_subscription_usage(subscription=sub)}
        for sub in subscriptions
    ]


@portal_session_required
def subscriptions(request):
    subs = list(selectors.portal_subscription_list(customer=request.portal_customer))
    return _render(
        request,
        "portal/subscriptions.html",
        {"cards": _subscription_cards(subs), "page": "subscriptions"},
    )


@portal_session_required
def subscription_detail(request, subscription_id):
    try:
        sub = selectors.portal_subscription_get(
            customer=request.portal_customer, subscription_id=subscription_id
        )
    except NotFound as exc:
        return _not_found(request, exc)
    return _render(
        request,
        "portal/subscription_detail.html",
        {"card": _subscription_cards([sub])[0], "page": "subscriptions"},
    )


@portal_session_required
@require_POST
def subscription_cancel_view(request, subscription_id):
    try:
        sub = selectors.portal_subscription_get(
            customer=request.portal_customer, subscription_id=subscription_id
        )
    except NotFound as exc:
        return _not_found(request, exc)
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose when to cancel: now or at the end of the period.")
        return redirect("portal:subscription-detail", subscription_id=sub.id)
    at_period_end = form.cleaned_data["when"] == "period_end"
    try:
        sub = subscription_cancel(subscription=sub, at_period_end=at_period_end)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("portal:subscription-detail", subscription_id=sub.id)
    if at_period_end:
        messages.success(
            request,
            f"{sub.product.name} will end on {sub.next_billing_date:%b %-d, %Y}; you keep it until then.",
        )
    else:
        messages.success(request, f"{sub.product.name} is cancelled.")
    return redirect("portal:subscription-detail", subscription_id=sub.id)


@portal_session_required
def license_keys(request):
    keys = list(selectors.portal_license_key_list(customer=request.portal_customer))
    return _render(request, "portal/license_keys.html", {"keys": keys, "page": "license-keys"})


@portal_session_required
def license_key_detail(request, license_key_id):
    try:
        key = selectors.portal_license_key_get(
            customer=request.portal_customer, license_key_id=license_key_id
        )
    except NotFound as exc:
        return _not_found(request, exc)
    return _render(request, "portal/license_key_detail.html", {"key": key, "page": "license-keys"})


@portal_session_required
def wallet(request):
    customer = request.portal_customer
    wallets = selectors.portal_wallets(customer=customer)
    currencies = [w.currency for w in wallets] or supported_currencies()
    currency = request.GET.get("currency")
    if currency not in currencies:
        currency = None
    paginator = Paginator(
        selectors.portal_ledger_entries(customer=customer, currency=currency), LEDGER_PAGE_SIZE
    )
    page_obj = paginator.get_page(request.GET.get("page"))
    return _render(
        request,
        "portal/wallet.html",
        {
            "wallets": wallets,
            "currencies": currencies,
            "currency": currency,
            "page_obj": page_obj,
            "entries": page_obj.object_list,
            "page": "wallet",
        },
    )


@portal_session_required
@require_http_methods(["GET", "POST"])
def profile(request):
    customer = request.portal_customer
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                customer_update(customer=customer, **form.cleaned_data)
            except InvalidRequestBody as exc:
                for field, errors in exc.extra.get("errors", {}).items():
                    form.add_error(field if field in form.fields else None, errors)
                customer.refresh_from_db()
            else:
                messages.success(request, "Your details were saved.")
                return redirect("portal:profile")
        form.mark_invalid()
        messages.error(request, "Please correct the highlighted fields.")
        return _render(request, "portal/profile.html", {"form": form, "page": "profile"}, status=400)
    form = ProfileForm(
        initial={"name": customer.name, "email": customer.email, "phone_number": customer.phone_number or ""}
    )
    return _render(request, "portal/profile.html", {"form": form, "page": "profile"})


# --- the dashboard's "Invite to portal" button ----------------------------------------------------


@business_required
@require_POST
def invite(request, business, customer_id):
    """Email the customer a portal link (staff only; the same service as the API)."""
    try:
        customer = customer_get(business=business, customer_id=customer_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    portal_link_create(customer=customer, base_url=request.build_absolute_uri("/"), send_email=True)
    messages.success(request, f"A portal link was emailed to {customer.email}.")
    return redirect(safe_next_url(request, reverse("customers:detail", args=[customer.id])))
