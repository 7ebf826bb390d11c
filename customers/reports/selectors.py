"""Reads of saved reports: the list (with its FilterSet) and one report of the business."""

import django_filters

from customers.models import SavedReport
from customers.reports.datasets import DATASETS
from dodo_billing.errors import NotFound
from dodo_billing.filtersets import BaseFilterSet


class SavedReportFilterSet(BaseFilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    dataset = django_filters.ChoiceFilter(choices=[(d.name, d.label) for d in DATASETS.values()])

    class Meta:
        model = SavedReport
        fields = ["q", "dataset"]


def saved_report_list(*, business):
    return SavedReport.objects.filter(business=business).select_related("created_by").order_by("name", "id")


def saved_report_get(*, business, report_id) -> SavedReport:
    """The business's saved report, or NOT_FOUND (also for another business's report)."""
    report = (
        SavedReport.objects.filter(business=business, pk=report_id).first()
        if str(report_id).isdigit()
        else None
    )
    if report is None:
        raise NotFound("Report not found", extra={"report_id": str(report_id)})
    return report
