"""A usage value that cannot be priced never blocks billing for good.

Ingestion bounds numeric metadata; a period whose amount still cannot be computed or charged stops
being retried after ``BILLING_MAX_ATTEMPTS`` and waits, visible, for an operator
(``needs_attention``); cancelling always takes effect; usage pages never answer 5xx.
"""

import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from dodo_billing.models import WebhookEvent
from dodo_billing.webhooks.endpoints import webhook_endpoint_create
from metering.models import Event, Invoice, Subscription, SubscriptionStatus
from metering.services.billing import (
    product_create,
    subscription_bill_period,
    subscription_create,
    subscriptions_due,
)
from metering.services.billing_attention import (
    BillingNotBlocked,
    subscription_billing_failed,
    subscription_billing_retry,
)
from metering.tasks import bill_subscription_periods
from tests.conftest import assert_error, post_json

pytestmark = pytest.mark.django_db

# Anchored on the run's own clock: the first monthly period has ended, the second has not.
T0 = (timezone.now() - timedelta(days=45)).replace(microsecond=0)
HUGE = 1e300  # a JSON number far beyond any price: stored by an older version, or written directly


@pytest.fixture
def tokens(make_meter):
    return make_meter(
        name="Tokens", event_name="llm", measurement_unit="tokens", aggregation={"type": "sum", "key": "v"}
    )


@pytest.fixture
def product(business, tokens):
    return product_create(
        business=business,
        name="API Pro",
        price={
            "type": "usage_based_price",
            "currency": "USD",
            "fixed_price": 500,
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Month",
            "subscription_period_count": 10,
            "subscription_period_interval": "Year",
            "meters": [{"meter_id": tokens.id, "price_per_unit": "2", "free_threshold": 0}],
        },
    )


@pytest.fixture
def subscription(business, customer, product):
    return subscription_create(
        business=business, customer=customer, product=product, billing={"country": "US"}, now=T0
    )


def store_event(business, customer, value, *, at=T0 + timedelta(days=3), event_id="big"):
    """An event as an earlier version (without bounds) would have stored it."""
    return Event.objects.create(
        business=business,
        customer=customer,
        event_id=event_id,
        event_name="llm",
        timestamp=at,
        metadata={"v": value},
    )


# --- ingestion bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["1e300", "-1e300", str(10**400), str(2**53), "9007199254740992.5", "-1e16", "1e400"],
)
def test_ingest_refuses_numbers_out_of_range(api, customer, raw):
    good = json.dumps(
        {"event_id": "ok", "customer_id": customer.id, "event_name": "llm", "metadata": {"v": 1}}
    )
    bad = json.dumps(
        {"event_id": "bad", "customer_id": customer.id, "event_name": "llm", "metadata": {"a": 2}}
    )
    body = '{"events": [' + good + ", " + bad[:-2] + ', "v": ' + raw + "}}]}"
    error = assert_error(post_json(api, "/api/events/ingest", body), 422, "INVALID_REQUEST_BODY")
    assert error["index"] == 1 and error["field"] == "metadata.v", error
    assert "events[1].metadata.v" in error["message"] and "9,007,199,254,740,991" in error["message"]
    assert not Event.objects.exists()


@pytest.mark.parametrize("value", [2**53 - 1, -(2**53 - 1), 9.007199254740991e15, 0.30000000000000004, 1e-20])
def test_ingest_accepts_numbers_in_range(api, customer, value):
    events = [{"event_id": "e", "customer_id": customer.id, "event_name": "llm", "metadata": {"v": value}}]
    response = post_json(api, "/api/events/ingest", {"events": events})
    assert response.status_code == 200, response.content
    assert Event.objects.get().metadata == {"v": value}


# --- usage pages never 5xx ------------------------------------------------------------------------


def test_usage_history_prices_any_stored_value(api, business, customer, subscription, tokens):
    store_event(business, customer, HUGE)
    with override_settings(ALLOWED_HOSTS=["*"]):
        response = api.get(f"/api/subscriptions/{subscription.id}/usage-history")
    assert response.status_code == 200, response.content
    (current,) = response.json()["items"]
    (meter,) = current["meters"]
    assert meter["consumed_units"] == "1" + "0" * 300
    assert meter["total_price"] == 2 * 10**300  # exact: 1e300 units at 2 minor units each


# --- cycle billing: bounded attempts, then needs_attention ----------------------------------------


def _due(now):
    return [subscription_id for subscription_id, _ in subscriptions_due(now=now)]


