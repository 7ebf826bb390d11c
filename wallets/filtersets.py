import django_filters

from dodo_billing.filtersets import BaseFilterSet, DateTimeFilter
from dodo_billing.money import CURRENCY_CHOICES
from wallets.models import EventType, LedgerEntry


class LedgerEntryFilterSet(BaseFilterSet):
    currency = django_filters.ChoiceFilter(choices=CURRENCY_CHOICES, help_text="Only this wallet's entries.")
    event_type = django_filters.ChoiceFilter(choices=EventType.choices)
    is_credit = django_filters.BooleanFilter()
    created_at_gte = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_at_lte = DateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = LedgerEntry
        fields = ["currency", "event_type", "is_credit", "created_at_gte", "created_at_lte"]
