"""Dashboard tables of metering: billing (payments and subscriptions).

The actions column renders small templates with the row's own forms; the refundable amounts it
needs come from the payment's prefetched refunds, so no column runs a query per row.
"""

import django_tables2 as tables
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from dodo_billing.money import format_money, minor_to_major
from dodo_billing.tables import BaseTable, DateTimeColumn, IdColumn, MoneyColumn
from dodo_billing.views import register_table
from metering.models import Payment, Subscription
from metering.selectors.dashboard_billing import payment_refund_summary

STATUS_LABELS = {"on_hold": "on hold", "past_due": "past due"}


def status_badge(value: str):
    return format_html(
        '<span class="badge badge-status status-{}">{}</span>', value, STATUS_LABELS.get(value, value)
    )


class StatusColumn(tables.Column):
    """The raw status (``on_hold``) as a coloured badge; exported as the raw status."""

    def render(self, value, record):
        return status_badge(record.status)

    def value(self, value, record):
        return record.status


class CustomerColumn(tables.Column):
    """The customer's name, linking to their detail page, with the email under it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("accessor", "customer__name")
        kwargs.setdefault("order_by", ("customer__name", "customer__id"))
        super().__init__(*args, **kwargs)

    def render(self, value, record):
        from django.urls import reverse

        return format_html(
            '<a href="{}">{}</a><div class="small text-body-secondary">{}</div>',
            reverse("customers:detail", args=[record.customer_id]),
            value,
            record.customer.email,
        )

    def value(self, value, record):
        return value


class PaymentActionsColumn(tables.Column):
    def __init__(self, *args, **kwargs):
        kwargs.update(empty_values=(), orderable=False, exclude_from_export=True, verbose_name="Actions")
        kwargs.setdefault("attrs", {"td": {"class": "text-end text-nowrap"}, "th": {"class": "text-end"}})
        super().__init__(*args, **kwargs)

    def render(self, record, table):
        request = getattr(table, "request", None)
        return render_to_string(
            "metering/billing/payment_actions.html",
            {
                "payment": record,
                "refund": payment_refund_summary(record),
                "next": request.get_full_path() if request else "",
            },
            request=request,
        )


@register_table
class PaymentTable(BaseTable):
    """Every payment of the business (the Payments page)."""

    exempt_columns = ("id",)

    id = IdColumn(verbose_name="Payment Id")
    status = StatusColumn(verbose_name="Status")
    total_amount = MoneyColumn(verbose_name="Amount")
    refunded = MoneyColumn(
        verbose_name="Refunded",
        empty_values=(),
        orderable=False,
        attrs={"td": {"class": "text-end text-nowrap"}, "th": {"class": "text-end"}},
    )
    created_at = DateTimeColumn(verbose_name="Date (UTC)")
    pricing_type = tables.Column(verbose_name="Pricing Type")
    payment_method = tables.Column(
        verbose_name="Payment Method",
        empty_values=(),
        order_by=("payment_method__card_last_four", "wallet_amount"),
    )
    customer = CustomerColumn(verbose_name="Customer")
    customer_email = tables.Column(verbose_name="Customer Email", accessor="customer__email",
                                   order_by=("customer__email",))  # fmt: skip
    product = tables.Column(verbose_name="Product", accessor="product__name", default="—",
                            order_by=("product__name",))  # fmt: skip
    subscription_id = tables.Column(verbose_name="Subscription", default="—")
    wallet_amount = MoneyColumn(verbose_name="From Wallet")
    gateway_amount = MoneyColumn(verbose_name="Through Gateway")
    gateway = tables.Column(verbose_name="Gateway")
    error_message = tables.Column(verbose_name="Error", default="—", orderable=False)
    actions = PaymentActionsColumn()

    class Meta(BaseTable.Meta):
        model = Payment
        fields = ()
        default_columns = ("customer", "status", "total_amount", "pricing_type", "payment_method",
                           "created_at", "actions")  # fmt: skip
        empty_text = "No payments match."

    def render_pricing_type(self, value, record):
        return record.get_pricing_type_display().replace(" price", "").capitalize()

    def value_pricing_type(self, value, record):
        return record.pricing_type

    def render_payment_method(self, record):
        method = record.payment_method
        if method is not None:
            label = format_html(
                '<i class="bi bi-credit-card"></i> {} •••• {}',
                method.card_network.title(),
                method.card_last_four,
            )
            if record.wallet_amount:
                return format_html('{} <span class="small text-body-secondary">+ wallet</span>', label)
            return label
        if record.wallet_amount and not record.gateway_amount:
            return mark_safe('<i class="bi bi-wallet2"></i> Wallet')
        return format_html('<span class="text-body-secondary">{}</span>', record.gateway)

    def value_payment_method(self, record):
        method = record.payment_method
        if method is not None:
            return f"{method.card_network} {method.card_last_four}"
        return "wallet" if record.wallet_amount and not record.gateway_amount else record.gateway

    def render_total_amount(self, value, record):
        amount = format_money(int(value), record.currency)
        refunded = payment_refund_summary(record).refunded
        if not refunded or self.columns["refunded"].visible:
            return amount
        return format_html(
            '{}<div class="small text-body-secondary">{} refunded</div>',
            amount,
            format_money(refunded, record.currency),
        )

    def value_total_amount(self, value, record):  # render_total_amount would otherwise be exported
        return minor_to_major(int(value), record.currency)

    def render_refunded(self, record):
        refunded = payment_refund_summary(record).refunded
        if not refunded:
            return mark_safe('<span class="text-body-tertiary">—</span>')
        return format_money(refunded, record.currency)

    def value_refunded(self, record):
        return minor_to_major(payment_refund_summary(record).refunded, record.currency)


@register_table
class CustomerPaymentTable(PaymentTable):
    """One customer's payments (the Transactions History tab)."""

    class Meta(PaymentTable.Meta):
        default_columns = ("status", "total_amount", "created_at", "pricing_type", "payment_method",
                           "actions")  # fmt: skip
        empty_text = "No payments yet. Purchases and billed subscription periods appear here."