@override_settings(BILLING_MAX_ATTEMPTS=3)
def test_a_period_that_cannot_be_billed_needs_attention_after_bounded_attempts(
    business, customer, subscription
):
    webhook_endpoint_create(business=business, url="https://hooks.example.com/a")
    store_event(business, customer, HUGE)
    after = timezone.now()
    attempts = []
    for attempt in range(1, 5):
        if subscription.id not in _due(after):
            break
        attempts.append(attempt)
        bill_subscription_periods.apply(args=[[[subscription.id, T0.isoformat()]]])
    assert attempts == [1, 2, 3]  # then the sweep stops finding it
    subscription.refresh_from_db()
    assert subscription.billing_attempts == 3
    assert subscription.needs_attention_at is not None
    assert "exceeds the largest amount" in subscription.billing_error
    assert subscription.status == SubscriptionStatus.ACTIVE and subscription.previous_billing_date == T0
    assert not Invoice.objects.exists()
    (failed,) = WebhookEvent.objects.filter(type="subscription.failed")
    payload = json.loads(failed.payload)
    assert payload["data"]["subscription_id"] == subscription.id
    assert payload["data"]["billing_problem"]["reason"] == subscription.billing_error
    assert payload["data"]["billing_problem"]["period_start"] == T0.isoformat().replace("+00:00", "Z")

    # The operator removes the cause and retries: the period is billed once.
    Event.objects.filter(event_id="big").delete()
    invoice = subscription_billing_retry(subscription=subscription, now=after)
    subscription.refresh_from_db()
    assert invoice is not None and invoice.subtotal == 500
    assert subscription.needs_attention_at is None and subscription.billing_attempts == 0
    assert subscription.billing_error == "" and subscription.previous_billing_date > T0
    assert subscription_bill_period(subscription_id=subscription.id, period_start=T0, now=after) is None
    assert Invoice.objects.count() == 1


def test_a_failure_of_a_billed_period_counts_nothing(subscription):
    """A failure reported for a period that another worker billed meanwhile is not recorded."""
    after = timezone.now()
    subscription_bill_period(subscription_id=subscription.id, period_start=T0, now=after)
    subscription_billing_failed(subscription_id=subscription.id, period_start=T0, reason="boom", now=after)
    subscription.refresh_from_db()
    assert subscription.billing_attempts == 0 and subscription.needs_attention_at is None


def test_success_resets_the_attempts(business, customer, subscription):
    after = timezone.now()
    subscription_billing_failed(subscription_id=subscription.id, period_start=T0, reason="boom", now=after)
    subscription.refresh_from_db()
    assert subscription.billing_attempts == 1 and subscription.billing_error == "boom"
    subscription_bill_period(subscription_id=subscription.id, period_start=T0, now=after)
    subscription.refresh_from_db()
    assert subscription.billing_attempts == 0 and subscription.billing_error == ""


# --- cancelling always takes effect ---------------------------------------------------------------


