"""The report builder: each dataset's grouping and aggregates against hand-computed figures,
filters, periods, CSV export, saved reports (save, reopen, rename, delete), bad definitions
(errors, nothing saved), another business's report (404), and bounded query counts."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from customers.models import SavedReport
from customers.reports.periods import period_dates
from customers.reports.runner import PAGE_SIZE, report_export_rows, report_run
from customers.reports.services import saved_report_create
from customers.views.reports import SavedReportTable
from dodo_billing.errors import InvalidQueryParams
from metering.models import Event, Invoice, Payment
from metering.services.usage import meter_create
from tests.dashboard import assert_sorts_both_ways, csv_rows, query_count
from wallets.services import wallet_credit, wallet_debit

pytestmark = pytest.mark.django_db

BUILD = "/reports/new"


def definition(dataset, **fields):
    base = {
        "dataset": dataset,
        "columns": [],
        "filters": {},
        "group_by": "",
        "aggregates": ["count"],
        "period": "custom",
        "start": "2026-01-01",
        "end": "2026-03-31",
        "meter_id": None,
    }
    base.update(fields)
    return base


def params(dataset, **fields):
    """Builder query/form parameters."""
    data = {
        "dataset": dataset,
        "period": "custom",
        "start": "2026-01-01",
        "end": "2026-03-31",
        "group_by": "",
        "aggregates": ["count"],
        "run": "1",
    }
    data.update(fields)
    return data


def at(day, hour=12):
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture
def customers(make_customer):
    return [
        make_customer(
            name="Ada", email="ada@example.com", preferred_locale="en", created_at=at("2026-01-05")
        ),
        make_customer(
            name="Bob", email="bob@example.com", preferred_locale="fr", created_at=at("2026-01-20")
        ),
        make_customer(name="Cy", email="cy@example.com", preferred_locale="en", created_at=at("2026-02-02")),
    ]


def make_payment(business, customer, amount, currency="USD", status="succeeded", created_at=None, wallet=0):
    invoice = Invoice.objects.create(
        business=business,
        customer=customer,
        currency=currency,
        subtotal=amount,
        wallet_applied=wallet,
        amount_due=amount - wallet,
    )
    return Payment.objects.create(
        business=business,
        customer=customer,
        invoice=invoice,
        currency=currency,
        total_amount=amount,
        wallet_amount=wallet,
        gateway_amount=amount - wallet,
        pricing_type="one_time_price",
        status=status,
        gateway="manual",
        created_at=created_at or at("2026-01-15"),
    )


@pytest.fixture
def payments(business, other_business, customers, make_customer):
    ada, bob, _ = customers
    stranger = make_customer(business=other_business, name="Eve", email="eve@example.com")
    return [
        make_payment(business, ada, 1000, "USD", created_at=at("2026-01-03")),
        make_payment(business, bob, 250, "USD", created_at=at("2026-01-28"), wallet=50),
        make_payment(business, ada, 700, "EUR", created_at=at("2026-01-10")),
        make_payment(business, bob, 999, "USD", status="failed", created_at=at("2026-02-14")),
        make_payment(business, ada, 5000, "USD", created_at=at("2025-12-31", 23)),  # before the period
        make_payment(other_business, stranger, 123456, "USD", created_at=at("2026-01-04")),
    ]


# --- Datasets ----------------------------------------------------------------------------------------


def test_customers_by_month_counts_every_month_of_the_period(
    business, customers, make_customer, other_business
):
    make_customer(business=other_business, email="x@example.com", created_at=at("2026-01-06"))
    result = report_run(business=business, definition=definition("customers", group_by="month"))
    assert [header["label"] for header in result.headers] == ["Month", "Count"]
    assert result.rows == [["2026-01", "2"], ["2026-02", "1"], ["2026-03", "0"]]
    chart = result.chart
    assert chart["type"] == "bar"
    assert chart["data"]["labels"] == ["2026-01", "2026-02", "2026-03"]
    assert chart["data"]["datasets"][0]["data"] == [2, 1, 0]


def test_customers_by_week_and_day_and_locale(business, customers):
    weeks = report_run(
        business=business,
        definition=definition("customers", group_by="week", start="2026-01-05", end="2026-01-25"),
    )
    # Weeks start on Monday: 2026-01-05, -12, -19.
    assert weeks.rows == [
        ["Week of 2026-01-05", "1"],
        ["Week of 2026-01-12", "0"],
        ["Week of 2026-01-19", "1"],
    ]
    days = report_run(
        business=business,
        definition=definition("customers", group_by="day", start="2026-01-04", end="2026-01-06"),
    )
    assert days.rows == [["2026-01-04", "0"], ["2026-01-05", "1"], ["2026-01-06", "0"]]
    assert days.chart["type"] == "line" and days.chart_title == "Count"
    locales = report_run(business=business, definition=definition("customers", group_by="preferred_locale"))
    assert locales.rows == [["en", "2"], ["fr", "1"]]
    assert locales.chart["type"] == "bar"


def test_customer_filters_use_the_customer_filterset(business, customers):
    result = report_run(
        business=business,
        definition=definition("customers", group_by="month", filters={"email": "ADA@example.com"}),
    )
    assert result.rows[0] == ["2026-01", "1"]


def test_payments_sum_money_per_currency_never_across_currencies(business, payments):
    result = report_run(
        business=business,
        definition=definition(
            "payments", group_by="month", aggregates=["count", "total_amount", "wallet_amount"]
        ),
    )
    assert [header["label"] for header in result.headers] == [
        "Month",
        "Currency",
        "Count",
        "Total",
        "From wallet",
    ]
    assert result.rows == [
        ["2026-01", "EUR", "1", "€7.00", "€0.00"],
        ["2026-01", "USD", "2", "$12.50", "$0.50"],
        ["2026-02", "EUR", "0", "€0.00", "€0.00"],
        ["2026-02", "USD", "1", "$9.99", "$0.00"],
        ["2026-03", "EUR", "0", "€0.00", "€0.00"],
        ["2026-03", "USD", "0", "$0.00", "$0.00"],
    ]
    # The chart shows the first amount of money chosen, one series per currency.
    assert result.chart_title == "Total"
    money = report_run(
        business=business, definition=definition("payments", group_by="month", aggregates=["total_amount"])
    )
    series = {item["label"]: item["data"] for item in money.chart["data"]["datasets"]}
    assert series == {"Total (EUR)": [7.0, 0, 0], "Total (USD)": [12.5, 9.99, 0]}


def test_payments_grouped_by_currency_status_and_customer(business, payments, customers):
    by_currency = report_run(
        business=business,
        definition=definition("payments", group_by="currency", aggregates=["total_amount", "count"]),
    )
    assert by_currency.rows == [["USD", "$22.49", "3"], ["EUR", "€7.00", "1"]]
    by_status = report_run(business=business, definition=definition("payments", group_by="status"))
    assert by_status.rows == [["Succeeded", "3"], ["Failed", "1"]]
    by_customer = report_run(
        business=business, definition=definition("payments", group_by="customer", aggregates=["count"])
    )
    ada, bob, _ = customers
    assert by_customer.rows == [
        [f"ada@example.com ({ada.id})", "2"],
        [f"bob@example.com ({bob.id})", "2"],
    ] or by_customer.rows == [[f"bob@example.com ({bob.id})", "2"], [f"ada@example.com ({ada.id})", "2"]]


def test_payment_filters_use_the_payment_filterset(business, payments, customers):
    ada = customers[0]
    usd = report_run(
        business=business,
        definition=definition(
            "payments", group_by="currency", aggregates=["total_amount"], filters={"currency": "USD"}
        ),
    )
    assert usd.rows == [["USD", "$22.49"]]
    ada_succeeded = report_run(
        business=business,
        definition=definition(
            "payments",
            group_by="month",
            aggregates=["count"],
            filters={"customer_id": ada.id, "payment_status": "succeeded"},
            end="2026-01-31",
        ),
    )
    assert ada_succeeded.rows == [["2026-01", "2"]]


def test_payments_listing_with_columns_and_money(business, payments):
    result = report_run(
        business=business,
        definition=definition("payments", columns=["id", "customer_email", "currency", "total_amount"]),
    )
    assert [header["label"] for header in result.headers] == [
        "Payment ID",
        "Customer email",
        "Currency",
        "Total",
    ]
    # Newest first; the other business's payment and the one before the period are absent.
    assert [row[1:] for row in result.rows] == [
        ["bob@example.com", "USD", "$9.99"],
        ["bob@example.com", "USD", "$2.50"],
        ["ada@example.com", "EUR", "€7.00"],
        ["ada@example.com", "USD", "$10.00"],
    ]
    assert result.total == 4 and not result.has_next


@pytest.fixture
def ledger(business, customers):
    ada, bob, _ = customers
    wallet_credit(customer=ada, currency="USD", amount=1000)
    wallet_debit(customer=ada, currency="USD", amount=300, event_type="payment")
    wallet_credit(customer=bob, currency="USD", amount=200, event_type="refund")
    wallet_credit(customer=bob, currency="INR", amount=50000)


def today_definition(dataset, **fields):
    today = timezone.now().astimezone(UTC).date().isoformat()
    return definition(dataset, start=today, end=today, **fields)


def test_ledger_credits_debits_and_net_per_currency(business, ledger):
    result = report_run(
        business=business,
        definition=today_definition(
            "ledger", group_by="currency", aggregates=["count", "credits", "debits", "net"]
        ),
    )
    assert [header["label"] for header in result.headers] == [
        "Currency", "Count", "Credits", "Debits", "Net (credits − debits)",
    ]  # fmt: skip
    assert sorted(result.rows) == [
        ["INR", "1", "₹500.00", "₹0.00", "₹500.00"],
        ["USD", "3", "$12.00", "$3.00", "$9.00"],
    ]
    by_type = report_run(
        business=business,
        definition=today_definition("ledger", group_by="event_type", filters={"currency": "USD"}),
    )
    assert sorted(by_type.rows) == [["Merchant Adjustment", "1"], ["Payment", "1"], ["Refund", "1"]]
    by_direction = report_run(
        business=business,
        definition=today_definition(
            "ledger", group_by="direction", aggregates=["count"], filters={"is_credit": "true"}
        ),
    )
    assert by_direction.rows == [["credit", "3"]]
    by_day = report_run(
        business=business,
        definition=today_definition("ledger", group_by="day", aggregates=["net"]),
    )
    assert sorted(row[1:] for row in by_day.rows) == [["INR", "₹500.00"], ["USD", "$9.00"]]


@pytest.fixture
def meter(business):
    return meter_create(
        business=business,
        name="Tokens",
        event_name="llm.tokens",
        measurement_unit="tokens",
        aggregation={"type": "sum", "key": "tokens"},
    )


@pytest.fixture
def usage(business, other_business, customers, meter, make_customer):
    ada, bob, _ = customers
    eve = make_customer(business=other_business, email="eve2@example.com")
    rows = [
        (business, ada, "llm.tokens", at("2026-01-10", 1), {"tokens": 100}),
        (business, ada, "llm.tokens", at("2026-01-10", 5), {"tokens": 20}),
        (business, bob, "llm.tokens", at("2026-01-11", 3), {"tokens": 7}),
        (business, bob, "other.event", at("2026-01-11", 3), {"tokens": 1000}),  # another event name
        (other_business, eve, "llm.tokens", at("2026-01-10", 2), {"tokens": 5000}),
    ]
    for index, (owner, customer, name, moment, metadata) in enumerate(rows):
        Event.objects.create(
            business=owner,
            customer=customer,
            event_id=f"e{index}",
            event_name=name,
            timestamp=moment,
            metadata=metadata,
        )


def test_usage_by_day_hour_and_customer_with_the_usage_selectors(business, usage, meter, customers):
    ada, bob, _ = customers
    period = {"start": "2026-01-10", "end": "2026-01-12", "meter_id": meter.id, "aggregates": ["usage"]}
    by_day = report_run(business=business, definition=definition("usage", group_by="day", **period))
    assert by_day.rows == [["2026-01-10", "120"], ["2026-01-11", "7"], ["2026-01-12", "0"]]
    assert by_day.headers[-1]["label"] == "Usage (tokens)"
    by_customer = report_run(business=business, definition=definition("usage", group_by="customer", **period))
    assert by_customer.rows == [[f"ada@example.com ({ada.id})", "120"], [f"bob@example.com ({bob.id})", "7"]]
    only_bob = report_run(
        business=business,
        definition=definition("usage", group_by="day", filters={"customer_id": bob.id}, **period),
    )
    assert [row[1] for row in only_bob.rows] == ["0", "7", "0"]
    by_hour = report_run(
        business=business,
        definition=definition("usage", group_by="hour", **{**period, "end": "2026-01-10"}),
    )
    assert len(by_hour.rows) == 24
    assert by_hour.rows[1] == ["2026-01-10 01:00", "100"] and by_hour.rows[5] == ["2026-01-10 05:00", "20"]
    listing = report_run(
        business=business,
        definition=definition("usage", columns=["event_id", "customer_id"], **{**period, "aggregates": []}),
    )
    assert listing.rows == [["e2", bob.id], ["e1", ada.id], ["e0", ada.id]]


def test_period_presets():
    today = date(2026, 3, 15)
    assert period_dates({"period": "last_7_days"}, today=today) == (date(2026, 3, 9), today)
    assert period_dates({"period": "last_30_days"}, today=today) == (date(2026, 2, 14), today)
    assert period_dates({"period": "this_month"}, today=today) == (date(2026, 3, 1), date(2026, 3, 31))
    assert period_dates({"period": "last_month"}, today=today) == (date(2026, 2, 1), date(2026, 2, 28))
    assert period_dates({"period": "last_month"}, today=date(2026, 1, 5)) == (
        date(2025, 12, 1),
        date(2025, 12, 31),
    )


def test_a_preset_period_is_resolved_when_the_report_runs(business, make_customer):
    now = timezone.now()
    make_customer(created_at=now - timedelta(days=3))
    make_customer(created_at=now - timedelta(days=20))
    week = report_run(
        business=business, definition=definition("customers", group_by="month", period="last_7_days")
    )
    month = report_run(
        business=business, definition=definition("customers", group_by="month", period="last_30_days")
    )
    assert sum(int(row[-1]) for row in week.rows) == 1
    assert sum(int(row[-1]) for row in month.rows) == 2


# --- The builder page --------------------------------------------------------------------------------


def test_builder_starts_with_a_dataset_choice_and_runs_defaults(staff_client, business, customers):
    response = staff_client.get(BUILD)
    assert response.status_code == 200
    for label in ("Customers", "Payments", "Ledger entries", "Usage"):
        assert label in response.content.decode()
    response = staff_client.get(BUILD, {"dataset": "customers"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-chart="report-chart"' in html and 'id="report-chart"' in html
    assert "chart.umd.min.js" in html
    assert staff_client.get(BUILD, {"dataset": "nope"}).status_code == 404


def test_builder_runs_a_listing_with_paging(staff_client, business, make_customer):
    for index in range(PAGE_SIZE + 3):
        make_customer(name=f"Person {index:03}", created_at=at("2026-01-10") + timedelta(minutes=index))
    response = staff_client.get(BUILD, params("customers", columns=["name", "email"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Person 052" in html and "Person 002" not in html
    assert 'rel="next"' in html and "page=2" in html
    second = staff_client.get(BUILD, {**params("customers", columns=["name"]), "page": "2"}).content.decode()
    assert "Person 002" in second and "Person 052" not in second


def test_csv_export_of_a_grouped_result_and_of_a_listing(staff_client, business, payments):
    grouped = csv_rows(
        staff_client.get(
            BUILD,
            {
                **params("payments", group_by="currency", aggregates=["count", "total_amount"]),
                "export": "csv",
            },
        )
    )
    assert grouped == [["Currency", "Count", "Total"], ["USD", "3", "22.49"], ["EUR", "1", "7.00"]]
    listing = csv_rows(
        staff_client.get(
            BUILD, {**params("payments", columns=["currency", "total_amount", "created_at"]), "export": "csv"}
        )
    )
    assert listing[0] == ["Currency", "Total", "Created at (UTC)"]
    assert listing[1:] == [
        ["USD", "9.99", "2026-02-14T12:00:00+00:00"],
        ["USD", "2.50", "2026-01-28T12:00:00+00:00"],
        ["EUR", "7.00", "2026-01-10T12:00:00+00:00"],
        ["USD", "10.00", "2026-01-03T12:00:00+00:00"],
    ]


def test_export_rows_stream_every_row(business, make_customer):
    for index in range(PAGE_SIZE * 2 + 1):
        make_customer(created_at=at("2026-01-10") + timedelta(seconds=index))
    rows = list(report_export_rows(business=business, definition=definition("customers", columns=["email"])))
    assert len(rows) == 1 + PAGE_SIZE * 2 + 1


BAD_DEFINITIONS = [
    ({"group_by": "month", "aggregates": []}, "aggregates", "Choose at least one value"),
    ({"group_by": "", "columns": []}, "columns", "Choose at least one column"),
    ({"group_by": "fortnight"}, "group_by", "Select a valid choice"),
    ({"aggregates": ["median"], "group_by": "month"}, "aggregates", "Select a valid choice"),
    ({"columns": ["password"]}, "columns", "Select a valid choice"),
    ({"period": "custom", "start": ""}, "start", "Enter the first day"),
    ({"period": "custom", "start": "2026-02-01", "end": "2026-01-01"}, "end", "must not be after"),
    ({"period": "custom", "start": "2020-01-01", "end": "2026-01-01"}, "end", "longer than"),
    ({"period": "custom", "start": "2026-13-01"}, "start", "Enter a valid date"),
    # The last day's midnight after must exist: 9999-12-31 was a 500 when the report ran.
    ({"period": "custom", "start": "9999-12-30", "end": "9999-12-31"}, "end", "Must lie between 0001-01-02"),
    (
        {"period": "custom", "start": "0001-01-01", "end": "0001-01-05"},
        "start",
        "Must lie between 0001-01-02",
    ),
    ({"period": "forever"}, "period", "Select a valid choice"),
    ({"filter_currency": "XXX", "group_by": "month"}, "filter_currency", "Select a valid choice"),
    (
        {"filter_payment_status": "paid", "group_by": "month"},
        "filter_payment_status",
        "Select a valid choice",
    ),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_DEFINITIONS)
def test_bad_definitions_show_errors_and_save_nothing(staff_client, business, changes, field, message):
    data = {**params("payments", group_by="month", columns=["id"]), "name": "Revenue", **changes}
    response = staff_client.post(f"{BUILD}?dataset=payments", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html, html
    assert 'class="invalid-feedback' in html and "is-invalid" in html
    assert not SavedReport.objects.exists()
    # Running it (GET) shows the same error and no result.
    shown = staff_client.get(BUILD, {**data, "dataset": "payments"}).content.decode()
    assert message in shown and 'id="report-result"' not in shown


def test_a_saved_period_at_the_calendar_edge_shows_an_error_not_a_500(staff_client, business):
    """A report saved before periods were held to the calendar's range still opens."""
    edge = definition("customers", start="9999-12-25", end="9999-12-31")
    with pytest.raises(InvalidQueryParams, match="end: Must lie between"):
        saved_report_create(business=business, name="Edge", definition=edge)
    report = SavedReport.objects.create(business=business, name="Edge", dataset="customers", definition=edge)
    response = staff_client.get(f"/reports/{report.pk}/")
    assert response.status_code == 200
    assert response.context["form"].errors["end"] == ["Must lie between 0001-01-02 and 9999-12-30."]
    assert response.context["result"] is None
    with pytest.raises(InvalidQueryParams):
        report_run(business=business, definition=edge)