class SubscriptionActionsColumn(PaymentActionsColumn):
    def render(self, record, table):
        request = getattr(table, "request", None)
        return render_to_string(
            "metering/billing/subscription_actions.html",
            {"subscription": record, "next": request.get_full_path() if request else ""},
            request=request,
        )


@register_table
class SubscriptionTable(BaseTable):
    """Every subscription of the business (the Subscriptions page)."""

    exempt_columns = ("id",)

    id = IdColumn(verbose_name="Subscription Id")
    customer = CustomerColumn(verbose_name="Customer")
    product = tables.Column(verbose_name="Product", accessor="product__name", order_by=("product__name",))
    status = StatusColumn(verbose_name="Status")
    period = tables.Column(
        verbose_name="Period → Next Billing (UTC)", empty_values=(), order_by=("previous_billing_date",)
    )
    next_billing_date = DateTimeColumn(verbose_name="Next Billing Date (UTC)")
    recurring_amount = MoneyColumn(verbose_name="Price per Period")
    quantity = tables.Column(verbose_name="Quantity", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    cancel_at_next_billing_date = tables.BooleanColumn(verbose_name="Cancels at Period End")
    created_at = DateTimeColumn(verbose_name="Created (UTC)")
    actions = SubscriptionActionsColumn()

    class Meta(BaseTable.Meta):
        model = Subscription
        fields = ()
        default_columns = ("customer", "product", "status", "period", "next_billing_date",
                           "recurring_amount", "actions")  # fmt: skip
        empty_text = "No subscriptions match."

    def render_product(self, value, record):
        return format_html(
            '{}<div class="small text-body-secondary">{}</div>',
            value,
            record.product.get_price_type_display(),
        )

    def value_product(self, value):
        return value

    def render_status(self, value, record):
        badge = status_badge(record.status)
        if record.needs_attention_at is not None:
            badge = format_html(
                '{} <span class="badge text-bg-danger" title="{}">needs attention</span>',
                badge,
                record.billing_error,
            )
        if record.cancel_at_next_billing_date and record.status not in ("cancelled", "expired"):
            return format_html(
                '{} <span class="badge text-bg-light border" title="Ends on the next billing date">'
                "cancels at period end</span>",
                badge,
            )
        return badge

    def render_period(self, record):
        return format_html(
            '<span class="text-nowrap">{}</span> → <span class="text-nowrap">{}</span>',
            f"{record.previous_billing_date:%Y-%m-%d}",
            f"{record.next_billing_date:%Y-%m-%d %H:%M}",
        )

    def value_period(self, record):
        return f"{record.previous_billing_date.isoformat()}/{record.next_billing_date.isoformat()}"


@register_table
class CustomerSubscriptionTable(SubscriptionTable):
    """One customer's subscriptions (the Active Subscriptions tab), with this period's usage."""

    usage = tables.Column(verbose_name="Usage This Period", empty_values=(), orderable=False)

    class Meta(SubscriptionTable.Meta):
        default_columns = ("product", "status", "period", "usage", "recurring_amount", "actions")  # fmt: skip
        empty_text = "No active subscriptions."

    usage_by_subscription: dict = {}

    def render_usage(self, record):
        meters = self.usage_by_subscription.get(record.id)
        if not meters:
            return mark_safe('<span class="text-body-tertiary">—</span>')
        return render_to_string("metering/billing/subscription_usage.html", {"meters": meters})

    def value_usage(self, record):
        meters = self.usage_by_subscription.get(record.id) or []
        return "; ".join(f"{meter.name}: {meter.consumed} {meter.unit}" for meter in meters)
