"""Dashboard tables of wallets: a customer's ledger entries."""

import django_tables2 as tables
from django.utils.html import format_html

from dodo_billing.money import format_money, minor_to_major
from dodo_billing.tables import BaseTable, DateTimeColumn, IdColumn, MoneyColumn
from dodo_billing.views import register_table
from wallets.models import LedgerEntry


class SignedAmountColumn(MoneyColumn):
    """A credit as ``+$5.00`` in green, a debit as ``−$5.00`` in red; exported as ``5.00`` / ``-5.00``."""

    def render(self, value, record):
        sign = "+" if record.is_credit else "−"
        css = "amount-credit" if record.is_credit else "amount-debit"
        return format_html(
            '<span class="{}">{}{}</span>', css, sign, format_money(int(value), record.currency)
        )

    def value(self, value, record):
        amount = minor_to_major(int(value), record.currency)
        return amount if record.is_credit else -amount


@register_table
class LedgerEntryTable(BaseTable):
    id = IdColumn(verbose_name="Entry Id")
    created_at = DateTimeColumn(verbose_name="Date (UTC)")
    direction = tables.Column(verbose_name="Type", accessor="is_credit")
    event_type = tables.Column(verbose_name="Reason Type")
    amount = SignedAmountColumn(verbose_name="Amount")
    before_balance = MoneyColumn(verbose_name="Balance Before")
    after_balance = MoneyColumn(verbose_name="Balance After")
    currency = tables.Column(verbose_name="Currency")
    reason = tables.Column(verbose_name="Reason", default="—", orderable=False)
    reference_object_id = tables.Column(verbose_name="Reference", default="—")
    seq = tables.Column(verbose_name="Seq", attrs={"td": {"class": "num"}, "th": {"class": "num"}})

    class Meta(BaseTable.Meta):
        model = LedgerEntry
        fields = ()
        default_columns = (
            "created_at",
            "direction",
            "event_type",
            "amount",
            "before_balance",
            "after_balance",
            "reason",
            "id",
        )
        empty_text = "No ledger entries yet: add credits with the form above."

    def render_direction(self, value):
        label, css = ("credit", "badge-credit") if value else ("debit", "badge-debit")
        return format_html('<span class="badge {}">{}</span>', css, label)

    def value_direction(self, value):
        return "credit" if value else "debit"

    def render_event_type(self, value, record):
        return record.get_event_type_display()
