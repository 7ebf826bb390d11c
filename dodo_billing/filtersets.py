"""Shared FilterSet base: one FilterSet per model serves the API, the dashboard and the portal."""

import django_filters

from dodo_billing.errors import InvalidQueryParams


class BaseFilterSet(django_filters.FilterSet):
    def filter_or_raise(self):
        """The filtered queryset, or InvalidQueryParams naming every bad parameter."""
        if not self.is_valid():
            messages = [f"{name}: {' '.join(errors)}" for name, errors in self.errors.items()]
            raise InvalidQueryParams("; ".join(messages), extra={"errors": dict(self.errors)})
        return self.qs


def apply_filters(filterset_class, data, queryset):
    return filterset_class(data=data, queryset=queryset).filter_or_raise()
