"""Dashboard pages of customers: the report builder.

* ``/reports/``: saved reports (a list page) and the datasets to start a new one from.
* ``/reports/new?dataset=payments``: build a report; the form runs it by GET (so a result has a
  URL and ``&export=csv`` downloads it) and "Save" POSTs it with a name.
* ``/reports/<id>/``: a saved report reopened with its definition; changes run by GET and are
  kept with "Save changes"; rename and delete are POSTs of their own.
"""

import django_tables2 as tables
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST
from django.views.generic import View

from customers.forms_reports import ReportForm, definition_to_data, has_definition
from customers.models import SavedReport
from customers.reports.datasets import DATASETS, dataset_get
from customers.reports.periods import PERIODS
from customers.reports.runner import report_export_rows, report_run
from customers.reports.selectors import SavedReportFilterSet, saved_report_get, saved_report_list
from customers.reports.services import (
    NAME_MAX_LENGTH,
    saved_report_create,
    saved_report_delete,
    saved_report_update,
)
from dodo_billing.errors import ApplicationError, NotFound
from dodo_billing.exports import csv_response
from dodo_billing.tables import BaseTable, DateTimeColumn
from dodo_billing.views import (
    BusinessViewMixin,
    ObjectListView,
    business_required,
    register_table,
)


@register_table
class SavedReportTable(BaseTable):
    exempt_columns = ("name",)

    name = tables.Column(verbose_name="Name", linkify=("customers:report-detail", [tables.A("pk")]))
    dataset = tables.Column(verbose_name="Dataset")
    created_by = tables.Column(verbose_name="Created by", accessor="created_by__username", default="—")
    created_at = DateTimeColumn(verbose_name="Created at (UTC)")
    updated_at = DateTimeColumn(verbose_name="Updated at (UTC)")

    class Meta(BaseTable.Meta):
        model = SavedReport
        fields = ("name", "dataset", "created_by", "created_at", "updated_at")
        default_columns = ("dataset", "created_by", "created_at", "updated_at")
        empty_text = "No saved reports yet: build one from a dataset above."

    def render_dataset(self, value):
        return DATASETS[value].label if value in DATASETS else value

    def value_dataset(self, value):
        return self.render_dataset(value)


class ReportListView(ObjectListView):
    template_name = "customers/reports/report_list.html"
    table_class = SavedReportTable
    filterset_class = SavedReportFilterSet
    title = "Reports"
    export_filename = "reports.csv"

    def get_queryset(self):
        return saved_report_list(business=self.business)

    def extra_context_data(self):
        return {"datasets": DATASETS.values()}


def _page(request) -> int:
    value = request.GET.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1


def _render_builder(request, business, form, *, report=None, status=200):
    """Run the form's definition if it is valid, and render the builder page."""
    result, run_error, definition = None, None, None
    if form.is_bound and set(form.errors) <= {"name"}:  # a bad name still shows the result
        definition = form.definition()
        try:
            result = report_run(business=business, definition=definition, page=_page(request))
        except ApplicationError as exc:
            run_error = exc.message
    data = definition_to_data(definition) if definition else None
    query = urlencode(data, doseq=True) if data is not None else ""
    hidden = [(key, value) for key, values in data.lists() for value in values] if data is not None else []
    context = {
        "form": form,
        "dataset": form.dataset,
        "datasets": DATASETS.values(),
        "report": report,
        "result": result,
        "run_error": run_error,
        "query": query,
        "hidden_definition": hidden,
        "periods": PERIODS,
        "name_max_length": NAME_MAX_LENGTH,
        "title": report.name if report else f"New {form.dataset.label.lower()} report",
    }
    return render(request, "customers/reports/report_builder.html", context, status=status)


def _export(request, business, form, filename):
    if not form.is_valid():
        messages.error(request, "Fix the report's definition before exporting it.")
        return None
    try:
        rows = list(report_export_rows(business=business, definition=form.definition()))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return None
    return csv_response(rows, filename)


