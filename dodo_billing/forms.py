"""Form fields shared by the dashboard and admin."""

from django import forms
from django.db import models
from django.forms.fields import InvalidJSONInput, JSONString

from dodo_billing.json_input import JSONRejected, load_json


class JSONField(forms.JSONField):
    """Django's JSON form field under ``dodo_billing.json_input``'s rules: JSON nested deeper
    than 32 levels (which exhausted the stack) and lone surrogates (which the database cannot
    store) are form errors, as are NaN and Infinity."""

    def to_python(self, value):
        if self.disabled or not isinstance(value, str) or value in self.empty_values:
            return super().to_python(value)
        try:
            converted = load_json(value)
        except JSONRejected as exc:
            raise forms.ValidationError(exc.message, code="invalid") from None
        except ValueError:
            raise forms.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data, initial):
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return load_json(data)
        except (JSONRejected, ValueError):
            return InvalidJSONInput(data)


def admin_reads_json_safely(site) -> None:
    """Every model admin of ``site`` edits JSON model fields with ``JSONField`` (called once the
    admin modules have registered their models)."""
    for model_admin in site._registry.values():
        model_admin.formfield_overrides.setdefault(models.JSONField, {})["form_class"] = JSONField
