"""Meters, events and the overview in a real browser: build a nested filter with the filter
builder, see the meter on its page; filter the events explorer and open an event."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from metering.models import Event, Meter
from metering.services import meter_create
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)

EXPECTED = {
    "conjunction": "and",
    "clauses": [
        {"conjunction": "and", "clauses": [{"key": "region", "operator": "equals", "value": "eu"}]},
        {
            "conjunction": "or",
            "clauses": [
                {"key": "tier", "operator": "equals", "value": "pro"},
                {"key": "tokens", "operator": "greater_than", "value": 100},
            ],
        },
    ],
}


def add_events(business, customers, name="llm.call", count=40):
    now = timezone.now()
    rows = []
    for i in range(count):
        customer = customers[i % len(customers)]
        rows.append(
            Event(
                business=business,
                customer=customer,
                event_id=f"{name}-{i}",
                event_name=name,
                timestamp=now - timedelta(hours=i * 3 + 1),
                metadata={
                    "region": "eu" if i % 3 else "us",
                    "tier": "pro" if i % 2 else "free",
                    "tokens": 50 + i * 7,
                },
            )
        )
    Event.objects.bulk_create(rows)


def test_create_a_meter_with_a_nested_filter(page, business, make_customer):
    customers = [make_customer(name=name) for name in ("Ada Lovelace", "Grace Hopper", "Alan Turing")]
    add_events(business, customers)
    page.goto("/meters/new/")
    expect(page.get_by_role("heading", name="New meter")).to_be_visible()
    expect(page.get_by_label("Filter (JSON)")).to_be_hidden()  # the builder replaces the text box
    page.get_by_label("Name", exact=True).fill("Tokens (EU, pro or large)")
    page.get_by_label("Event name").fill("llm.call")
    page.get_by_label("Measurement unit").fill("tokens")
    page.get_by_label("Aggregation").select_option("sum")
    page.get_by_label("Metadata key").fill("tokens")

    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Key of condition 1.1").fill("region")
    page.get_by_label("Value of condition 1.1").fill("eu")
    page.get_by_role("button", name="Add group to group 1").click()  # moves region=eu into group 1.1
    expect(page.get_by_label("Key of condition 1.1.1")).to_have_value("region")
    page.get_by_label("Conjunction of group 1.2").select_option("or")
    page.get_by_label("Key of condition 1.2.1").fill("tier")
    page.get_by_label("Value of condition 1.2.1").fill("pro")
    page.get_by_role("button", name="Add condition to group 1.2").click()
    page.get_by_label("Key of condition 1.2.2").fill("tokens")
    page.get_by_label("Operator of condition 1.2.2").select_option("greater_than")
    page.get_by_label("Value type of condition 1.2.2").select_option("number")
    page.get_by_label("Value of condition 1.2.2").fill("100")
    expect(page.get_by_role("button", name="Add group to group 1.2")).to_have_count(1)
    expect(page.locator("[data-group='1.2'] [data-action=add-group]")).to_have_count(1)
    assert json.loads(page.locator("#id_filter").input_value()) == EXPECTED
    screenshot(page, "meter_create")

    # JSON view and back keep the tree.
    page.get_by_role("button", name="Edit as JSON").click()
    expect(page.get_by_label("Filter (JSON)")).to_be_visible()
    page.get_by_role("button", name="Use the builder").click()
    expect(page.get_by_label("Key of condition 1.2.2")).to_have_value("tokens")

    page.get_by_role("button", name="Create meter").click()
    expect(page.get_by_role("heading", name="Tokens (EU, pro or large)")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("created")
    expect(page.get_by_test_id("meter-filter")).to_contain_text('"greater_than"')
    meter = Meter.objects.get(business=business)
    assert meter.filter == EXPECTED and meter.aggregation_key == "tokens"
    expect(page.get_by_role("table", name="Top customers")).to_contain_text("Alan Turing")
    page.wait_for_function("document.querySelector('canvas[data-chart]').dataset.drawn === '1'")
    screenshot(page, "meter_detail")


def test_builder_checks_numbers_and_shows_the_service_error(page, business):
    page.goto("/meters/new/")
    page.get_by_label("Name", exact=True).fill("Bad")
    page.get_by_label("Event name").fill("x")
    page.get_by_label("Measurement unit").fill("u")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Key of condition 1.1").fill("size")
    page.get_by_label("Operator of condition 1.1").select_option("greater_than")
    page.get_by_label("Value type of condition 1.1").select_option("number")
    page.get_by_label("Value of condition 1.1").fill("lots")
    page.get_by_role("button", name="Create meter").click()
    expect(page.get_by_role("status").filter(has_text="must be a number")).to_contain_text("Condition 1.1")
    expect(page.get_by_label("Value of condition 1.1")).to_be_focused()
    # A rule only the server knows: ordering operators take no boolean.
    page.get_by_label("Value type of condition 1.1").select_option("boolean")
    page.get_by_role("button", name="Create meter").click()
    expect(page.locator("[data-filter-error]")).to_contain_text("not a boolean")
    expect(page.get_by_label("Key of condition 1.1")).to_have_value("size")
    expect(page.get_by_label("Value type of condition 1.1")).to_have_value("boolean")
    assert Meter.objects.count() == 0
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll


def test_meter_list_and_events_explorer(page, business, make_customer):
    customers = [make_customer(name=name) for name in ("Ada Lovelace", "Grace Hopper")]
    meter_create(business=business, name="LLM tokens", event_name="llm.call", measurement_unit="tokens",
                 aggregation={"type": "sum", "key": "tokens"})  # fmt: skip
    meter_create(business=business, name="Uploads", event_name="upload", measurement_unit="files",
                 aggregation={"type": "count"})  # fmt: skip
    add_events(business, customers, count=20)
    add_events(business, customers, name="upload", count=5)
    page.goto("/meters/")
    expect(page.get_by_role("link", name="LLM tokens")).to_be_visible()
    screenshot(page, "meters")

    page.goto("/events/")
    expect(page.get_by_text("Showing the last 24 hours")).to_be_visible()
    filters = page.get_by_role("search")
    filters.get_by_label("Event name").fill("upload")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("table-count")).to_contain_text("of 5")
    expect(page.locator("tbody")).not_to_contain_text("llm.call")
    filters.get_by_label("Meter").select_option(label="LLM tokens")
    filters.get_by_label("Event name").fill("")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("table-count")).to_contain_text("of 8")  # llm.call in 24 hours
    screenshot(page, "events")
    page.get_by_role("link", name="llm.call-0").click()
    modal = page.locator("#event-modal")
    expect(modal).to_be_visible()
    expect(modal.get_by_test_id("event-metadata")).to_contain_text('"tokens": 50')


def test_overview(page, business, make_customer):
    from wallets.models import Wallet
    from wallets.services import wallet_credit, wallet_debit, wallet_set_low_balance_threshold

    customers = [make_customer(name=name) for name in ("Ada Lovelace", "Grace Hopper", "Alan Turing")]
    wallet_credit(customer=customers[0], currency="USD", amount=25_000)
    wallet_credit(customer=customers[1], currency="USD", amount=300)
    wallet_set_low_balance_threshold(
        wallet=Wallet.objects.get(customer=customers[1], currency="USD"), threshold=1_000
    )
    wallet_credit(customer=customers[2], currency="USD", amount=700)
    wallet_debit(customer=customers[2], currency="USD", amount=700)
    add_events(business, customers, count=200)
    from tests.dodo_billing.test_overview import payment

    payment(customers[0], 49_900, succeeded_at=timezone.now())
    payment(customers[1], 1_500, succeeded_at=timezone.now(), wallet=1_500)
    page.goto("/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("list", name="Wallets with a low balance")).to_contain_text("Grace Hopper")
    page.wait_for_function("document.querySelector('canvas[data-chart]').dataset.drawn === '1'")
    screenshot(page, "overview")
