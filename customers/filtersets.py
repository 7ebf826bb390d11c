"""The one FilterSet of customers, shared by the API (``GET /api/customers``) and the dashboard's
customer list.

``q`` searches a fragment of the name or the email (any case) or an exact customer id. On
PostgreSQL the fragment match is written as ``ILIKE`` so that the trigram GIN indexes of
``customers/migrations/0002`` serve it; elsewhere it is Django's ``icontains``.
"""

import django_filters
from django import forms
from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.lookups import Lookup

from customers.models import Customer
from dodo_billing.filtersets import BaseFilterSet, DateTimeFilter
from wallets.models import Wallet


class _ILike(Lookup):
    """``lhs ILIKE rhs`` (PostgreSQL); used directly as a filter expression, not registered."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


def _like_pattern(fragment: str) -> str:
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def customer_search_q(fragment: str) -> Q:
    """Name or email containing ``fragment`` (any case), or the customer id equal to it."""
    fragment = fragment.strip()
    if connection.vendor == "postgresql":
        pattern = Value(_like_pattern(fragment))
        return Q(_ILike(F("name"), pattern)) | Q(_ILike(F("email"), pattern)) | Q(id=fragment)
    return Q(name__icontains=fragment) | Q(email__icontains=fragment) | Q(id=fragment)


def _currency_choices() -> list[tuple[str, str]]:
    return [(currency, currency) for currency in settings.WALLET_CURRENCIES]


def _input(**attrs):
    return forms.TextInput(attrs={"class": "form-control", **attrs})


def _datetime_input():
    return forms.DateTimeInput(attrs={"class": "form-control", "type": "datetime-local"})


class CustomerFilterSet(BaseFilterSet):
    q = django_filters.CharFilter(
        method="filter_q",
        label="Search",
        help_text="Part of the name or email (any case), or an exact customer id.",
        widget=_input(placeholder="Search by name, email or customer id"),
    )
    email = django_filters.CharFilter(
        field_name="email",
        lookup_expr="iexact",
        label="Email (exact)",
        help_text="Exact email, case-insensitive.",
        widget=_input(type="email"),
    )
    name = django_filters.CharFilter(
        field_name="name",
        lookup_expr="icontains",
        label="Name contains",
        help_text="Part of the name, case-insensitive.",
        widget=_input(),
    )
    created_at_gte = DateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        label="Created from (UTC)",
        help_text="Created at or after this instant.",
        widget=_datetime_input(),
    )
    created_at_lte = DateTimeFilter(
        field_name="created_at",
        lookup_expr="lte",
        label="Created until (UTC)",
        help_text="Created at or before this instant.",
        widget=_datetime_input(),
    )
    has_balance = django_filters.BooleanFilter(
        method="filter_has_balance",
        label="Wallet balance",
        help_text="true: some wallet (or the wallet in `currency`) holds money; false: none does.",
        widget=forms.Select(
            choices=[("", "Any"), ("true", "Has a balance"), ("false", "No balance")],
            attrs={"class": "form-select"},
        ),
    )
    currency = django_filters.ChoiceFilter(
        method="filter_currency",
        label="Balance in currency",
        choices=_currency_choices(),
        empty_label="Any currency",
        help_text="Customers holding money in this currency (with has_balance=false: holding none).",
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    class Meta:
        model = Customer
        fields = ["q", "email", "name", "created_at_gte", "created_at_lte", "has_balance", "currency"]

    def filter_q(self, queryset, name, value):
        if not value or not value.strip():
            return queryset
        return queryset.filter(customer_search_q(value))

    def _funded_wallets(self, currency=None):
        wallets = Wallet.objects.filter(customer=OuterRef("pk"), balance__gt=0)
        return wallets.filter(currency=currency) if currency else wallets

    def filter_has_balance(self, queryset, name, value):
        if value is None:
            return queryset
        funded = Exists(self._funded_wallets(self.form.cleaned_data.get("currency") or None))
        return queryset.filter(funded if value else ~funded)

    def filter_currency(self, queryset, name, value):
        if not value or self.form.cleaned_data.get("has_balance") is not None:
            return queryset  # combined with has_balance, which applies it
        return queryset.filter(Exists(self._funded_wallets(value)))
