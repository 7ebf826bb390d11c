"""Dashboard pages of metering: billing.

* Payments (``/payments/``) and Subscriptions (``/subscriptions/``): list pages with the models'
  FilterSets (the API's), sorting, Edit columns, CSV export.
* Customer detail tabs: Transactions History (refund, invoice PDF, mark as paid, retry) and
  Active Subscriptions (usage so far this period per meter, cancel now or at period end).

Views only validate input, call one service or selector, and say what happened with a flash
message; every write goes through ``metering.services`` exactly as the API's.
"""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from dodo_billing.errors import ApplicationError, NotFound
from dodo_billing.money import format_money
from dodo_billing.views import (
    BusinessViewMixin,
    ObjectListView,
    ObjectTab,
    business_required,
    register_tab,
    safe_next_url,
)
from metering.filtersets import PaymentFilterSet, SubscriptionFilterSet
from metering.forms.billing import RefundForm, SubscriptionCancelForm
from metering.invoice_pdf import invoice_pdf_filename, render_invoice_pdf
from metering.models import Refund
from metering.selectors.billing import subscription_list
from metering.selectors.dashboard_billing import (
    ENDED_SUBSCRIPTION_STATUSES,
    customer_payment_get,
    customer_payment_list,
    customer_subscription_get,
    customer_subscription_list,
    payment_refund_summary,
    subscriptions_current_usage,
    subscriptions_needing_attention,
)
from metering.selectors.payments import invoice_for_payment, payment_list
from metering.services.billing import subscription_cancel
from metering.services.billing_attention import subscription_billing_retry
from metering.services.payments import payment_mark_paid, payment_retry, refund_create
from metering.tables.billing import (
    CustomerPaymentTable,
    CustomerSubscriptionTable,
    PaymentTable,
    SubscriptionTable,
)
from wallets.views import bootstrap_filter_form, customer_tab

register_tab("customer", ObjectTab("Transactions History", "metering:customer-payments", 10, "bi-receipt"))
register_tab(
    "customer", ObjectTab("Active Subscriptions", "metering:customer-subscriptions", 20, "bi-arrow-repeat")
)


