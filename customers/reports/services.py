"""Writes of saved reports: save a definition under a name unique in the business (case-insensitive),
rename it or replace its definition, delete it. A definition is checked before it is saved: its
dataset exists and its period can run.
"""

from django.db import IntegrityError, transaction

from customers.models import SavedReport
from customers.reports.datasets import dataset_get
from customers.reports.periods import period_dates
from dodo_billing.errors import Conflict, InvalidRequestParameters

NAME_MAX_LENGTH = 100


def _clean_name(business, name: str, exclude_id=None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidRequestParameters("Give the report a name.")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidRequestParameters(f"A report name has at most {NAME_MAX_LENGTH} characters.")
    if "\x00" in name:  # PostgreSQL cannot compare text holding NUL
        raise InvalidRequestParameters("A report name cannot hold a NUL character.")
    taken = SavedReport.objects.filter(business=business, name__iexact=name).exclude(pk=exclude_id)
    if taken.exists():
        raise Conflict(f"A report named {name!r} already exists.")
    return name


def _check_definition(definition: dict) -> dict:
    if not isinstance(definition, dict):
        raise InvalidRequestParameters("A report definition is a JSON object.")
    dataset_get(definition.get("dataset", ""))
    period_dates(definition)  # a period that cannot run (e.g. ending 9999-12-31) is not saved
    return definition


def saved_report_create(*, business, name: str, definition: dict, user=None) -> SavedReport:
    definition = _check_definition(definition)
    with transaction.atomic():
        name = _clean_name(business, name)
        try:
            with transaction.atomic():
                return SavedReport.objects.create(
                    business=business,
                    name=name,
                    dataset=definition["dataset"],
                    definition=definition,
                    created_by=user if user is not None and user.is_authenticated else None,
                )
        except IntegrityError as exc:  # a concurrent save took the name
            raise Conflict(f"A report named {name!r} already exists.") from exc


def saved_report_update(
    *, report: SavedReport, name: str | None = None, definition: dict | None = None
) -> SavedReport:
    """Rename a report and/or replace its definition."""
    with transaction.atomic():
        if name is not None:
            report.name = _clean_name(report.business_id, name, exclude_id=report.pk)
        if definition is not None:
            report.definition = _check_definition(definition)
            report.dataset = definition["dataset"]
        try:
            with transaction.atomic():
                report.save()
        except IntegrityError as exc:
            raise Conflict(f"A report named {report.name!r} already exists.") from exc
    return report


def saved_report_delete(*, report: SavedReport) -> None:
    with transaction.atomic():
        report.delete()