def test_usage_needs_a_meter_of_this_business(staff_client, business, other_business, customers):
    foreign = meter_create(
        business=other_business, name="X", event_name="x", measurement_unit="u", aggregation={"type": "count"}
    )
    data = {**params("usage", group_by="day", aggregates=["usage"]), "name": "Usage"}
    missing = staff_client.post(f"{BUILD}?dataset=usage", data)
    assert missing.status_code == 400 and "This field is required" in missing.content.decode()
    other = staff_client.post(f"{BUILD}?dataset=usage", {**data, "meter": foreign.id})
    assert other.status_code == 400 and "Select a valid choice" in other.content.decode()
    assert not SavedReport.objects.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Give the report a name"),
        ("   ", "Give the report a name"),
        ("x" * 101, "at most 100 characters"),
    ],
)
def test_bad_names_save_nothing(staff_client, business, name, message):
    response = staff_client.post(
        f"{BUILD}?dataset=customers", {**params("customers", group_by="month"), "name": name}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SavedReport.objects.exists()


def test_save_reopen_update_rename_and_delete(staff_client, business, staff_user, payments):
    data = {
        **params("payments", group_by="currency", aggregates=["total_amount"], filter_currency="USD"),
        "name": "  USD   revenue ",
    }
    response = staff_client.post(f"{BUILD}?dataset=payments", data)
    report = SavedReport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reports/{report.pk}/"
    assert report.name == "USD revenue" and report.business == business and report.created_by == staff_user
    assert report.dataset == "payments"
    assert report.definition == {
        "dataset": "payments",
        "columns": [],
        "filters": {"currency": "USD"},
        "group_by": "currency",
        "aggregates": ["total_amount"],
        "period": "custom",
        "start": "2026-01-01",
        "end": "2026-03-31",
        "meter_id": None,
    }
    page = staff_client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "Report “USD revenue” saved." in html
    assert "$22.49" in html and "€7.00" not in html
    assert '<option value="currency" selected>' in html
    # Same name again (any case): refused.
    again = staff_client.post(f"{BUILD}?dataset=payments", {**data, "name": "usd REVENUE"})
    assert again.status_code == 400 and "already exists" in again.content.decode()
    assert SavedReport.objects.count() == 1
    # Save changes: the definition shown replaces the saved one.
    changed = staff_client.post(
        f"/reports/{report.pk}/",
        {**params("payments", group_by="month", aggregates=["count"]), "name": "USD revenue"},
    )
    assert changed.status_code == 302
    report.refresh_from_db()
    assert report.definition["group_by"] == "month" and report.definition["filters"] == {}
    # Rename, then a bad rename.
    assert staff_client.post(f"/reports/{report.pk}/rename", {"name": "Monthly payments"}).status_code == 302
    report.refresh_from_db()
    assert report.name == "Monthly payments"
    saved_report_create(business=business, name="Taken", definition=definition("customers"))
    follow = staff_client.post(f"/reports/{report.pk}/rename", {"name": "taken"}, follow=True)
    assert "not renamed" in follow.content.decode()
    report.refresh_from_db()
    assert report.name == "Monthly payments"
    # Export of the saved report.
    rows = csv_rows(staff_client.get(f"/reports/{report.pk}/", {"export": "csv"}))
    assert rows[0] == ["Month", "Count"] and rows[1] == ["2026-01-01", "3"]
    # Delete.
    deleted = staff_client.post(f"/reports/{report.pk}/delete", follow=True)
    assert "Report “Monthly payments” deleted." in deleted.content.decode()
    assert not SavedReport.objects.filter(pk=report.pk).exists()


def test_a_rename_with_a_nul_character_is_refused(staff_client, business):
    report = saved_report_create(business=business, name="Mine", definition=definition("customers"))
    response = staff_client.post(f"/reports/{report.pk}/rename", {"name": "a\x00b"}, follow=True)
    assert response.status_code == 200
    assert "cannot hold a NUL character" in response.content.decode()
    report.refresh_from_db()
    assert report.name == "Mine"


def test_another_business_report_is_a_404(staff_client, other_business, business):
    foreign = saved_report_create(business=other_business, name="Theirs", definition=definition("customers"))
    for url in (
        f"/reports/{foreign.pk}/",
        f"/reports/{foreign.pk}/?export=csv",
        "/reports/999999/",
        "/reports/abc/",
    ):
        assert staff_client.get(url).status_code == 404, url
    for url in (f"/reports/{foreign.pk}/", f"/reports/{foreign.pk}/rename", f"/reports/{foreign.pk}/delete"):
        response = staff_client.post(url, {**params("customers", group_by="month"), "name": "Mine now"})
        assert response.status_code == 404, url
    foreign.refresh_from_db()
    assert foreign.name == "Theirs"
    assert "Theirs" not in staff_client.get("/reports/").content.decode()


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get("/reports/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_query_counts_do_not_grow_with_rows(staff_client, business, customers, make_customer):
    grouped = params("payments", group_by="customer", aggregates=["count", "total_amount"])
    listing = params("payments", columns=["id", "customer_email", "total_amount"])
    before = (query_count(staff_client, BUILD, grouped), query_count(staff_client, BUILD, listing))
    for index in range(30):
        payer = make_customer(email=f"payer{index}@example.com")
        make_payment(business, payer, 100 + index, "USD" if index % 2 else "EUR", created_at=at("2026-01-20"))
    after = (query_count(staff_client, BUILD, grouped), query_count(staff_client, BUILD, listing))
    assert after == before


# --- The saved reports list --------------------------------------------------------------------------


@pytest.fixture
def saved(business, staff_user):
    return [
        saved_report_create(
            business=business, name="Alpha", definition=definition("customers"), user=staff_user
        ),
        saved_report_create(business=business, name="Beta", definition=definition("payments")),
    ]


def test_saved_report_list_sorts_filters_and_exports(staff_client, saved):
    assert_sorts_both_ways(staff_client, "/reports/", SavedReportTable)
    html = staff_client.get("/reports/").content.decode()
    assert "Alpha" in html and "Beta" in html and "Start from a dataset" in html
    only_beta = staff_client.get("/reports/", {"q": "bet"}).content.decode()
    assert "Beta" in only_beta and "Alpha" not in only_beta
    only_customers = staff_client.get("/reports/", {"dataset": "customers"}).content.decode()
    assert "Alpha" in only_customers and ">Beta<" not in only_customers
    rows = csv_rows(staff_client.get("/reports/", {"export": "csv"}))
    assert rows[0] == ["Name", "Dataset", "Created by", "Created at (UTC)", "Updated at (UTC)"]
    assert [row[:2] for row in rows[1:]] == [["Alpha", "Customers"], ["Beta", "Payments"]]
    assert rows[1][2] == "staff"


def test_empty_saved_report_list_explains_what_to_do(staff_client, business):
    html = staff_client.get("/reports/").content.decode()
    assert "No saved reports yet" in html