def _or_404(selector, **kwargs):
    try:
        return selector(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc


# --- list pages -----------------------------------------------------------------------------------


class PaymentListView(ObjectListView):
    template_name = "metering/billing/payment_list.html"
    table_class = PaymentTable
    filterset_class = PaymentFilterSet
    title = "Payments"
    export_filename = "payments.csv"

    def get_queryset(self):
        return payment_list(business=self.business)

    def get_filterset(self, queryset):
        return bootstrap_filter_form(super().get_filterset(queryset), drop=("brand_id",))


class SubscriptionListView(ObjectListView):
    template_name = "metering/billing/subscription_list.html"
    table_class = SubscriptionTable
    filterset_class = SubscriptionFilterSet
    title = "Subscriptions"
    export_filename = "subscriptions.csv"

    def get_queryset(self):
        return subscription_list(business=self.business)

    def get_filterset(self, queryset):
        return bootstrap_filter_form(super().get_filterset(queryset), drop=("brand_id",))

    def extra_context_data(self) -> dict:
        return {
            "attention": list(subscriptions_needing_attention(business=self.business)),
            "next": self.request.get_full_path(),
        }


# --- customer tabs --------------------------------------------------------------------------------


class CustomerTabListView(ObjectListView):
    """A list inside a tab of a customer's detail page; the customer's own filter is implied."""

    def get(self, request, *args, **kwargs):
        self.tab = customer_tab(request, self.business, kwargs["customer_id"])
        self.customer = self.tab["customer"]
        return super().get(request, *args, **kwargs)

    def get_filterset(self, queryset):
        return bootstrap_filter_form(super().get_filterset(queryset), drop=("brand_id", "customer_id"))

    def extra_context_data(self) -> dict:
        return dict(self.tab)


class CustomerPaymentsView(CustomerTabListView):
    template_name = "metering/billing/customer_transactions.html"
    table_class = CustomerPaymentTable
    filterset_class = PaymentFilterSet
    title = "Transactions"

    @property
    def export_filename(self):
        return f"payments-{self.customer.id}.csv"

    def get_queryset(self):
        return customer_payment_list(business=self.business, customer=self.customer)


class CustomerSubscriptionsView(CustomerTabListView):
    template_name = "metering/billing/customer_subscriptions.html"
    table_class = CustomerSubscriptionTable
    filterset_class = SubscriptionFilterSet
    title = "Subscriptions"

    @property
    def export_filename(self):
        return f"subscriptions-{self.customer.id}.csv"

    @property
    def include_ended(self) -> bool:
        return bool(self.request.GET.get("ended")) or (
            self.request.GET.get("status") in ENDED_SUBSCRIPTION_STATUSES
        )

    def get_queryset(self):
        return customer_subscription_list(
            business=self.business, customer=self.customer, include_ended=self.include_ended
        )

    def get_table(self, queryset):
        self.table = super().get_table(queryset)
        if self.request.GET.get("export") == "csv":  # every row is exported, with its usage
            self.table.usage_by_subscription = subscriptions_current_usage(subscriptions=list(queryset))
        return self.table

    def extra_context_data(self) -> dict:
        rows = (
            [row.record for row in self.table.page.object_list] if getattr(self.table, "page", None) else []
        )
        self.table.usage_by_subscription = subscriptions_current_usage(subscriptions=rows)
        attention = subscriptions_needing_attention(business=self.business, customer=self.customer)
        return {
            **super().extra_context_data(),
            "include_ended": self.include_ended,
            "attention": list(attention),
            "next": self.request.get_full_path(),
        }


# --- payment actions ------------------------------------------------------------------------------


class PaymentRefundView(BusinessViewMixin, TemplateView):
    """GET: the refund form. POST: ``refund_create`` as the API calls it; a refused refund
    (more than is left, more to the card than was charged to it) shows why and writes nothing."""

    template_name = "metering/billing/payment_refund.html"

    def _load(self):
        self.tab = customer_tab(self.request, self.business, self.kwargs["customer_id"])
        self.customer = self.tab["customer"]
        self.payment = _or_404(
            customer_payment_get,
            business=self.business,
            customer=self.customer,
            payment_id=self.kwargs["payment_id"],
        )

    def _render(self, form, status=200):
        context = {
            **self.tab,
            "payment": self.payment,
            "summary": payment_refund_summary(self.payment),
            "form": form,
            "title": f"Refund {self.payment.id}",
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request, *args, **kwargs):
        self._load()
        return self._render(RefundForm(currency=self.payment.currency))

    def post(self, request, *args, **kwargs):
        self._load()
        form = RefundForm(request.POST, currency=self.payment.currency)
        if form.is_valid():
            data = form.cleaned_data
            try:
                refund = refund_create(
                    payment=self.payment,
                    amount=data["amount_minor"],
                    destination=data["destination"],
                    reason=data["reason"],
                )
            except ApplicationError as exc:
                form.add_error("amount", self._refund_error(exc))
            else:
                amount = format_money(refund.amount, refund.currency)
                where = (
                    "to the wallet"
                    if refund.destination == Refund.Destination.WALLET
                    else "to the payment method"
                )
                text = f"Refunded {amount} of payment {self.payment.id} {where}"
                if refund.status == "pending":
                    messages.info(request, f"{text}: waiting for the gateway to confirm.")
                elif refund.status == "failed":
                    messages.error(request, f"The gateway refused the refund of {amount} ({refund.id}).")
                else:
                    messages.success(request, f"{text}.")
                return redirect("metering:customer-payments", self.customer.id)
        messages.error(request, "The refund was not made: correct the form below.")
        return self._render(form, status=400)

    def _refund_error(self, exc: ApplicationError) -> str:
        """The service's reason in the payment's currency rather than minor units."""
        currency = self.payment.currency
        extra = exc.extra
        if "refundable" in extra and "refundable_to_gateway" not in extra:
            return (
                f"That is more than is left to refund: at most {format_money(extra['refundable'], currency)}."
            )
        if "refundable_to_gateway" in extra:
            left = format_money(extra["refundable_to_gateway"], currency)
            return f"At most {left} can go back to the payment method; refund the rest to the wallet."
        return exc.message


def _payment_action(request, business, customer_id, payment_id, action):
    tab = customer_tab(request, business, customer_id)
    payment = _or_404(
        customer_payment_get, business=business, customer=tab["customer"], payment_id=payment_id
    )
    fallback = reverse("metering:customer-payments", args=[customer_id])
    try:
        return payment, action(payment), redirect(safe_next_url(request, fallback))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return payment, None, redirect(safe_next_url(request, fallback))


@require_POST
@business_required
def payment_mark_paid_view(request, business, customer_id, payment_id):
    payment, done, response = _payment_action(
        request, business, customer_id, payment_id, lambda payment: payment_mark_paid(payment=payment)
    )
    if done is not None:
        messages.success(
            request,
            f"Payment {payment.id} ({format_money(payment.total_amount, payment.currency)}) marked as paid.",
        )
    return response


@require_POST
@business_required
def payment_retry_view(request, business, customer_id, payment_id):
    _, done, response = _payment_action(
        request, business, customer_id, payment_id, lambda payment: payment_retry(payment=payment)
    )
    if done is not None:
        if done.status == "succeeded":
            messages.success(request, f"Payment {done.id} went through on retry.")
        elif done.status == "failed":
            messages.warning(
                request,
                f"Payment {done.id} was declined again: "
                f"{done.error_message or done.error_code or 'no reason given'}.",
            )
        else:
            messages.info(request, f"Payment {done.id} was sent again; it is {done.status}.")
    return response


@business_required
def payment_invoice_pdf(request, business, payment_id):
    """The invoice of a payment as a PDF, rendered by the same code as the API's."""
    invoice = _or_404(invoice_for_payment, business=business, payment_id=payment_id)
    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{invoice_pdf_filename(invoice)}"'
    return response


# --- subscription actions -------------------------------------------------------------------------


@require_POST
@business_required
def subscription_cancel_view(request, business, customer_id, subscription_id):
    tab = customer_tab(request, business, customer_id)
    subscription = _or_404(
        customer_subscription_get,
        business=business,
        customer=tab["customer"],
        subscription_id=subscription_id,
    )
    response = redirect(
        safe_next_url(request, reverse("metering:customer-subscriptions", args=[customer_id]))
    )
    form = SubscriptionCancelForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, "Choose when to cancel: now or at the end of the period. Nothing was changed."
        )
        return response
    at_period_end = form.cleaned_data["when"] == "period_end"
    try:
        subscription = subscription_cancel(subscription=subscription, at_period_end=at_period_end)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return response
    name = subscription.product.name
    if subscription.needs_attention_at is not None:
        messages.warning(
            request,
            f"{name} is cancelled, but what was left to bill could not be billed: "
            f"{subscription.billing_error} It needs attention; retry billing once the cause is fixed.",
        )
    elif at_period_end:
        messages.success(
            request,
            f"{name} will end on {subscription.next_billing_date:%Y-%m-%d %H:%M} UTC, "
            "after this period is billed.",
        )
    else:
        messages.success(request, f"{name} is cancelled; its partial period was billed.")
    return response


