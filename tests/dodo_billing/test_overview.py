"""The overview page: figures computed from known data, other businesses left out."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from metering.models import Event, Invoice, Payment, PaymentStatus, PriceType, Refund, RefundStatus
from metering.selectors.dashboard import (
    event_count_by_day,
    month_start,
    revenue_by_currency,
    wallet_low_balance_list,
)
from wallets.models import Wallet
from wallets.services import wallet_credit, wallet_debit, wallet_set_low_balance_threshold

pytestmark = pytest.mark.django_db


def payment(customer, amount, *, currency="USD", status=PaymentStatus.SUCCEEDED, succeeded_at=None, wallet=0):
    invoice = Invoice.objects.create(
        business=customer.business,
        customer=customer,
        currency=currency,
        subtotal=amount,
        wallet_applied=wallet,
        amount_due=amount - wallet,
    )
    return Payment.objects.create(
        business=customer.business,
        customer=customer,
        invoice=invoice,
        currency=currency,
        total_amount=amount,
        wallet_amount=wallet,
        gateway_amount=amount - wallet,
        pricing_type=PriceType.ONE_TIME,
        status=status,
        gateway="manual",
        succeeded_at=succeeded_at,
    )


def refund(
    pay, amount, *, status=RefundStatus.SUCCEEDED, created_at=None, destination=Refund.Destination.GATEWAY
):
    return Refund.objects.create(
        business=pay.business,
        payment=pay,
        customer=pay.customer,
        amount=amount,
        currency=pay.currency,
        destination=destination,
        status=status,
        created_at=created_at or timezone.now(),
    )


def event(customer, timestamp, n=[0]):  # noqa: B006 (a counter for unique ids)
    n[0] += 1
    return Event.objects.create(
        business=customer.business,
        customer=customer,
        event_id=f"e{n[0]}",
        event_name="x",
        timestamp=timestamp,
    )


NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def test_revenue_is_money_collected_through_the_gateway_this_month_per_currency(
    business, make_customer, other_business
):
    buyer = make_customer()
    start = month_start(NOW)
    assert start == datetime(2026, 3, 1, tzinfo=UTC)
    paid = payment(buyer, 10_000, succeeded_at=NOW - timedelta(days=2))
    payment(buyer, 2_500, succeeded_at=NOW - timedelta(days=1), wallet=500)  # only the 2_000 charged
    payment(buyer, 7_000, status=PaymentStatus.REFUNDED, succeeded_at=NOW - timedelta(days=3))
    payment(buyer, 99_999, succeeded_at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC))  # last month
    payment(buyer, 88_888, status=PaymentStatus.PENDING)
    payment(buyer, 77_777, status=PaymentStatus.FAILED)
    payment(buyer, 150_000, currency="INR", succeeded_at=NOW - timedelta(hours=1))
    refund(paid, 1_000, created_at=NOW - timedelta(hours=5))
    refund(paid, 3_000, status=RefundStatus.FAILED, created_at=NOW - timedelta(hours=4))
    refund(paid, 500, created_at=datetime(2026, 2, 20, tzinfo=UTC))
    refund(
        paid, 700, created_at=NOW - timedelta(hours=3), destination=Refund.Destination.WALLET
    )  # pays out nothing
    foreign = make_customer(business=other_business)
    payment(foreign, 55_555, succeeded_at=NOW - timedelta(days=1))
    rows = revenue_by_currency(business=business, start=start, end=NOW)
    assert rows == [
        {
            "currency": "INR",
            "payments": 150_000,
            "payment_count": 1,
            "refunds": 0,
            "refund_count": 0,
            "net": 150_000,
        },
        {
            "currency": "USD",
            "payments": 19_000,
            "payment_count": 3,
            "refunds": 1_000,
            "refund_count": 1,
            "net": 18_000,
        },
    ]


def test_events_per_day_for_30_days(business, customer, other_business, make_customer):
    today = NOW.replace(hour=0, minute=0)
    for when in (NOW - timedelta(hours=1), today, today - timedelta(seconds=1), NOW - timedelta(days=29)):
        event(customer, when)
    event(customer, today - timedelta(days=30))  # outside the 30 days
    event(customer, NOW + timedelta(days=1))  # tomorrow: outside
    event(make_customer(business=other_business), NOW)
    days = event_count_by_day(business=business, days=30, now=NOW)
    assert len(days) == 30 and days[0][0] == today - timedelta(days=29) and days[-1][0] == today
    counts = dict(days)
    assert (
        counts[today] == 2
        and counts[today - timedelta(days=1)] == 1
        and counts[today - timedelta(days=29)] == 1
    )
    assert sum(counts.values()) == 4


def test_low_balance_wallets(business, make_customer, other_business):
    under, above, emptied, never = (
        make_customer(name=name) for name in ("Under", "Above", "Emptied", "Never")
    )
    wallet_credit(customer=under, currency="USD", amount=400)
    wallet_set_low_balance_threshold(wallet=Wallet.objects.get(customer=under, currency="USD"), threshold=500)
    wallet_credit(customer=above, currency="USD", amount=900)
    wallet_set_low_balance_threshold(wallet=Wallet.objects.get(customer=above, currency="USD"), threshold=500)
    wallet_credit(customer=emptied, currency="USD", amount=300)
    wallet_debit(customer=emptied, currency="USD", amount=300)
    wallet_credit(customer=never, currency="INR", amount=100)  # its zero USD wallet was never funded
    foreign = make_customer(business=other_business, name="Foreign")
    wallet_credit(customer=foreign, currency="USD", amount=300)
    wallet_debit(customer=foreign, currency="USD", amount=300)
    rows = [(w.customer.name, w.currency, w.balance) for w in wallet_low_balance_list(business=business)]
    assert rows == [("Emptied", "USD", 0), ("Under", "USD", 400)]


def test_overview_page_shows_the_figures(staff_client, business, make_customer, other_business):
    buyer = make_customer(name="Low Larry")
    wallet_credit(customer=buyer, currency="USD", amount=12_345)
    wallet_set_low_balance_threshold(
        wallet=Wallet.objects.get(customer=buyer, currency="USD"), threshold=20_000
    )
    payment(buyer, 4_200, succeeded_at=timezone.now())
    event(buyer, timezone.now() - timedelta(minutes=1))
    event(buyer, timezone.now() - timedelta(days=2))
    foreign = make_customer(business=other_business, name="Foreign Fred")
    wallet_credit(customer=foreign, currency="USD", amount=99_999)
    wallet_debit(customer=foreign, currency="USD", amount=99_999)
    payment(foreign, 77_700, succeeded_at=timezone.now())
    event(foreign, timezone.now())
    response = staff_client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Revenue this month · USD" in page and "$42.00" in page and "1 payment " in page
    assert "$123.45" in page  # wallet balances outstanding
    assert "Low Larry" in page and "under $200.00" in page
    assert "2 events" in page and 'data-chart="usage-trend"' in page
    chart = response.context["usage_chart"]
    assert sum(chart["data"]["datasets"][0]["data"]) == 2 and len(chart["data"]["labels"]) == 30
    assert "Foreign Fred" not in page and "$777.00" not in page and "$999.99" not in page


def test_overview_empty_states(staff_client):
    page = staff_client.get("/").content.decode()
    assert "No payment succeeded since" in page
    assert "No usage events in the last 30 days" in page
    assert "No wallet is under its low-balance threshold" in page


def test_overview_query_count_does_not_grow(staff_client, make_customer):
    from tests.dashboard import assert_queries_flat

    def more():
        for i in range(4):
            customer = make_customer()
            wallet_credit(customer=customer, currency="USD", amount=100)
            wallet_set_low_balance_threshold(
                wallet=Wallet.objects.get(customer=customer, currency="USD"), threshold=500
            )
            payment(customer, 1_000 + i, succeeded_at=timezone.now())
            event(customer, timezone.now() - timedelta(days=i))

    more()
    assert_queries_flat(staff_client, "/", more)
