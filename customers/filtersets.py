import django_filters

from customers.models import Customer
from dodo_billing.filtersets import BaseFilterSet


class CustomerFilterSet(BaseFilterSet):
    email = django_filters.CharFilter(
        field_name="email", lookup_expr="iexact", help_text="Exact email, case-insensitive."
    )
    name = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", help_text="Part of the name, case-insensitive."
    )
    created_at_gte = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_at_lte = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Customer
        fields = ["email", "name", "created_at_gte", "created_at_lte"]
