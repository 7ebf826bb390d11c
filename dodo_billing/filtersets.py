"""Shared FilterSet base: one FilterSet per model serves the API, the dashboard and the portal."""

from datetime import datetime

import django_filters
from django import forms

from dodo_billing.datetimes import parse_datetime_utc, to_utc
from dodo_billing.errors import InvalidQueryParams
from dodo_billing.validation import nul_parameters


class DateTimeField(forms.DateTimeField):
    """An ISO 8601 datetime, returned in UTC; out of ``dodo_billing.datetimes``' range (or
    unreadable) it is a form error, shown beside the field or as ``INVALID_QUERY_PARAMS``."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return to_utc(value) if isinstance(value, datetime) else parse_datetime_utc(str(value))
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    """The filter of every datetime parameter (``created_at_gte``, ``start``, …)."""

    field_class = DateTimeField


class BaseFilterSet(django_filters.FilterSet):
    def get_form_class(self):
        base = super().get_form_class()

        class FilterForm(base):
            def clean(self):
                # PostgreSQL cannot hold NUL in text: refuse it as a bad parameter, not a 500.
                cleaned = super().clean()
                for key in nul_parameters(self.data):
                    message = "NUL characters are not allowed."
                    if key in self.fields:
                        self.add_error(key, message)
                    else:
                        raise forms.ValidationError(f"{key}: {message}")
                return cleaned

        return FilterForm

    def filter_or_raise(self):
        """The filtered queryset, or InvalidQueryParams naming every bad parameter."""
        if not self.is_valid():
            messages = [f"{name}: {' '.join(errors)}" for name, errors in self.errors.items()]
            raise InvalidQueryParams("; ".join(messages), extra={"errors": dict(self.errors)})
        return self.qs


def apply_filters(filterset_class, data, queryset):
    return filterset_class(data=data, queryset=queryset).filter_or_raise()
