"""Per-key rate limits: 429 TOO_MANY_REQUESTS with retry-after over the limit, counted per key,
remaining requests in a header, configurable and switchable off; the SDK backs off and retries."""

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from dodo_billing.api.throttling import parse_rate_limits
from dodo_billing.services import api_key_create
from tests.conftest import assert_error, post_json
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def test_limits_parse_and_bad_values_are_refused():
    assert parse_rate_limits("6000/min,200/s") == [(6000, 60), (200, 1)]
    assert parse_rate_limits("off") == parse_rate_limits("") == []
    for bad in ("ten/min", "5/fortnight", "0/s", "5"):
        with pytest.raises(ImproperlyConfigured):
            parse_rate_limits(bad)


def test_over_the_limit_is_429_with_retry_after(api, customer, settings):
    settings.API_RATE_LIMIT = "3/min"
    url = f"/api/customers/{customer.id}"
    remaining = [api.get(url)["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    response = api.get(url)
    body = assert_error(response, 429, "TOO_MANY_REQUESTS")
    assert body["message"]
    assert 1 <= int(response["retry-after"]) <= 60
    assert response["X-RateLimit-Remaining"] == "0"


def test_a_refused_write_writes_nothing(api, customer, settings):
    settings.API_RATE_LIMIT = "1/min"
    url = f"/api/customers/{customer.id}/wallets/ledger-entries"
    body = {"amount": 100, "currency": "USD", "entry_type": "credit"}
    assert post_json(api, url, body).status_code == 200
    assert_error(post_json(api, url, body), 429, "TOO_MANY_REQUESTS")
    assert LedgerEntry.objects.filter(customer=customer).count() == 1


def test_limits_are_per_key(api, business, customer, settings):
    from rest_framework.test import APIClient

    settings.API_RATE_LIMIT = "2/min"
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(business=business, name='second')[1]}")
    url = f"/api/customers/{customer.id}"
    assert [api.get(url).status_code for _ in range(3)] == [200, 200, 429]
    assert [other.get(url).status_code for _ in range(2)] == [200, 200]


def test_burst_limit_per_second(api, customer, settings):
    import time

    settings.API_RATE_LIMIT = "100/min,2/s"
    url = f"/api/customers/{customer.id}"
    time.sleep(1 - time.time() % 1)  # start at the top of a second
    assert [api.get(url).status_code for _ in range(3)] == [200, 200, 429]


def test_off_means_no_limit(api, customer, settings):
    settings.API_RATE_LIMIT = "off"
    url = f"/api/customers/{customer.id}"
    assert {api.get(url).status_code for _ in range(20)} == {200}


def test_requests_without_a_valid_key_are_401_not_counted(client, customer, settings):
    settings.API_RATE_LIMIT = "1/min"
    for _ in range(3):
        assert_error(client.get(f"/api/customers/{customer.id}"), 401, "UNAUTHORIZED")


@pytest.mark.django_db(transaction=True)
def test_the_sdk_waits_for_retry_after_and_succeeds(sdk_factory, api_key, customer, settings):
    import time

    import dodopayments

    settings.API_RATE_LIMIT = "1/s"
    impatient = sdk_factory(api_key)
    patient = sdk_factory(api_key, max_retries=3)
    time.sleep(1 - time.time() % 1)  # start at the top of a second: both calls share its window
    impatient.customers.retrieve(customer.id)
    with pytest.raises(dodopayments.RateLimitError):
        impatient.customers.retrieve(customer.id)
    started = time.monotonic()
    assert patient.customers.retrieve(customer.id).customer_id == customer.id
    assert time.monotonic() - started < 5
