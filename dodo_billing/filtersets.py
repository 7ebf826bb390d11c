"""Shared FilterSet base: one FilterSet per model serves the API, the dashboard and the portal."""

from datetime import UTC, datetime

import django_filters
from django import forms

from dodo_billing.errors import InvalidQueryParams
from dodo_billing.validation import nul_parameters


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

    def filter_queryset(self, queryset):
        # ISO 8601 allows offsets PostgreSQL cannot store (e.g. -23:09): compare in UTC instead.
        for name, value in list(self.form.cleaned_data.items()):
            if isinstance(value, datetime) and value.tzinfo is not None:
                self.form.cleaned_data[name] = value.astimezone(UTC)
        return super().filter_queryset(queryset)

    def filter_or_raise(self):
        """The filtered queryset, or InvalidQueryParams naming every bad parameter."""
        if not self.is_valid():
            messages = [f"{name}: {' '.join(errors)}" for name, errors in self.errors.items()]
            raise InvalidQueryParams("; ".join(messages), extra={"errors": dict(self.errors)})
        return self.qs


def apply_filters(filterset_class, data, queryset):
    return filterset_class(data=data, queryset=queryset).filter_or_raise()
