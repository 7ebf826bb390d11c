"""Dashboard forms of metering: meters (create, edit) and the usage chart's period.

The forms only parse what the browser sends (text to JSON, empty to None); every rule about a
meter is the service's (``meter_create`` / ``meter_update``), the same as for the API. A service
error is put back on the form next to the field it names (``add_service_error``)."""

from django import forms

from dodo_billing.errors import ApplicationError
from dodo_billing.json_input import JSONRejected, load_json
from metering.models import Aggregation
from metering.selectors.dashboard import USAGE_PERIODS

# Where a service error's path points on the form ("aggregation.key" → aggregation_key).
ERROR_FIELDS = {"aggregation.key": "aggregation_key", "aggregation.type": "aggregation_type"}


def _field_for(path: str, fields) -> str | None:
    if path in ERROR_FIELDS:
        return ERROR_FIELDS[path]
    if path == "filter" or path.startswith("filter.") or path.startswith("filter["):
        return "filter"
    return path if path in fields else None


class ServiceErrorsMixin:
    """Bootstrap classes on the widgets (``is-invalid`` on fields with errors), and service
    errors shown next to the fields they name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            base = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs["class"] = f"{base} {field.widget.attrs.get('class', '')}".strip()
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"id_{name}_help"

    def full_clean(self):
        super().full_clean()
        self._mark_invalid()

    def _mark_invalid(self):
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs["class"]:
                    widget.attrs["class"] += " is-invalid"

    def add_service_error(self, exc: ApplicationError) -> None:
        """Show a service's error next to the fields it names (else above the form)."""
        errors = exc.extra.get("errors") if isinstance(exc.extra, dict) else None
        placed = False
        if isinstance(errors, dict):
            for path, messages in errors.items():
                field = _field_for(path, self.fields)
                if field is None:
                    continue
                detail = exc.message if path.startswith("filter") or len(errors) == 1 else " ".join(messages)
                if field in self.errors and detail in self.errors[field]:
                    continue
                self.add_error(field, detail)
                placed = True
        if not placed:
            self.add_error(None, exc.message)
        self._mark_invalid()


class MeterCreateForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=255, help_text="Shown on invoices, e.g. “API calls”.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    event_name = forms.CharField(
        max_length=255, help_text="The meter counts events with exactly this name, e.g. api.call."
    )
    measurement_unit = forms.CharField(max_length=100, help_text="e.g. calls, tokens, GB.")
    aggregation_type = forms.ChoiceField(
        label="Aggregation",
        choices=[
            (Aggregation.COUNT, "Count events"),
            (Aggregation.SUM, "Sum of a metadata value"),
            (Aggregation.MAX, "Maximum of a metadata value"),
            (Aggregation.LAST, "Last value of a metadata key"),
        ],
    )
    aggregation_key = forms.CharField(
        label="Metadata key",
        required=False,
        max_length=100,
        help_text="The numeric metadata value to sum, take the maximum or the last of. Not used by count.",
    )
    filter = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "font-monospace", "spellcheck": "false"}),
        help_text='Optional. JSON: {"conjunction": "and", "clauses": [{"key": "region", "operator": '
        '"equals", "value": "eu"}]}. Clauses are all conditions or all groups; groups nest 3 levels.',
    )

    def clean_description(self):
        return self.cleaned_data["description"] or None

    def clean_filter(self):
        text = (self.cleaned_data.get("filter") or "").strip()
        if not text or text == "null":
            return None
        try:
            return load_json(text)
        except JSONRejected as exc:
            raise forms.ValidationError(f"The filter is refused: {exc.message}") from None
        except ValueError as exc:
            raise forms.ValidationError(f"The filter is not valid JSON: {exc}.") from exc

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        aggregation = {"type": data["aggregation_type"]}
        if data["aggregation_type"] != Aggregation.COUNT:
            aggregation["key"] = data["aggregation_key"] or None
        return {
            "name": data["name"],
            "description": data["description"],
            "event_name": data["event_name"],
            "measurement_unit": data["measurement_unit"],
            "aggregation": aggregation,
            "filter": data["filter"],
        }


class MeterEditForm(ServiceErrorsMixin, forms.Form):
    """What may change once a meter exists (the service's rule): its name, description and unit."""

    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    measurement_unit = forms.CharField(max_length=100)

    def clean_description(self):
        return self.cleaned_data["description"] or None


class MeterUsageForm(ServiceErrorsMixin, forms.Form):
    """The usage chart's period and bucket size (GET parameters of the meter page)."""

    period = forms.ChoiceField(
        choices=[(key, value[1]) for key, value in USAGE_PERIODS.items()], initial="7d"
    )
    granularity = forms.ChoiceField(choices=[("hour", "Hourly"), ("day", "Daily")], initial="day")

    def clean(self):
        data = super().clean()
        period, granularity = data.get("period"), data.get("granularity")
        if period and granularity and granularity not in USAGE_PERIODS[period][2]:
            allowed = " or ".join(
                "hourly" if value == "hour" else "daily" for value in USAGE_PERIODS[period][2]
            )
            self.add_error("granularity", f"{USAGE_PERIODS[period][1]} can be shown {allowed} only.")
        return data
