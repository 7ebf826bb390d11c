"""Dashboard base views shared by every app, and the project package's own pages.

* ``BusinessViewMixin``: login required; ``self.business`` is the signed-in user's business
  (a user without one gets a 403 page, never another business's data).
* ``ObjectListView``: a NetBox-style list page — one FilterSet (shared with the API) filters the
  selector's queryset, a ``BaseTable`` renders it with the user's columns, sorting and rows per
  page, and ``?export=csv`` streams the current view (all pages, visible columns) as CSV.
* ``table_config``: saves "Edit columns" and rows per page for one table.
* Object tabs: apps register tabs for an object's detail page (``register_tab``); the detail
  template shows those registered for its kind of object.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView
from django_tables2 import RequestConfig
from django_tables2.paginators import LazyPaginator

from customers.selectors import customer_count
from dodo_billing.exports import csv_response
from dodo_billing.selectors import api_key_list, business_for_user, user_preference_get
from dodo_billing.services import user_preference_set
from dodo_billing.tables import DEFAULT_PER_PAGE, PER_PAGE_CHOICES, BaseTable
from wallets.selectors import ledger_entry_recent, wallet_balances_by_currency

COUNT_CAP = 10_000  # list pages count matching rows up to this many ("10,000+" beyond)


class BusinessViewMixin(LoginRequiredMixin):
    """Login required; ``self.business`` is the user's business. Views read and write only
    through selectors and services called with that business."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.business = business_for_user(user=request.user)
        if self.business is None:
            return render(request, "dashboard/no_business.html", status=403)
        return super().dispatch(request, *args, **kwargs)