class ReportBuildView(BusinessViewMixin, View):
    """Pick a dataset, set the definition, run it; "Save" stores it by name."""

    def get(self, request):
        name = request.GET.get("dataset")
        if not name:
            return render(request, "customers/reports/report_choose.html", {"datasets": DATASETS.values()})
        if name not in DATASETS:
            raise Http404("Unknown dataset")
        dataset = DATASETS[name]
        data = (
            request.GET if has_definition(request.GET) else definition_to_data(dataset.default_definition())
        )
        form = ReportForm(data, dataset=dataset, business=self.business)
        if request.GET.get("export") == "csv":
            response = _export(request, self.business, form, f"{dataset.name}-report.csv")
            if response is not None:
                return response
        return _render_builder(request, self.business, form)

    def post(self, request):
        try:
            dataset = dataset_get(request.GET.get("dataset") or request.POST.get("dataset") or "")
        except ApplicationError:
            raise Http404("Unknown dataset") from None
        form = ReportForm(request.POST, dataset=dataset, business=self.business, require_name=True)
        if form.is_valid():
            try:
                report = saved_report_create(
                    business=self.business,
                    name=form.cleaned_data["name"],
                    definition=form.definition(),
                    user=request.user,
                )
            except ApplicationError as exc:
                form.add_error("name", exc.message)
            else:
                messages.success(request, f"Report “{report.name}” saved.")
                return redirect("customers:report-detail", report_id=report.pk)
        messages.error(request, "The report was not saved: fix the errors below.")
        return _render_builder(request, self.business, form, status=400)


def _report_or_404(business, report_id) -> SavedReport:
    try:
        return saved_report_get(business=business, report_id=report_id)
    except NotFound:
        raise Http404("Report not found") from None


class ReportDetailView(BusinessViewMixin, View):
    """A saved report, run with its definition (or with changes made in the form)."""

    def get(self, request, report_id):
        report = _report_or_404(self.business, report_id)
        dataset = DATASETS.get(report.dataset)
        if dataset is None:
            raise Http404("Unknown dataset")
        data = request.GET if has_definition(request.GET) else definition_to_data(report.definition)
        data = data.copy()
        data["name"] = report.name
        form = ReportForm(data, dataset=dataset, business=self.business)
        if request.GET.get("export") == "csv":
            response = _export(request, self.business, form, f"{_slug(report.name)}.csv")
            if response is not None:
                return response
        return _render_builder(request, self.business, form, report=report)

    def post(self, request, report_id):
        report = _report_or_404(self.business, report_id)
        dataset = DATASETS[report.dataset]
        form = ReportForm(request.POST, dataset=dataset, business=self.business, require_name=True)
        if form.is_valid():
            try:
                saved_report_update(
                    report=report, name=form.cleaned_data["name"], definition=form.definition()
                )
            except ApplicationError as exc:
                form.add_error("name", exc.message)
            else:
                messages.success(request, f"Report “{report.name}” saved.")
                return redirect("customers:report-detail", report_id=report.pk)
        report.refresh_from_db()
        messages.error(request, "The changes were not saved: fix the errors below.")
        return _render_builder(request, self.business, form, report=report, status=400)


def _slug(name: str) -> str:
    slug = "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-")
    return "-".join(part for part in slug.split("-") if part) or "report"


@require_POST
@business_required
def report_rename(request, business, report_id):
    report = _report_or_404(business, report_id)
    try:
        saved_report_update(report=report, name=request.POST.get("name", ""))
    except ApplicationError as exc:
        messages.error(request, f"The report was not renamed: {exc.message}")
    else:
        messages.success(request, f"Report renamed to “{report.name}”.")
    return redirect("customers:report-detail", report_id=report.pk)


@require_POST
@business_required
def report_delete(request, business, report_id):
    report = _report_or_404(business, report_id)
    name = report.name
    saved_report_delete(report=report)
    messages.success(request, f"Report “{name}” deleted.")
    return redirect(reverse("customers:report-list"))


urlpatterns = [
    path("reports/", ReportListView.as_view(), name="report-list"),
    path("reports/new", ReportBuildView.as_view(), name="report-build"),
    path("reports/<str:report_id>/", ReportDetailView.as_view(), name="report-detail"),
    path("reports/<str:report_id>/rename", report_rename, name="report-rename"),
    path("reports/<str:report_id>/delete", report_delete, name="report-delete"),
]
