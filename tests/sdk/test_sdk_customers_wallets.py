"""The official dodopayments SDK, unchanged and in strict mode, against a live server."""

from datetime import UTC, datetime, timedelta

import dodopayments
import pytest

from customers.models import Customer
from dodo_billing.services import api_key_create
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(sdk_factory, api_key):
    return sdk_factory(api_key)


def test_customers_create_retrieve_update_list(client, business):
    created = client.customers.create(
        email="jane@example.com", name="Jane Doe", metadata={"plan": "pro", "seats": 5, "beta": True}
    )
    assert created.customer_id.startswith("cus_")
    assert created.business_id == business.id
    assert created.metadata == {"plan": "pro", "seats": 5, "beta": True}

    fetched = client.customers.retrieve(created.customer_id)
    assert fetched.email == "jane@example.com" and fetched.blocked_at is None

    updated = client.customers.update(
        created.customer_id, name="Jane Q. Doe", phone_number=None, metadata={"a": 1}
    )
    assert (updated.name, updated.phone_number, updated.metadata) == ("Jane Q. Doe", None, {"a": 1})
    updated = client.customers.update(created.customer_id, phone_number="+15555550100", preferred_locale="fr")
    assert updated.phone_number == "+15555550100" and updated.preferred_locale == "fr"

    page = client.customers.list(email="jane@example.com", page_size=10, page_number=0)
    assert [c.customer_id for c in page.items] == [created.customer_id]
    assert client.customers.list(name="q. d").items[0].customer_id == created.customer_id
    later = datetime.now(UTC) + timedelta(hours=1)
    assert client.customers.list(created_at_gte=later).items == []
    assert len(client.customers.list(created_at_lte=later).items) == 1


def test_auto_pagination_runs_past_the_last_page(client, make_customer):
    made = {make_customer().id for _ in range(25)}
    seen = [c.customer_id for c in client.customers.list(page_size=10)]
    # The SDK asks for pages 0, 2, 3 (it skips page 1, a known client quirk) and stops on the
    # empty page 3: 10 + 5 customers, all distinct, all ours, and the loop ends.
    assert len(seen) == 15 and len(set(seen)) == 15 and set(seen) <= made
    seen_from_1 = [c.customer_id for c in client.customers.list(page_size=10, page_number=1)]
    assert len(seen_from_1) == 15  # pages 1, 2, then the empty page 3
    every = [c.customer_id for c in client.customers.list(page_size=100)]
    assert set(every) == made


def test_wallets_and_ledger_entries(client, customer):
    wallets = client.customers.wallets.list(customer.id)
    assert [(w.currency, w.balance) for w in wallets.items] == [("USD", 0), ("INR", 0)]
    assert wallets.total_balance_usd == 0

    w = client.customers.wallets.ledger_entries.create(
        customer.id,
        amount=1000,
        currency="USD",
        entry_type="credit",
        reason="smoke credit",
        idempotency_key="c1",
    )
    assert (w.currency, w.balance, w.customer_id) == ("USD", 1000, customer.id)
    w = client.customers.wallets.ledger_entries.create(
        customer.id,
        amount=250,
        currency="USD",
        entry_type="debit",
        reason="smoke debit",
        idempotency_key="d1",
    )
    assert w.balance == 750
    client.customers.wallets.ledger_entries.create(
        customer.id, amount=5000, currency="INR", entry_type="credit"
    )

    entries = client.customers.wallets.ledger_entries.list(
        customer.id, currency="USD", page_size=10, page_number=0
    )
    assert [(e.is_credit, e.amount, e.before_balance, e.after_balance) for e in entries.items] == [
        (False, 250, 1000, 750),
        (True, 1000, 0, 1000),
    ]
    assert all(e.event_type == "merchant_adjustment" for e in entries.items)
    assert len(list(client.customers.wallets.ledger_entries.list(customer.id, page_size=1))) >= 2
    assert client.customers.wallets.list(customer.id).total_balance_usd == 750 + 57  # ₹50 at 0.0114


def test_errors_surface_as_sdk_exceptions(client, sdk_factory, customer, other_business):
    with pytest.raises(dodopayments.NotFoundError) as not_found:
        client.customers.retrieve("cus_doesnotexist")
    assert not_found.value.body["code"] == "NOT_FOUND"

    with pytest.raises(dodopayments.BadRequestError) as insufficient:
        client.customers.wallets.ledger_entries.create(
            customer.id, amount=1, currency="USD", entry_type="debit"
        )
    assert insufficient.value.body["code"] == "INSUFFICIENT_WALLET_FUNDS"
    assert insufficient.value.status_code == 400 and "Insufficient balance" in insufficient.value.message

    with pytest.raises(dodopayments.UnprocessableEntityError) as invalid:
        client.customers.create(email="not-an-email", name="X")
    assert invalid.value.body["code"] == "INVALID_REQUEST_BODY"

    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.customers.list(page_size=101)

    with pytest.raises(dodopayments.AuthenticationError):
        sdk_factory("dbk_wrong_key").customers.list()

    foreign = sdk_factory(api_key_create(business=other_business, name="x")[1])
    with pytest.raises(dodopayments.NotFoundError):
        foreign.customers.wallets.list(customer.id)
    assert Customer.objects.count() == 1


def test_idempotency_conflict_is_not_retried_by_the_sdk(sdk_factory, api_key, customer):
    retrying = sdk_factory(api_key, max_retries=2)  # the SDK's default retry policy
    retrying.customers.wallets.ledger_entries.create(
        customer.id, amount=100, currency="USD", entry_type="credit", idempotency_key="once"
    )
    with pytest.raises(dodopayments.ConflictError) as conflict:
        retrying.customers.wallets.ledger_entries.create(
            customer.id, amount=100, currency="USD", entry_type="credit", idempotency_key="once"
        )
    assert conflict.value.response.headers["x-should-retry"] == "false"
    assert conflict.value.body["same_parameters"] is True
    assert LedgerEntry.objects.filter(customer=customer).count() == 1