def test_cancel_takes_effect_when_the_final_period_cannot_be_priced(api, business, customer, subscription):
    webhook_endpoint_create(business=business, url="https://hooks.example.com/a")
    store_event(business, customer, HUGE, at=timezone.now() - timedelta(minutes=1))
    Subscription.objects.filter(pk=subscription.pk).update(
        previous_billing_date=timezone.now() - timedelta(days=2),
        next_billing_date=timezone.now() + timedelta(days=20),
    )
    response = api.patch(
        f"/api/subscriptions/{subscription.id}",
        data=json.dumps({"status": "cancelled"}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELLED and subscription.cancelled_at is not None
    assert subscription.needs_attention_at is not None
    assert "exceeds the largest amount" in subscription.billing_error
    assert not Invoice.objects.exists()
    assert WebhookEvent.objects.filter(type="subscription.cancelled").count() == 1
    assert WebhookEvent.objects.filter(type="subscription.failed").count() == 1

    # Retried once the cause is gone: the final partial period is billed, prorated, exactly once.
    Event.objects.filter(event_id="big").delete()
    invoice = subscription_billing_retry(subscription=subscription)
    subscription.refresh_from_db()
    assert invoice.period_end == subscription.cancelled_at
    assert 0 < invoice.subtotal < 500
    assert subscription.needs_attention_at is None and subscription.status == SubscriptionStatus.CANCELLED
    with pytest.raises(BillingNotBlocked):
        subscription_billing_retry(subscription=subscription)
    assert Invoice.objects.count() == 1


def test_retry_of_a_subscription_that_needs_nothing_is_refused(api, subscription):
    with pytest.raises(BillingNotBlocked):
        subscription_billing_retry(subscription=subscription)


# --- every face shows it and never answers 5xx ----------------------------------------------------


@pytest.fixture
def stuck(business, customer, subscription):
    """A subscription whose first period gave up after its attempts, with a legacy 1e300 event."""
    store_event(business, customer, HUGE)
    with override_settings(BILLING_MAX_ATTEMPTS=1):
        bill_subscription_periods.apply(args=[[[subscription.id, T0.isoformat()]]])
    subscription.refresh_from_db()
    assert subscription.needs_attention_at is not None
    return subscription


def test_usage_pages_answer_with_any_stored_value(staff_client, business, customer, stuck, tokens):
    day = (T0 + timedelta(days=3)).date().isoformat()
    pages = [
        "/",
        "/subscriptions/",
        f"/customers/{customer.id}/",
        f"/customers/{customer.id}/subscriptions",
        f"/customers/{customer.id}/subscriptions?export=csv",
        f"/meters/{tokens.id}/",
        "/events/",
        f"/reports/new?dataset=usage&period=custom&start={day}&end={day}&group_by=day"
        f"&aggregates=usage&meter={tokens.id}&run=1",
        f"/reports/new?dataset=usage&period=custom&start={day}&end={day}&group_by=customer"
        f"&aggregates=usage&meter={tokens.id}&run=1",
    ]
    for page in pages:
        response = staff_client.get(page)
        assert response.status_code == 200, (page, response.status_code)
    from tests.portal.conftest import signed_in_client

    portal = signed_in_client(customer)
    for page in ["/portal/", "/portal/subscriptions", f"/portal/subscriptions/{stuck.id}"]:
        response = portal.get(page)
        assert response.status_code == 200, (page, response.status_code)


def test_the_dashboard_shows_it_and_retries_it(staff_client, business, customer, stuck):
    html = staff_client.get("/subscriptions/").content.decode()
    assert 'id="billing-attention"' in html and "needs attention" in html
    assert "exceeds the largest amount" in html
    filtered = staff_client.get("/subscriptions/", {"needs_attention": "true"}).content.decode()
    assert stuck.id in filtered
    tab = staff_client.get(f"/customers/{customer.id}/subscriptions").content.decode()
    assert "Retry billing" in tab

    url = f"/customers/{customer.id}/subscriptions/{stuck.id}/retry-billing"
    assert staff_client.get(url).status_code == 405
    # The cause is still there: the retry fails, says why, writes nothing.
    failed = staff_client.post(url, follow=True)
    assert "failed again" in failed.content.decode()
    stuck.refresh_from_db()
    assert stuck.needs_attention_at is not None and not Invoice.objects.exists()
    Event.objects.filter(event_id="big").delete()
    done = staff_client.post(url, follow=True).content.decode()
    assert "is billed: invoice" in done
    stuck.refresh_from_db()
    assert stuck.needs_attention_at is None and Invoice.objects.count() == 1


def test_another_business_cannot_retry(client, other_staff_user, customer, stuck):
    client.force_login(other_staff_user)
    response = client.post(f"/customers/{customer.id}/subscriptions/{stuck.id}/retry-billing")
    assert response.status_code == 404
    stuck.refresh_from_db()
    assert stuck.needs_attention_at is not None


def test_admin_lists_filters_and_retries(client, stuck):
    from django.contrib.admin.utils import quote
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser(username="op", password="x"))
    listing = client.get("/admin/metering/subscription/", {"needs_attention": "yes"}).content.decode()
    assert stuck.id in listing and "needs attention" in listing
    assert (
        stuck.id
        not in client.get("/admin/metering/subscription/", {"needs_attention": "no"}).content.decode()
    )
    page = client.get(f"/admin/metering/subscription/{quote(stuck.id)}/change/")
    assert page.status_code == 200 and "exceeds the largest amount" in page.content.decode()
    Event.objects.filter(event_id="big").delete()
    response = client.post(
        "/admin/metering/subscription/",
        {"action": "retry_billing", "_selected_action": [stuck.id]},
        follow=True,
    )
    assert "Billed 1 subscription" in response.content.decode()
    stuck.refresh_from_db()
    assert stuck.needs_attention_at is None and Invoice.objects.count() == 1
