"""Billing a subscription period: the math, the spending order, failures, retries, cancellation."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from dodo_billing.db.writes import update_fields
from dodo_billing.errors import InvalidRequestParameters
from dodo_billing.models import WebhookEvent
from dodo_billing.webhooks.endpoints import webhook_endpoint_create
from metering.ingestion import EventIn
from metering.models import (
    GatewayCharge,
    Invoice,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from metering.periods import period_bounds
from metering.selectors.billing import (
    billing_meters_usage,
    subscription_lock_for_billing,
    subscription_priced_meters,
)
from metering.selectors.usage import meters_usage
from metering.services import events_insert, meter_create
from metering.services.billing import (
    payment_method_create,
    product_create,
    prorate,
    subscription_bill_period,
    subscription_cancel,
    subscription_create,
    subscription_update,
    subscriptions_due,
    usage_charge,
)
from metering.services.payments import RETRY_DELAYS, payment_mark_paid, payment_retry
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_credit

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
BILLING = {"country": "US", "city": "Austin"}
GOOD_CARD, DECLINED_CARD = "4242424242424242", "4000000000000002"


# --- pure math ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("consumed", "free", "price", "chargeable", "amount"),
    [
        ("2500", 1000, "2", "1500", 3000),  # the contract's example: 1,500 × 2¢ = $30.00
        ("999", 1000, "2", "0", 0),  # under the free threshold
        ("1000", 1000, "2", "0", 0),
        ("3", 0, "0.5", "3", 2),  # 1.5 → 2 (half to even)
        ("5", 0, "0.5", "5", 2),  # 2.5 → 2 (half to even)
        ("7", 0, "0.5", "7", 4),  # 3.5 → 4
        ("12345", 0, "0.0001", "12345", 1),  # 1.2345 → 1
        ("1500.75", 500, "0.02", "1000.75", 20),  # 20.015 → 20
        ("10", 0, "99999.999999999999", "10", 1000000),
    ],
)
def test_usage_charge(consumed, free, price, chargeable, amount):
    units, money = usage_charge(
        consumed=Decimal(consumed), free_threshold=free, price_per_unit=Decimal(price)
    )
    assert (units, money) == (Decimal(chargeable), amount)


def test_prorate_uses_the_one_rounding_rule():
    day = timedelta(days=1)
    assert prorate(1000, elapsed=15 * day, length=30 * day) == 500
    assert prorate(1000, elapsed=day, length=3 * day) == 333
    assert prorate(1, elapsed=day, length=2 * day) == 0  # 0.5 → 0 (half to even)
    assert prorate(3, elapsed=day, length=2 * day) == 2  # 1.5 → 2
    assert prorate(700, elapsed=31 * day, length=30 * day) == 700


def test_periods_do_not_drift():
    anchor = datetime(2026, 1, 31, tzinfo=UTC)
    ends = [period_bounds(anchor, "Month", 1, k)[1].date().isoformat() for k in range(4)]
    assert ends == ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]
    assert (
        period_bounds(datetime(2028, 2, 29, tzinfo=UTC), "Year", 1, 0)[1].date().isoformat() == "2029-02-28"
    )
    assert period_bounds(anchor, "Week", 2, 1) == (anchor + timedelta(weeks=2), anchor + timedelta(weeks=4))
    assert period_bounds(anchor, "Day", 1, 3) == (anchor + timedelta(days=3), anchor + timedelta(days=4))


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def sandbox(business):
    business.payment_gateway = "sandbox"
    business.save(update_fields=["payment_gateway"])
    return business


@pytest.fixture
def tokens_meter(business):
    return meter_create(
        business=business,
        name="GPT-4 tokens",
        event_name="llm",
        measurement_unit="tokens",
        aggregation={"type": "sum", "key": "tokens"},
        filter={"conjunction": "and", "clauses": [{"key": "model", "operator": "equals", "value": "gpt-4"}]},
    )


@pytest.fixture
def calls_meter(business):
    return meter_create(
        business=business,
        name="API calls",
        event_name="api",
        measurement_unit="calls",
        aggregation={"type": "count"},
    )


def usage_product(
    business, meters, fixed_price=500, included_credits=0, period_count=20, period_interval="Year"
):
    return product_create(
        business=business,
        name="API Pro",
        price={
            "type": "usage_based_price",
            "currency": "USD",
            "fixed_price": fixed_price,
            "included_credits": included_credits,
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Month",
            "subscription_period_count": period_count,
            "subscription_period_interval": period_interval,
            "meters": meters,
        },
    )


def send(business, customer, event_name, timestamps_and_metadata):
    events = [
        EventIn(
            event_id=f"{customer.id}-{event_name}-{i}",
            customer_id=customer.id,
            event_name=event_name,
            metadata=m,
        )
        for i, (_, m) in enumerate(timestamps_and_metadata)
    ]
    events_insert(
        business=business, events=events, timestamps=[t for t, _ in timestamps_and_metadata], ingested_at=T0
    )


@pytest.fixture
def subscribed(sandbox, customer, tokens_meter, calls_meter):
    """A usage-based subscription started at T0: $5 fixed, tokens at 2¢ above 1,000, calls at 0.5¢."""
    product = usage_product(
        sandbox,
        [
            {"meter_id": tokens_meter.id, "price_per_unit": "2", "free_threshold": 1000},
            {"meter_id": calls_meter.id, "price_per_unit": "0.5", "free_threshold": 0},
        ],
    )
    card = payment_method_create(customer=customer, card_number=GOOD_CARD)
    subscription = subscription_create(
        business=sandbox, customer=customer, product=product, payment_method=card, billing=BILLING, now=T0
    )
    return subscription


def bill(subscription, now=None):
    subscription.refresh_from_db()
    return subscription_bill_period(
        subscription_id=subscription.id,
        period_start=subscription.previous_billing_date,
        now=now or T0 + timedelta(days=40),
    )


# --- the cycle ------------------------------------------------------------------------------------


def test_contract_example_billed_with_wallet_then_card(subscribed, customer, sandbox):
    in_period = T0 + timedelta(days=3)
    send(
        sandbox,
        customer,
        "llm",
        [(in_period, {"model": "gpt-4", "tokens": 1500}), (in_period, {"model": "gpt-4", "tokens": 1000})],
    )
    send(sandbox, customer, "llm", [(in_period, {"model": "gpt-3.5", "tokens": 99999})])  # filtered out
    send(
        sandbox,
        customer,
        "api",
        [(in_period, {})] * 0 + [(in_period + timedelta(minutes=i), {}) for i in range(7)],
    )
    send(
        sandbox, customer, "llm", [(T0 + timedelta(days=29), {"model": "gpt-4", "tokens": 5})]
    )  # next period (Feb 28+)
    wallet_credit(customer=customer, currency="USD", amount=1000, reason="prepaid")

    invoice = bill(subscribed)

    assert invoice.period_start == T0 and invoice.period_end == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    lines = {line.kind + (line.meter_id or ""): line for line in invoice.lines.all()}
    fixed = lines["fixed"]
    tokens = next(line for line in lines.values() if line.description.startswith("GPT-4"))
    calls = next(line for line in lines.values() if line.description.startswith("API calls"))
    assert fixed.amount == 500
    assert (tokens.consumed_units, tokens.free_threshold, tokens.chargeable_units, tokens.amount) == (
        2500,
        1000,
        1500,
        3000,
    )
    assert (calls.consumed_units, calls.chargeable_units, calls.amount) == (7, 7, 4)  # 3.5 → 4
    assert invoice.subtotal == 500 + 3000 + 4
    assert (invoice.credits_applied, invoice.wallet_applied, invoice.amount_due) == (0, 1000, 2504)

    payment = invoice.payment
    assert (payment.total_amount, payment.wallet_amount, payment.gateway_amount) == (3504, 1000, 2504)
    assert payment.status == PaymentStatus.SUCCEEDED and payment.pricing_type == "usage_based_price"
    assert list(payment.charges.values_list("attempt", "amount", "outcome")) == [(1, 2504, "succeeded")]
    debit = LedgerEntry.objects.get(customer=customer, is_credit=False)
    assert (debit.amount, debit.event_type, debit.reference_object_id) == (1000, "payment", payment.id)
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 0

    subscribed.refresh_from_db()
    assert subscribed.period_index == 1 and subscribed.status == SubscriptionStatus.ACTIVE
    assert subscribed.previous_billing_date == invoice.period_end
    assert subscribed.next_billing_date == datetime(2026, 3, 31, 9, 0, tzinfo=UTC)


def test_billing_a_period_twice_does_nothing_the_second_time(subscribed, customer):
    wallet_credit(customer=customer, currency="USD", amount=100)
    first_start = subscribed.previous_billing_date
    invoice = bill(subscribed)
    again = subscription_bill_period(
        subscription_id=subscribed.id, period_start=first_start, now=T0 + timedelta(days=40)
    )
    assert invoice is not None and again is None
    assert Invoice.objects.filter(subscription=subscribed).count() == 1
    assert LedgerEntry.objects.filter(customer=customer, is_credit=False).count() == 1
    assert GatewayCharge.objects.count() == 1


@pytest.mark.postgres  # SQLite has no row locks (no FOR UPDATE to count)
@pytest.mark.django_db(transaction=True)
def test_a_wallet_paid_period_locks_the_wallet_once_and_reads_the_endpoints_once(
    subscribed, customer, monkeypatch
):
    """The period's three events (ledger entry, payment, renewal) are all recorded, for one read of
    the business's endpoints; the wallet row is locked once, and the ledger's idempotency key is
    not looked up (its insert succeeds)."""
    monkeypatch.setattr("dodo_billing.webhooks.outbox.webhook_deliveries_enqueue", lambda delivery_ids: None)
    endpoint = webhook_endpoint_create(business=subscribed.business, url="https://example.com/hooks")
    wallet_credit(customer=customer, currency="USD", amount=100_00)
    before = list(WebhookEvent.objects.values_list("pk", flat=True))
    subscribed.refresh_from_db()
    with CaptureQueriesContext(connection) as captured:
        invoice = subscription_bill_period(
            subscription_id=subscribed.id,
            period_start=subscribed.previous_billing_date,
            now=T0 + timedelta(days=40),
        )
    assert invoice.wallet_applied == invoice.subtotal == 500 and invoice.amount_due == 0
    sqls = [query["sql"] for query in captured.captured_queries]
    assert sum('"wallets_wallet"' in sql and "FOR UPDATE" in sql for sql in sqls) == 1
    assert not [sql for sql in sqls if sql.startswith("SELECT") and '"wallets_ledgerentry"' in sql]
    assert sum('"dodo_billing_webhookendpoint"' in sql for sql in sqls) == 1
    sent = WebhookEvent.objects.filter(deliveries__endpoint=endpoint).exclude(pk__in=before)
    assert sorted(sent.values_list("type", flat=True)) == [
        "payment.succeeded",
        "subscription.renewed",
        "wallet.ledger_entry.created",
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_delivery_neither_waits_for_nor_takes_the_subscription_lock(subscribed, customer):
    """Billing an already billed period looks for a row still in that period and due; finding none,
    it locks nothing, so it does not queue behind a writer holding the row and writes nothing."""
    first_start = subscribed.previous_billing_date
    assert bill(subscribed) is not None
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                Subscription.objects.select_for_update().get(pk=subscribed.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
            again = subscription_bill_period(
                subscription_id=subscribed.id, period_start=first_start, now=T0 + timedelta(days=40)
            )
            with connection.cursor() as cursor:
                cursor.execute("SELECT txid_current_if_assigned()")
                assert cursor.fetchone()[0] is None  # no row locked or written
    finally:
        release.set()
        holder.join()
    assert again is None
    assert Invoice.objects.filter(subscription=subscribed).count() == 1


def test_not_due_yet_and_due_listing(subscribed):
    assert bill(subscribed, now=T0 + timedelta(days=10)) is None
    assert subscriptions_due(now=T0 + timedelta(days=10)) == []
    assert subscriptions_due(now=T0 + timedelta(days=40)) == [(subscribed.id, T0)]
    bill(subscribed)  # the first period, up to Feb 28
    assert subscriptions_due(now=T0 + timedelta(days=40)) == []  # the next one ends on Mar 31


def test_included_credits_come_first_and_do_not_roll_over(sandbox, customer, calls_meter):
    product = usage_product(
        sandbox,
        [{"meter_id": calls_meter.id, "price_per_unit": "10", "free_threshold": 0}],
        fixed_price=500,
        included_credits=800,
    )
    card = payment_method_create(customer=customer, card_number=GOOD_CARD)
    subscription = subscription_create(
        business=sandbox, customer=customer, product=product, payment_method=card, billing=BILLING, now=T0
    )
    send(sandbox, customer, "api", [(T0 + timedelta(hours=i), {}) for i in range(60)])  # 600 of usage
    wallet_credit(customer=customer, currency="USD", amount=200)
    first = bill(subscription)
    assert first.subtotal == 1100
    assert (first.credits_applied, first.wallet_applied, first.amount_due) == (800, 200, 100)

    second = bill(subscription, now=T0 + timedelta(days=70))  # no usage: only the fixed fee
    assert second.subtotal == 500
    assert (second.credits_applied, second.wallet_applied, second.amount_due) == (500, 0, 0)
    assert not Payment.objects.filter(invoice=second).exists()  # credits covered everything


def test_failed_card_puts_the_subscription_on_hold_and_retries(subscribed, customer):
    subscription_update(
        subscription=subscribed,
        payment_method=payment_method_create(customer=customer, card_number=DECLINED_CARD),
    )
    now = T0 + timedelta(days=40)
    invoice = bill(subscribed, now=now)
    payment = invoice.payment
    assert payment.status == PaymentStatus.FAILED and payment.error_code == "card_declined"
    assert payment.next_retry_at == now + RETRY_DELAYS[0]
    subscribed.refresh_from_db()
    assert subscribed.status == SubscriptionStatus.ON_HOLD

    payment_retry(payment=payment, now=now + RETRY_DELAYS[0])  # still the declined card
    payment.refresh_from_db()
    assert (payment.status, payment.retry_attempt, payment.next_retry_at) == (
        "failed",
        2,
        now + RETRY_DELAYS[0] + RETRY_DELAYS[1],
    )

    subscription_update(
        subscription=subscribed,
        payment_method=payment_method_create(customer=customer, card_number=GOOD_CARD),
    )
    payment_retry(payment=payment, now=now + timedelta(days=1))
    payment.refresh_from_db()
    subscribed.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.next_retry_at is None
    assert subscribed.status == SubscriptionStatus.ACTIVE
    assert list(payment.charges.values_list("attempt", "outcome")) == [
        (1, "failed"),
        (2, "failed"),
        (3, "succeeded"),
    ]
    with pytest.raises(InvalidRequestParameters):
        payment_retry(payment=payment)


def test_retries_stop_after_the_last_attempt(subscribed, customer):
    subscription_update(
        subscription=subscribed,
        payment_method=payment_method_create(customer=customer, card_number=DECLINED_CARD),
    )
    payment = bill(subscribed).payment
    for _ in RETRY_DELAYS:
        payment_retry(payment=payment)
        payment.refresh_from_db()
    assert payment.retry_attempt == len(RETRY_DELAYS) + 1 and payment.next_retry_at is None
    assert payment.status == PaymentStatus.FAILED


def test_manual_gateway_leaves_payment_pending_until_marked_paid(subscribed, business):
    business.payment_gateway = "manual"
    business.save(update_fields=["payment_gateway"])
    payment = bill(subscribed).payment
    assert payment.status == PaymentStatus.PENDING and payment.gateway == "manual"
    payment_mark_paid(payment=payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert list(payment.charges.values_list("outcome", flat=True)) == ["succeeded"]
    with pytest.raises(InvalidRequestParameters):
        payment_mark_paid(payment=payment)


def test_cancel_at_period_end_bills_the_period_then_ends(subscribed):
    subscription_cancel(subscription=subscribed, at_period_end=True, now=T0 + timedelta(days=5))
    subscribed.refresh_from_db()
    assert subscribed.cancel_at_next_billing_date and subscribed.status == SubscriptionStatus.ACTIVE
    invoice = bill(subscribed)
    subscribed.refresh_from_db()
    assert invoice.subtotal == 500 and subscribed.status == SubscriptionStatus.CANCELLED
    assert bill(subscribed, now=T0 + timedelta(days=100)) is None


def test_cancel_now_bills_usage_and_a_prorated_fee(subscribed, customer, sandbox):
    send(sandbox, customer, "api", [(T0 + timedelta(days=1), {})] * 1)
    now = T0 + timedelta(days=14)  # 14 of the 28 days of Jan 31 → Feb 28
    subscription_cancel(subscription=subscribed, now=now)
    subscribed.refresh_from_db()
    invoice = Invoice.objects.get(subscription=subscribed)
    assert subscribed.status == SubscriptionStatus.CANCELLED and subscribed.cancelled_at == now
    assert invoice.period_end == now
    assert [line.amount for line in invoice.lines.order_by("position")] == [
        250,
        0,
        0,
    ]  # 1 call × 0.5 → 0 (half even)
    with pytest.raises(InvalidRequestParameters):
        subscription_cancel(subscription=subscribed, now=now)


def test_subscription_expires_after_its_total_duration(sandbox, customer, calls_meter):
    product = usage_product(sandbox, [], fixed_price=100, period_count=2, period_interval="Month")
    subscription = subscription_create(
        business=sandbox,
        customer=customer,
        product=product,
        payment_method=payment_method_create(customer=customer, card_number=GOOD_CARD),
        billing=BILLING,
        now=T0,
    )
    bill(subscription, now=T0 + timedelta(days=400))
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    bill(subscription, now=T0 + timedelta(days=400))
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.EXPIRED
    assert Invoice.objects.filter(subscription=subscription).count() == 2


def test_prices_are_frozen_at_subscription_time(subscribed, calls_meter):
    from metering.services.billing import product_update

    product_update(
        product=subscribed.product,
        price={
            "type": "usage_based_price",
            "currency": "USD",
            "fixed_price": 99999,
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Month",
            "subscription_period_count": 20,
            "subscription_period_interval": "Year",
            "meters": [{"meter_id": calls_meter.id, "price_per_unit": "1000", "free_threshold": 0}],
        },
    )
    assert bill(subscribed).subtotal == 500


def test_a_free_trial_comes_first_then_periods_run_from_its_end(sandbox, customer):
    product = product_create(
        business=sandbox,
        name="Monthly",
        price={
            "type": "recurring_price",
            "currency": "USD",
            "price": 900,
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Month",
            "subscription_period_count": 1,
            "subscription_period_interval": "Year",
            "trial_period_days": 14,
        },
    )
    subscription = subscription_create(
        business=sandbox,
        customer=customer,
        product=product,
        payment_method=payment_method_create(customer=customer, card_number=GOOD_CARD),
        billing=BILLING,
        now=T0,
    )
    trial_end = T0 + timedelta(days=14)
    assert (subscription.previous_billing_date, subscription.next_billing_date) == (T0, trial_end)
    assert bill(subscription, now=trial_end) is None  # the trial ends: nothing to pay
    subscription.refresh_from_db()
    assert subscription.previous_billing_date == trial_end
    assert subscription.next_billing_date == datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
    assert not Invoice.objects.exists()
    invoice = bill(subscription, now=T0 + timedelta(days=60))
    assert (invoice.period_start, invoice.subtotal, invoice.payment.status) == (trial_end, 900, "succeeded")
    assert subscription.expires_at == datetime(2027, 2, 14, 9, 0, tzinfo=UTC)


# --- billing's compiled reads ---------------------------------------------------------------------


def test_billing_usage_equals_meters_usage(sandbox, customer, make_customer, tokens_meter, calls_meter):
    """Billing's usage query (compiled once per set of meters, then reused with new values) gives
    what metering.selectors.usage.meters_usage gives, for every aggregation, customer and period."""
    biggest = meter_create(
        business=sandbox,
        name="Largest",
        event_name="llm",
        measurement_unit="tokens",
        aggregation={"type": "max", "key": "tokens"},
    )
    newest = meter_create(
        business=sandbox,
        name="Newest",
        event_name="llm",
        measurement_unit="tokens",
        aggregation={"type": "last", "key": "tokens"},
    )
    other = make_customer()
    day = timedelta(days=1)
    for who, scale in ((customer, 1), (other, 3)):
        send(
            sandbox,
            who,
            "llm",
            [
                (T0 + day, {"model": "gpt-4", "tokens": 1500 * scale}),
                (T0 + 2 * day, {"model": "gpt-4", "tokens": "12"}),  # a string: not a number
                (T0 + 3 * day, {"model": "gpt-3.5", "tokens": 99 * scale}),  # filtered out of the sum
                (T0 + 40 * day, {"model": "gpt-4", "tokens": 7}),  # after the period
            ],
        )
        send(sandbox, who, "api", [(T0 + day + timedelta(minutes=i), {}) for i in range(2 * scale)])
    meters = [tokens_meter, calls_meter, biggest, newest]
    periods = [(T0, T0 + 30 * day), (T0 + 10 * day, T0 + 20 * day), (T0, T0 + 50 * day)]
    for who in (customer, other):
        for start, end in periods:
            expected = meters_usage(meters=meters, customer=who, start=start, end=end)
            assert billing_meters_usage(meters=meters, customer_id=who.id, start=start, end=end) == expected
            assert billing_meters_usage(meters=meters[1:2], customer_id=who.id, start=start, end=end) == {
                calls_meter.id: expected[calls_meter.id]
            }
    assert billing_meters_usage(meters=meters, customer_id=other.id, start=T0, end=T0 + 30 * day) == {
        tokens_meter.id: Decimal(4500),
        calls_meter.id: Decimal(6),
        biggest.id: Decimal(4500),
        newest.id: Decimal(297),
    }


def test_the_compiled_locking_query_finds_only_a_due_billable_period(subscribed):
    start, end = subscribed.previous_billing_date, subscribed.next_billing_date
    with transaction.atomic():
        found = subscription_lock_for_billing(subscription_id=subscribed.id, period_start=start, now=end)
        assert found.pk == subscribed.pk
        # With its related rows, read in the same query.
        assert (found.product.pk, found.customer.pk, found.business.pk) == (
            subscribed.product_id,
            subscribed.customer_id,
            subscribed.business_id,
        )
        assert found.payment_method.card_number == GOOD_CARD
        not_ended = subscription_lock_for_billing(
            subscription_id=subscribed.id, period_start=start, now=end - timedelta(seconds=1)
        )
        other_period = subscription_lock_for_billing(subscription_id=subscribed.id, period_start=end, now=end)
        unknown = subscription_lock_for_billing(subscription_id="sub_unknown", period_start=start, now=end)
    assert not_ended is None and other_period is None and unknown is None
    meters = subscription_priced_meters(subscription_id=subscribed.id)
    assert [(m.position, m.meter.name) for m in meters] == [(0, "GPT-4 tokens"), (1, "API calls")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_billing_reads_are_prepared_once_per_connection_and_again_after_a_reset(subscribed):
    start, end = subscribed.previous_billing_date, subscribed.next_billing_date

    def lock():
        with transaction.atomic():
            return subscription_lock_for_billing(subscription_id=subscribed.id, period_start=start, now=end)

    assert lock().pk == subscribed.pk  # prepared on this connection by now
    with CaptureQueriesContext(connection) as again:
        assert lock().pk == subscribed.pk
    statements = [query["sql"].split()[0] for query in again.captured_queries]
    assert "EXECUTE" in statements and "PREPARE" not in statements
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # the session lost its prepared statements behind our back
    with pytest.raises(DatabaseError):
        lock()  # fails once …
    assert lock().pk == subscribed.pk  # … and is prepared again


def test_billing_writes_its_rows_as_the_orm_does(subscribed, customer):
    """Invoice, lines, payment and gateway charge go through dodo_billing.db.writes: every
    field as the ORM writes it, the lines' ids set on them, the objects saved (a later save
    updates)."""
    invoice = bill(subscribed)
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.subtotal, stored.amount_due, stored.period_start, stored.period_end) == (
        invoice.subtotal,
        invoice.amount_due,
        invoice.period_start,
        invoice.period_end,
    )
    lines = list(stored.lines.order_by("position"))
    assert [(line.kind, line.description, line.amount) for line in lines] == [
        ("fixed", "API Pro (usage-based fee)", 500),
        ("usage", "GPT-4 tokens (tokens)", 0),
        ("usage", "API calls (calls)", 0),
    ]
    assert lines[1].price_per_unit == Decimal(2) and lines[1].consumed_units == Decimal(0)
    payment = Payment.objects.get(invoice=stored)
    assert (payment.total_amount, payment.gateway_amount) == (500, 500)
    assert payment.billing == subscribed.billing and payment.billing["city"] == "Austin"  # JSON
    charge = GatewayCharge.objects.get(payment=payment)
    assert (charge.attempt, charge.amount, charge.outcome) == (1, 500, "succeeded")
    assert not invoice._state.adding and invoice.payment.pk == payment.pk


def test_moving_a_subscription_on_updates_its_row_or_fails(subscribed):
    subscribed.metadata = {"not": "written"}  # not among the fields written
    subscribed.period_index = 7
    update_fields(subscribed, ["period_index", "updated_at"])
    stored = Subscription.objects.get(pk=subscribed.pk)
    assert (stored.period_index, stored.metadata) == (7, {})
    subscribed.pk = "sub_missing"
    with pytest.raises(DatabaseError):
        update_fields(subscribed, ["period_index"])