@require_POST
@business_required
def subscription_retry_billing_view(request, business, customer_id, subscription_id):
    """An operator's retry of billing that gave up (needs attention): ``subscription_billing_retry``."""
    tab = customer_tab(request, business, customer_id)
    subscription = _or_404(
        customer_subscription_get,
        business=business,
        customer=tab["customer"],
        subscription_id=subscription_id,
    )
    response = redirect(
        safe_next_url(request, reverse("metering:customer-subscriptions", args=[customer_id]))
    )
    try:
        invoice = subscription_billing_retry(subscription=subscription)
    except ApplicationError as exc:
        messages.error(request, f"Billing {subscription.product.name} failed again: {exc.message}")
        return response
    if invoice is None:
        messages.success(request, f"Billing of {subscription.product.name} resumes; nothing is due yet.")
    else:
        amount = format_money(invoice.subtotal, invoice.currency)
        messages.success(request, f"{subscription.product.name} is billed: invoice {invoice.id} ({amount}).")
    return response


urlpatterns = [
    path("payments/", PaymentListView.as_view(), name="payment-list"),
    path("payments/<str:payment_id>/invoice.pdf", payment_invoice_pdf, name="payment-invoice-pdf"),
    path("subscriptions/", SubscriptionListView.as_view(), name="subscription-list"),
    path(
        "customers/<str:customer_id>/transactions", CustomerPaymentsView.as_view(), name="customer-payments"
    ),
    path(
        "customers/<str:customer_id>/transactions/<str:payment_id>/refund",
        PaymentRefundView.as_view(),
        name="customer-payment-refund",
    ),
    path(
        "customers/<str:customer_id>/transactions/<str:payment_id>/mark-paid",
        payment_mark_paid_view,
        name="customer-payment-mark-paid",
    ),
    path(
        "customers/<str:customer_id>/transactions/<str:payment_id>/retry",
        payment_retry_view,
        name="customer-payment-retry",
    ),
    path(
        "customers/<str:customer_id>/subscriptions",
        CustomerSubscriptionsView.as_view(),
        name="customer-subscriptions",
    ),
    path(
        "customers/<str:customer_id>/subscriptions/<str:subscription_id>/cancel",
        subscription_cancel_view,
        name="customer-subscription-cancel",
    ),
    path(
        "customers/<str:customer_id>/subscriptions/<str:subscription_id>/retry-billing",
        subscription_retry_billing_view,
        name="customer-subscription-retry-billing",
    ),
]
