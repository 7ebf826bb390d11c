"""Dashboard pages of wallets: the Wallet Ledger tab of a customer's detail page.

The tab shows the customer's balance in each currency, their ledger entries (filtered with the
ledger's one FilterSet, the API's) and a form to add or deduct credits with a reason. The form
writes through ``wallets.services.wallet_credit`` / ``wallet_debit`` — the API's ledger service —
with an idempotency key generated when the form was rendered, so a double submit writes one entry.
"""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse

from customers.selectors import customer_get
from dodo_billing.errors import (
    ApplicationError,
    IdempotencyKeyReused,
    InsufficientWalletFunds,
    NotFound,
    WalletBalanceLimitExceeded,
)
from dodo_billing.money import format_money
from dodo_billing.views import ObjectListView, ObjectTab, object_tabs, register_tab
from wallets.filtersets import LedgerEntryFilterSet
from wallets.forms import WalletAdjustForm
from wallets.selectors import ledger_entry_list, wallet_list
from wallets.services import supported_currencies, wallet_credit, wallet_debit
from wallets.tables import LedgerEntryTable

register_tab("customer", ObjectTab("Wallet Ledger", "wallets:customer-ledger", 30, "bi-wallet2"))


def customer_tab(request, business, customer_id: str) -> dict:
    """The context every tab of a customer's detail page needs ({"customer", "tabs", ...}): the
    customer page's own helper when it is there, else the customer and the registered tabs.
    Another business's (or an unknown) customer is a 404."""
    try:
        from customers.views.customers import customer_tab_context
    except ImportError:
        customer_tab_context = None
    try:
        if customer_tab_context is not None:
            return dict(customer_tab_context(request, business, customer_id))
        customer = customer_get(business=business, customer_id=customer_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return {
        "customer": customer,
        "tabs": object_tabs("customer", customer.id, request.resolver_match.view_name),
    }


def bootstrap_filter_form(filterset, drop=()):
    """Leave out filters that make no sense on the page (``drop``) and give the rest Bootstrap's
    classes, before the FilterSet builds its form."""
    if filterset is None:
        return None
    for name in drop:
        filterset.filters.pop(name, None)
    for field in filterset.form.fields.values():
        css = "form-select" if hasattr(field, "choices") else "form-control"
        field.widget.attrs.setdefault("class", css)
        if "created_at" in (field.label or "").lower() or isinstance(field, forms.DateTimeField):
            field.widget.attrs.setdefault("placeholder", "2026-01-31T00:00:00Z")
    return filterset


class CustomerLedgerView(ObjectListView):
    """GET: balances, the ledger and the add/deduct form. POST: one credit or debit."""

    template_name = "wallets/customer_wallet.html"
    table_class = LedgerEntryTable
    filterset_class = LedgerEntryFilterSet
    title = "Wallet Ledger"
    adjust_form = None

    def setup_customer(self):
        self.tab = customer_tab(self.request, self.business, self.kwargs["customer_id"])
        self.customer = self.tab["customer"]

    def get(self, request, *args, **kwargs):
        self.setup_customer()
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return ledger_entry_list(customer=self.customer)

    def get_filterset(self, queryset):
        return bootstrap_filter_form(super().get_filterset(queryset))

    @property
    def export_filename(self):
        return f"ledger-{self.customer.id}.csv"

    def extra_context_data(self) -> dict:
        wallets = wallet_list(customer=self.customer)
        return {
            **self.tab,
            "wallets": wallets,
            "adjust_form": self.adjust_form or WalletAdjustForm(currencies=supported_currencies()),
            "adjust_url": reverse("wallets:customer-ledger", args=[self.customer.id]),
        }

    def post(self, request, *args, **kwargs):
        self.setup_customer()
        form = WalletAdjustForm(request.POST, currencies=supported_currencies())
        if form.is_valid():
            data = form.cleaned_data
            service = wallet_credit if data["direction"] == "credit" else wallet_debit
            try:
                written = service(
                    customer=self.customer,
                    currency=data["currency"],
                    amount=data["amount_minor"],
                    reason=data["reason"],
                    idempotency_key=data["idempotency_key"],
                )
            except IdempotencyKeyReused as exc:
                return self._reused_key(exc)
            except (InsufficientWalletFunds, WalletBalanceLimitExceeded) as exc:
                form.add_error("amount", exc.message)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                amount = format_money(written.entry.amount, written.entry.currency)
                balance = format_money(written.wallet.balance, written.wallet.currency)
                verb = "Added" if written.entry.is_credit else "Deducted"
                messages.success(
                    request, f"{verb} {amount}. The {written.wallet.currency} balance is now {balance}."
                )
                return redirect("wallets:customer-ledger", self.customer.id)
        self.adjust_form = form
        messages.error(request, "Nothing was changed: correct the form below.")
        response = super().get(request, *args, **kwargs)
        response.status_code = 400
        return response

    def _reused_key(self, exc: IdempotencyKeyReused):
        if exc.extra.get("same_parameters"):
            messages.info(
                self.request,
                f"This adjustment was already recorded (entry {exc.extra.get('ledger_entry_id')}); "
                "the repeated submit changed nothing.",
            )
        else:
            messages.error(
                self.request,
                "This form was already submitted with other values, so nothing was changed. "
                "Enter the adjustment again in the fresh form below.",
            )
        return redirect("wallets:customer-ledger", self.customer.id)