def business_required(view):
    """The function-view form of ``BusinessViewMixin``: calls ``view(request, business, ...)``."""

    @login_required
    def wrapper(request, *args, **kwargs):
        business = business_for_user(user=request.user)
        if business is None:
            return render(request, "dashboard/no_business.html", status=403)
        return view(request, business, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def safe_next_url(request, fallback: str) -> str:
    """The ``next`` parameter if it points into this site, else ``fallback``."""
    candidate = request.POST.get("next") or request.GET.get("next")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def capped_count(queryset, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows match, counting at most ``cap`` + 1 of them: (count, more_than_cap)."""
    count = queryset.order_by()[: cap + 1].count()
    return min(count, cap), count > cap


class ObjectListView(BusinessViewMixin, TemplateView):
    """Subclasses set ``table_class``, ``filterset_class``, ``title`` and implement
    ``get_queryset()`` with a selector. Templates may override ``template_name`` and use the
    blocks of ``generic/object_list.html`` (``actions`` for buttons above the table)."""

    template_name = "generic/object_list.html"
    table_class: type[BaseTable]
    filterset_class = None
    title = ""
    export_filename = "export.csv"
    count_cap = COUNT_CAP

    def get_queryset(self):
        raise NotImplementedError

    def get_filterset(self, queryset):
        if self.filterset_class is None:
            return None
        return self.filterset_class(data=self.request.GET or None, queryset=queryset, request=self.request)

    def get_per_page(self) -> int:
        path = self.table_class.preference_path("per_page")
        requested = self.request.GET.get("per_page")
        if requested and requested.isdigit() and int(requested) in PER_PAGE_CHOICES:
            if int(requested) != user_preference_get(user=self.request.user, path=path):
                user_preference_set(user=self.request.user, path=path, value=int(requested))
            return int(requested)
        saved = user_preference_get(user=self.request.user, path=path)
        return saved if saved in PER_PAGE_CHOICES else DEFAULT_PER_PAGE

    def get_table(self, queryset):
        return self.table_class(queryset, user=self.request.user)

    def get(self, request, *args, **kwargs):
        queryset = self.get_queryset()
        filterset = self.get_filterset(queryset)
        if filterset is not None:
            queryset = filterset.qs if filterset.is_bound and filterset.is_valid() else queryset
            if filterset.is_bound and not filterset.is_valid():
                queryset = queryset.none()
        table = self.get_table(queryset)
        if request.GET.get("export") == "csv":
            RequestConfig(request, paginate=False).configure(table)
            return csv_response(table.export_rows(), self.export_filename)
        per_page = self.get_per_page()
        RequestConfig(request, paginate={"per_page": per_page, "paginator_class": LazyPaginator}).configure(
            table
        )
        total, more = capped_count(queryset, self.count_cap)
        shown = len(table.page.object_list) if table.page else 0
        first = (table.page.number - 1) * per_page + 1 if shown else 0
        context = self.get_context_data(
            table=table,
            filterset=filterset,
            filter_form=filterset.form if filterset is not None else None,
            per_page=per_page,
            per_page_choices=PER_PAGE_CHOICES,
            total=total,
            total_more=more,
            rows_shown=shown,
            rows_first=first,
            rows_last=first + shown - 1 if shown else 0,
            title=self.title,
            **self.extra_context_data(),
        )
        partial = bool(request.htmx) and request.htmx.target == "table-block"
        template = "includes/table_block.html" if partial else None
        return self.render_to_response(context, template_name=template)

    def render_to_response(self, context, template_name=None, **kwargs):
        if template_name:
            return render(self.request, template_name, context)
        return super().render_to_response(context, **kwargs)

    def extra_context_data(self) -> dict:
        return {}


TABLES: dict[str, type[BaseTable]] = {}


def register_table(table_class):
    """Make a table's column choice savable through ``table_config`` (a class decorator)."""
    TABLES[table_class.__name__] = table_class
    return table_class


@require_POST
@login_required
def table_config(request, table_name: str):
    """Save (or with ``reset``, forget) the user's columns for one table, then go back."""
    table_class = TABLES.get(table_name)
    if table_class is None:
        return HttpResponseBadRequest("Unknown table.")
    path = table_class.preference_path("columns")
    if "reset" in request.POST:
        user_preference_set(user=request.user, path=path, value=None)
        messages.success(request, "Columns reset to the defaults.")
    else:
        known = {name for name in table_class.base_columns if name not in table_class.exempt_columns}
        columns = [name for name in dict.fromkeys(request.POST.getlist("columns")) if name in known]
        if not columns:
            messages.error(request, "Choose at least one column.")
        else:
            user_preference_set(user=request.user, path=path, value=columns)
            messages.success(request, "Columns saved.")
    return redirect(safe_next_url(request, reverse("home")))


@dataclass(frozen=True)
class ObjectTab:
    label: str
    url_name: str  # reversed with the object's id as its only argument
    weight: int = 100
    icon: str = ""


OBJECT_TABS: dict[str, list[ObjectTab]] = {}


def register_tab(kind: str, tab: ObjectTab) -> None:
    """Add a tab to the detail page of ``kind`` objects (e.g. ``"customer"``); apps call this
    when their views module is imported. Registering the same tab twice keeps one."""
    tabs = OBJECT_TABS.setdefault(kind, [])
    if tab not in tabs:
        tabs.append(tab)
        tabs.sort(key=lambda item: (item.weight, item.label))


def object_tabs(kind: str, object_id: str, current_url_name: str) -> list[dict]:
    return [
        {
            "label": tab.label,
            "icon": tab.icon,
            "url": reverse(tab.url_name, args=[object_id]),
            "active": tab.url_name == current_url_name,
        }
        for tab in OBJECT_TABS.get(kind, [])
    ]


@business_required
def home(request, business):
    """The overview: customers, wallet balances outstanding, revenue this month, usage trend,
    wallets running low, latest ledger entries. Every figure is one bounded selector query."""
    from django.utils import timezone

    from metering.selectors.dashboard import (
        event_count_by_day,
        month_start,
        revenue_by_currency,
        wallet_low_balance_list,
    )

    now = timezone.now()
    period_start = month_start(now)
    usage = event_count_by_day(business=business, days=30, now=now)
    context = {
        "customer_count": customer_count(business=business),
        "balances": wallet_balances_by_currency(business=business),
        "revenue": revenue_by_currency(business=business, start=period_start, end=now),
        "period_start": period_start,
        "usage_total": sum(count for _, count in usage),
        "usage_chart": {
            "type": "line",
            "data": {
                "labels": [day.strftime("%b %d") for day, _ in usage],
                "datasets": [
                    {
                        "label": "Events",
                        "data": [count for _, count in usage],
                        "borderColor": "#3b5bdb",
                        "backgroundColor": "rgba(59, 91, 219, 0.12)",
                        "fill": True,
                        "tension": 0.3,
                        "pointRadius": 2,
                    }
                ],
            },
            "options": {
                "responsive": True,
                "maintainAspectRatio": False,
                "animation": False,
                "plugins": {"legend": {"display": False}},
                "scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}},
            },
        },
        "low_balance": wallet_low_balance_list(business=business, limit=10),
        "entries": ledger_entry_recent(business=business, limit=10),
        "api_keys": api_key_list(business=business, active=True)[:5],
    }
    return render(request, "dashboard/home.html", context)
