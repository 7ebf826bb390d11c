"""Dashboard tables of the customers app."""

import json

import django_tables2 as tables
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat
from django.utils.html import format_html, format_html_join
from django.utils.timezone import template_localtime

from customers.avatars import avatar_html
from customers.models import Customer
from customers.selectors import balance_annotation
from dodo_billing.money import format_money, minor_to_major
from dodo_billing.selectors import user_preference_get
from dodo_billing.tables import BaseTable, DateTimeColumn, IdColumn
from dodo_billing.views import register_table


class CustomerNameColumn(tables.Column):
    """The name with the customer's initials avatar, linking to the detail page."""

    def render(self, value, record):
        return format_html(
            '<a class="d-inline-flex align-items-center gap-2" href="{}">{}<span>{}</span></a>',
            reverse("customers:detail", args=[record.id]),
            avatar_html(value, record.id),
            value,
        )

    def value(self, value):
        return value


class CreatedAtColumn(DateTimeColumn):
    """DateTimeColumn formatted in Python: the same text without compiling a template per cell."""

    FORMAT = "Y-m-d H:i"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("format", self.FORMAT)
        self.date_format = kwargs["format"]
        super().__init__(*args, **kwargs)

    def render(self, value):
        return dateformat.format(template_localtime(value), self.date_format)


class BalanceColumn(tables.Column):
    """A wallet balance (annotated by the selector) in a fixed currency."""

    def __init__(self, currency: str, **kwargs):
        self.currency = currency
        kwargs.setdefault("attrs", {"td": {"class": "text-end text-nowrap"}, "th": {"class": "text-end"}})
        super().__init__(accessor=balance_annotation(currency), verbose_name=f"Balance {currency}", **kwargs)

    def render(self, value):
        return format_money(int(value), self.currency)

    def value(self, value):  # a number of major units; the header names the currency
        return minor_to_major(int(value), self.currency) if value is not None else None


class MetadataColumn(tables.Column):
    def render(self, value):
        if not value:
            return "—"
        return format_html_join(
            " ",
            '<span class="badge text-bg-light border fw-normal">'
            '<span class="text-body-secondary">{}</span> {}</span>',
            ((key, item) for key, item in value.items()),
        )

    def value(self, value):
        return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else ""


class InviteColumn(tables.Column):
    """Emails the customer a customer-portal link (the portal's invite action, after a confirmation)."""

    def __init__(self, **kwargs):
        super().__init__(
            empty_values=(), orderable=False, exclude_from_export=True, verbose_name="Invite", **kwargs
        )

    def render(self, record, table):
        request = getattr(table, "request", None)
        return render_to_string(
            "customers/includes/invite_button.html", {"customer": record, "small": True}, request=request
        )


def _balance_columns() -> dict[str, BalanceColumn]:
    return {
        balance_annotation(currency): BalanceColumn(currency, default="—")
        for currency in settings.WALLET_CURRENCIES
    }


@register_table
class CustomerTable(BaseTable):
    exempt_columns = ("name",)

    name = CustomerNameColumn(verbose_name="Customer Name")
    id = IdColumn(verbose_name="Customer Id")
    email = tables.Column(verbose_name="Email")
    phone_number = tables.Column(verbose_name="Phone Number", default="—")
    created_at = CreatedAtColumn(verbose_name="Created At (UTC)")
    invite = InviteColumn()
    metadata = MetadataColumn(verbose_name="Metadata", orderable=False)
    active_subscriptions = tables.Column(
        verbose_name="Active Subscriptions", attrs={"td": {"class": "num"}, "th": {"class": "num"}}
    )

    class Meta(BaseTable.Meta):
        model = Customer
        fields = ()
        default_columns = ("id", "email", "phone_number", "created_at", "invite")
        empty_text = "No customers match. Clear the search or filters, or add a customer."

    @classmethod
    def selected_for(cls, user) -> list[str]:
        """The columns ``user`` sees (their saved choice, else the defaults); the selector
        computes optional columns only when they are shown."""
        saved = user_preference_get(user=user, path=cls.preference_path("columns"))
        return list(saved or cls.Meta.default_columns)


# One balance column per wallet currency (settings.WALLET_CURRENCIES), after the declared ones, so
# that "Edit columns" can offer and save them.
CustomerTable.base_columns.update(_balance_columns())
