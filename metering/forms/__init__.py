from django import forms

from dodo_billing.errors import ApplicationError
from metering.meter_filters import validate_meter_filter
from metering.models import Aggregation, Meter
from metering.services import validate_aggregation


class MeterAdminForm(forms.ModelForm):
    """Checks a new meter's aggregation and filter with the same rules as the API."""

    class Meta:
        model = Meter
        fields = ["business", "name", "description", "event_name", "measurement_unit", "aggregation_type",
                  "aggregation_key", "filter"]  # fmt: skip

    def clean(self):
        data = super().clean()
        if not self.instance._state.adding:
            return data  # what a meter counts never changes once created
        try:
            validate_aggregation(
                {"type": data.get("aggregation_type"), "key": data.get("aggregation_key") or None}
            )
        except ApplicationError as exc:
            self.add_error("aggregation_key", exc.message)
        if data.get("aggregation_type") == Aggregation.COUNT:
            data["aggregation_key"] = None
        try:
            data["filter"] = validate_meter_filter(data.get("filter"))
        except ApplicationError as exc:
            self.add_error("filter", exc.message)
        return data
