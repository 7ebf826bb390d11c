"""The report builder's form: its choices come from the dataset's declaration in
``customers.reports.datasets``; its filter fields are the dataset model's own FilterSet fields."""

import copy

from django import forms
from django.http import QueryDict

from customers.reports.datasets import Dataset
from customers.reports.periods import PERIODS, period_dates
from customers.reports.services import NAME_MAX_LENGTH
from dodo_billing.datetimes import validate_date
from dodo_billing.errors import ApplicationError
from metering.selectors.usage import meter_list

FILTER_PREFIX = "filter_"
# The fields that say "this request carries a definition" (the rest are optional).
DEFINITION_FIELDS = ("group_by", "period")


class ReportForm(forms.Form):
    """One dataset's report definition. ``definition()`` is the validated JSON document."""

    meter = forms.ChoiceField(label="Meter", required=False)
    group_by = forms.ChoiceField(label="Group by", required=False)
    aggregates = forms.MultipleChoiceField(
        label="Values", required=False, widget=forms.CheckboxSelectMultiple
    )
    columns = forms.MultipleChoiceField(label="Columns", required=False, widget=forms.CheckboxSelectMultiple)
    period = forms.ChoiceField(label="Period", choices=list(PERIODS.items()), initial="last_30_days")
    start = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_date],
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_date]
    )
    name = forms.CharField(label="Report name", required=False, max_length=NAME_MAX_LENGTH)

    def __init__(self, *args, dataset: Dataset, business, require_name: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.dataset = dataset
        self.business = business
        self.require_name = require_name
        fields = self.fields
        fields["group_by"].choices = [("", "No grouping (list rows)")] + [
            (grouping.name, grouping.label) for grouping in dataset.groupings
        ]
        fields["aggregates"].choices = [(a.name, a.label) for a in dataset.aggregates]
        fields["columns"].choices = [(c.name, c.label) for c in dataset.columns]
        if dataset.needs_meter:
            fields["meter"].choices = [("", "Choose a meter…")] + [
                (meter.id, f"{meter.name} ({meter.aggregation_type} of {meter.event_name})")
                for meter in meter_list(business=business)
            ]
            fields["meter"].required = True
        else:
            del fields["meter"]
        filterset = dataset.filterset_class()
        self.filter_names = []
        for name in dataset.filters:
            field = copy.deepcopy(filterset.form.fields[name])
            field.required = False
            field.label = field.label or name.replace("_", " ").capitalize()
            fields[FILTER_PREFIX + name] = field
            self.filter_names.append(FILTER_PREFIX + name)
        for field in fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
                widget.attrs["aria-invalid"] = "true"

    @property
    def filter_fields(self):
        return [self[name] for name in self.filter_names]

    def clean_name(self):
        name = " ".join((self.cleaned_data.get("name") or "").split())
        if self.require_name and not name:
            raise forms.ValidationError("Give the report a name.")
        return name

    def clean(self):
        data = super().clean()
        group_by = data.get("group_by")
        if group_by and not data.get("aggregates"):
            self.add_error("aggregates", "Choose at least one value to show per group.")
        if not group_by and not data.get("columns"):
            self.add_error("columns", "Choose at least one column.")
        if data.get("period") == "custom":
            if not data.get("start") and "start" not in self.errors:
                self.add_error("start", "Enter the first day of the period.")
            if not data.get("end") and "end" not in self.errors:
                self.add_error("end", "Enter the last day of the period.")
            if data.get("start") and data.get("end"):
                try:
                    period_dates(
                        {
                            "period": "custom",
                            "start": data["start"].isoformat(),
                            "end": data["end"].isoformat(),
                        }
                    )
                except ApplicationError as exc:
                    self.add_error("end", exc.message)
        filters = {name[len(FILTER_PREFIX) :]: self.data.get(name) for name in self.filter_names}
        filters = {name: value for name, value in filters.items() if value not in (None, "", "unknown")}
        if filters:
            filterset = self.dataset.filterset_class(data=filters)
            if not filterset.is_valid():
                for name, errors in filterset.errors.items():
                    if FILTER_PREFIX + name in self.fields:
                        self.add_error(FILTER_PREFIX + name, errors)
        data["raw_filters"] = filters
        return data

    def definition(self) -> dict:
        data = self.cleaned_data
        custom = data["period"] == "custom"
        return {
            "dataset": self.dataset.name,
            "columns": list(data.get("columns") or []),
            "filters": data["raw_filters"],
            "group_by": data.get("group_by") or "",
            "aggregates": list(data.get("aggregates") or []),
            "period": data["period"],
            "start": data["start"].isoformat() if custom and data.get("start") else None,
            "end": data["end"].isoformat() if custom and data.get("end") else None,
            "meter_id": data.get("meter") or None,
        }


def definition_to_data(definition: dict) -> QueryDict:
    """The form data (and query string) that stands for a saved definition."""
    data = QueryDict(mutable=True)
    data.setlist("columns", list(definition.get("columns") or []))
    data.setlist("aggregates", list(definition.get("aggregates") or []))
    data["group_by"] = definition.get("group_by") or ""
    data["period"] = definition.get("period") or "last_30_days"
    for key in ("start", "end"):
        if definition.get(key):
            data[key] = definition[key]
    if definition.get("meter_id"):
        data["meter"] = definition["meter_id"]
    for name, value in (definition.get("filters") or {}).items():
        data[FILTER_PREFIX + name] = value
    return data


def has_definition(data) -> bool:
    return any(name in data for name in DEFINITION_FIELDS)
