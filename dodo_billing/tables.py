"""Base table of the dashboard (django-tables2), shared by every list page.

Every table declares all of its columns and, in ``Meta.default_columns``, the ones shown until a
user chooses otherwise. The user's choice (which columns, in which order, and rows per page) is
remembered per table in their ``UserPreference`` ("Edit columns" on every list page).
"""

import django_tables2 as tables
from django.utils.html import format_html

from dodo_billing.money import format_money, minor_to_major

PER_PAGE_CHOICES = (25, 50, 100, 250)
DEFAULT_PER_PAGE = 50


class BaseTable(tables.Table):
    """A table whose visible columns and their order follow the user's saved preference.

    ``exempt_columns`` are always shown first and cannot be hidden (the object's name, say);
    columns with ``exclude_from_export`` (actions) are left out of CSV exports.
    """

    exempt_columns: tuple[str, ...] = ()

    class Meta:
        attrs = {"class": "table table-hover align-middle mb-0"}
        template_name = "includes/table.html"
        default_columns: tuple[str, ...] = ()
        empty_text = "Nothing here yet."

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        from dodo_billing.selectors import user_preference_get

        saved = user_preference_get(user=user, path=self.preference_path("columns")) if user else None
        self.set_columns(saved or self.default_columns)

    @property
    def prefixed_per_page_field(self):
        # Rows per page reach the table validated by ObjectListView.get_per_page(); django-tables2's
        # RequestConfig would otherwise take any raw ?per_page= (say 1000000) as given.
        return None

    @property
    def name(self) -> str:
        return type(self).__name__

    @classmethod
    def preference_path(cls, key: str) -> str:
        return f"tables.{cls.__name__}.{key}"

    @property
    def default_columns(self) -> list[str]:
        # django-tables2's TableOptions does not keep unknown Meta attributes: read the class's Meta.
        declared = getattr(getattr(type(self), "Meta", None), "default_columns", None)
        return (
            list(declared)
            if declared
            else [name for name in self.base_columns if name not in self.exempt_columns]
        )

    @property
    def configurable_columns(self) -> list[tuple[str, str]]:
        """(name, header) of every column the user may show or hide, in declaration order."""
        return [
            (name, str(column.header or name))
            for name, column in self.columns.items()
            if name not in self.exempt_columns
        ]

    def set_columns(self, names) -> None:
        """Show exactly the exempt columns plus ``names`` (in that order); unknown names are
        ignored, so a preference saved before a column was removed still works."""
        known = {name for name, _ in self.configurable_columns}
        selected = [name for name in dict.fromkeys(names) if name in known]
        if not selected:
            selected = [name for name in self.default_columns if name in known]
        for name in known:
            if name in selected:
                self.columns.show(name)
            else:
                self.columns.hide(name)
        self.selected_columns = selected
        self.sequence = [*self.exempt_columns, *selected, "..."]

    @property
    def hidden_columns(self) -> list[tuple[str, str]]:
        selected = set(self.selected_columns)
        return [(name, header) for name, header in self.configurable_columns if name not in selected]

    @property
    def shown_columns(self) -> list[tuple[str, str]]:
        headers = dict(self.configurable_columns)
        return [(name, headers[name]) for name in self.selected_columns]

    def export_rows(self):
        """Header and rows of the visible columns (values, not HTML), for CSV export.

        Money exports as a number of major units (``56.20``); a table whose money columns take
        their currency from a column that is not exported gets that column ("Currency") after the
        first of them, so every amount has its currency beside it."""
        columns = [
            bound
            for bound in self.columns.iterall()
            if bound.visible and not bound.column.exclude_from_export
        ]
        exported = {bound.name for bound in columns}
        currency_after: dict[str, str] = {}  # money column name → currency accessor to add after it
        for bound in columns:
            accessor = getattr(bound.column, "currency_accessor", None)
            if accessor and accessor not in exported and accessor not in currency_after.values():
                currency_after[bound.name] = accessor
        header = []
        for bound in columns:
            header.append(str(bound.header))
            if bound.name in currency_after:
                header.append("Currency")
        yield header
        for row in self.rows:
            cells = []
            for bound in columns:
                cells.append(row.get_cell_value(bound.name))
                if bound.name in currency_after:
                    cells.append(tables.A(currency_after[bound.name]).resolve(row.record))
            yield cells


class MoneyColumn(tables.Column):
    """An integer of minor units shown in its currency (``currency_accessor`` names the field);
    exported as a number of major units (``56.20``), with the currency in its own column."""

    def __init__(self, *args, currency_accessor: str = "currency", **kwargs):
        kwargs.setdefault("attrs", {"td": {"class": "text-end text-nowrap"}, "th": {"class": "text-end"}})
        super().__init__(*args, **kwargs)
        self.currency_accessor = currency_accessor

    def render(self, value, record):
        return format_money(int(value), tables.A(self.currency_accessor).resolve(record))

    def value(self, value, record):
        return minor_to_major(int(value), tables.A(self.currency_accessor).resolve(record))


class IdColumn(tables.Column):
    """A public id in monospace with a copy button."""

    def render(self, value):
        return format_html(
            '<span class="font-monospace small">{}</span>'
            '<button type="button" class="btn btn-link btn-sm p-0 ms-1 copy-button" data-copy="{}" '
            'title="Copy" aria-label="Copy {}"><i class="bi bi-clipboard"></i></button>',
            value,
            value,
            value,
        )

    def value(self, value):
        return value


class DateTimeColumn(tables.DateTimeColumn):
    """A UTC timestamp as ``2026-11-22 14:05``; exported in ISO 8601."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("format", "Y-m-d H:i")
        kwargs.setdefault("attrs", {"td": {"class": "text-nowrap"}})
        super().__init__(*args, **kwargs)

    def value(self, value):
        return value.isoformat() if value else ""
