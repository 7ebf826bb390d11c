"""The official SDK's ``client.webhooks`` (and ``.headers``) in strict mode against a live server, and
``client.webhooks.unwrap`` verifying a delivery that the server sent to a local receiver."""

import dodopayments
import pytest

from dodo_billing.models import WebhookDelivery, WebhookEndpoint
from tests.dodo_billing.test_webhooks import Receiver, eager, private_targets  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

URL = "https://merchant.example.com/hooks"


@pytest.fixture
def client(sdk_factory, api_key):
    return sdk_factory(api_key)


def test_create_retrieve_update_delete(client, business):
    created = client.webhooks.create(
        url=URL,
        description="Billing",
        filter_types=["payment.succeeded", "subscription.renewed"],
        headers={"X-Env": "prod"},
        metadata={"team": "billing"},
        rate_limit=10,
        idempotency_key="sdk-1",
    )
    assert created.id.startswith("wh_") and created.url == URL
    assert created.filter_types == ["payment.succeeded", "subscription.renewed"]
    assert (created.metadata, created.rate_limit, created.disabled) == ({"team": "billing"}, 10, False)
    assert (
        client.webhooks.create(
            url=URL,
            description="Billing",
            filter_types=["payment.succeeded", "subscription.renewed"],
            headers={"X-Env": "prod"},
            metadata={"team": "billing"},
            rate_limit=10,
            idempotency_key="sdk-1",
        )
        == created
    )

    assert client.webhooks.retrieve(created.id) == created
    updated = client.webhooks.update(created.id, description="Renamed", disabled=True, rate_limit=None)
    assert (updated.description, updated.disabled, updated.rate_limit) == ("Renamed", True, None)
    cleared = client.webhooks.update(created.id, filter_types=None, metadata=None)
    assert (cleared.filter_types, cleared.metadata, cleared.url) == ([], {}, URL)

    secret = client.webhooks.retrieve_secret(created.id)
    assert secret.secret == WebhookEndpoint.objects.get(pk=created.id).secret

    assert client.webhooks.delete(created.id) is None
    with pytest.raises(dodopayments.NotFoundError):
        client.webhooks.retrieve(created.id)
    assert WebhookEndpoint.objects.filter(business=business).count() == 1


def test_headers_retrieve_and_update(client):
    created = client.webhooks.create(url=URL, headers={"X-Env": "prod", "Authorization": "Bearer t"})
    headers = client.webhooks.headers.retrieve(created.id)
    assert headers.headers == {"X-Env": "prod"} and headers.sensitive == ["Authorization"]
    assert client.webhooks.headers.update(created.id, headers={"X-Env": "staging", "X-Team": "a"}) is None
    headers = client.webhooks.headers.retrieve(created.id)
    assert headers.headers == {"X-Env": "staging", "X-Team": "a"} and headers.sensitive == ["Authorization"]


def test_list_auto_paginates_with_the_cursor(client, other_api):
    made = [client.webhooks.create(url=f"{URL}/{i}").id for i in range(7)]
    page = client.webhooks.list(limit=3)
    assert [w.id for w in page.data] == made[::-1][:3] and page.done is False and page.iterator
    assert [w.id for w in client.webhooks.list(limit=3)] == made[::-1]  # every page, each once
    assert [w.id for w in client.webhooks.list()] == made[::-1]
    last = client.webhooks.list(limit=100)
    assert last.done is True and last.iterator is None and not last.has_next_page()


def test_errors_map_to_the_sdk_exceptions(client, sdk_factory, other_business):
    from dodo_billing.services import api_key_create

    with pytest.raises(dodopayments.UnprocessableEntityError) as bad:
        client.webhooks.create(url="ftp://merchant.example.com/")
    assert bad.value.body["code"] == "INVALID_REQUEST_BODY"
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.webhooks.create(url=URL, filter_types=["dispute.opened"])
    created = client.webhooks.create(url=URL, idempotency_key="k")
    with pytest.raises(dodopayments.ConflictError):
        client.webhooks.create(url=URL + "/other", idempotency_key="k")
    other = sdk_factory(api_key_create(business=other_business, name="o")[1])
    for call in (other.webhooks.retrieve, other.webhooks.retrieve_secret, other.webhooks.headers.retrieve):
        with pytest.raises(dodopayments.NotFoundError):
            call(created.id)
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.webhooks.list(limit=1000)
    assert WebhookEndpoint.objects.count() == 1


def test_a_delivery_sent_by_the_server_unwraps_with_the_sdk(client, customer, eager):  # noqa: F811
    receiver = Receiver()
    try:
        endpoint = client.webhooks.create(url=receiver.url, filter_types=["wallet.ledger_entry.created"])
        client.customers.wallets.ledger_entries.create(
            customer.id, amount=2500, currency="USD", entry_type="credit", reason="top-up"
        )
        (request,) = receiver.wait_for(1)
    finally:
        receiver.close()
    key = client.webhooks.retrieve_secret(endpoint.id).secret
    event = client.webhooks.unwrap(request["body"], headers=request["headers"], key=key)
    assert event.type == "wallet.ledger_entry.created" and event.business_id == customer.business_id
    entries = client.customers.wallets.ledger_entries.list(customer.id)
    assert event.data.id == entries.items[0].id
    assert WebhookDelivery.objects.get().status == "succeeded"
