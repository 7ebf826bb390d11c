"""Each PostgreSQL fast path gives what the ORM gives for the same work (dodo_billing.db)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Sum
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from dodo_billing.db.compiled import CompiledQuery
from dodo_billing.db.copy import copy_insert_new
from dodo_billing.db.writes import insert, update_fields
from metering.models import Event
from wallets.models import Wallet

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _customers_by_name(shape, *, business_id, email):
    return (
        Customer.objects.select_related("business")
        .filter(business_id=business_id, email=email)
        .order_by("id")
    )


def _events_per_name(shape, *, business_id, since):
    return (
        Event.objects.filter(business_id=business_id, timestamp__gte=since, event_name__in=shape)
        .order_by()
        .values("event_name")
        .annotate(events=Count("id"), rows=Sum("id"))
    )


def _rows(objects):
    return [{f.attname: getattr(o, f.attname) for f in type(o)._meta.concrete_fields} for o in objects]


@pytest.fixture
def events(business, customer, make_customer):
    other = make_customer(email="other@example.com")
    now = timezone.now()
    rows = [
        Event(
            business=business,
            customer=c,
            event_id=f"e{i}",
            event_name=name,
            timestamp=now - timedelta(hours=i),
        )
        for i, (c, name) in enumerate([(customer, "a"), (customer, "b"), (other, "a"), (other, "c")] * 3)
    ]
    Event.objects.bulk_create(rows)
    return now


@pytest.mark.parametrize("prepared", [True, False])
def test_compiled_queries_return_what_the_orm_returns(business, customer, make_customer, events, prepared):
    make_customer(email=customer.email)  # two rows for one email
    customers = CompiledQuery(f"test.customers.{prepared}", _customers_by_name)
    per_name = CompiledQuery(f"test.events.{prepared}", _events_per_name)
    with override_settings(DB_PREPARED_STATEMENTS=prepared):
        for email in (customer.email, "other@example.com", "nobody@example.com"):
            expected = list(_customers_by_name(None, business_id=business.id, email=email))
            got = customers.run(business_id=business.id, email=email)
            assert _rows(got) == _rows(expected)
            assert [c.business.name for c in got] == [c.business.name for c in expected]  # select_related
        for since_hours, names in ((2, ("a", "b")), (100, ("a", "b")), (100, ("a", "c", "x"))):
            since = events - timedelta(hours=since_hours)
            expected = list(_events_per_name(names, business_id=business.id, since=since))
            got = per_name.run(key=names, shape=names, business_id=business.id, since=since)
            assert sorted(got, key=lambda r: r["events"]) == sorted(
                [{"events": r["events"], "rows": r["rows"]} for r in expected], key=lambda r: r["events"]
            )
        with CaptureQueriesContext(connection) as captured:
            customers.run(business_id=business.id, email=customer.email)
    executed = [q["sql"] for q in captured.captured_queries]
    assert len(executed) == 1
    assert executed[0].startswith("EXECUTE ") == prepared  # off: the compiled SQL is sent as it is


def test_a_lost_prepared_statement_is_prepared_again(business, customer):
    query = CompiledQuery("test.reset", _customers_by_name)
    assert len(query.run(business_id=business.id, email=customer.email)) == 1
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(DatabaseError), transaction.atomic():
        query.run(business_id=business.id, email=customer.email)
    assert len(query.run(business_id=business.id, email=customer.email)) == 1


def test_insert_writes_what_bulk_create_writes(business):
    made = [
        Customer(business=business, email="a@example.com", name="A", metadata={"k": "v"}),
        Customer(business=business, email="b@example.com", name="B", phone_number="+1 555"),
    ]
    insert(made)
    assert all(c.pk is not None and not c._state.adding for c in made)
    twins = [
        Customer(business=business, email="a@example.com", name="A", metadata={"k": "v"}),
        Customer(business=business, email="b@example.com", name="B", phone_number="+1 555"),
    ]
    Customer.objects.bulk_create(twins)
    fields = ["business_id", "email", "name", "phone_number", "metadata"]
    for mine, theirs in zip(made, twins, strict=True):
        assert Customer.objects.filter(pk=mine.pk).values(*fields).get() == (
            Customer.objects.filter(pk=theirs.pk).values(*fields).get()
        )


def test_update_fields_updates_as_save_does_and_refuses_a_missing_row(customer):
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    wallet.low_balance_threshold = 700
    update_fields(wallet, ["low_balance_threshold"])
    assert Wallet.objects.get(pk=wallet.pk).low_balance_threshold == 700
    ghost = Wallet(pk=10**12, customer=customer, currency="USD")
    with pytest.raises(DatabaseError, match="changed 0 rows"), transaction.atomic():
        update_fields(ghost, ["low_balance_threshold"])


def test_copy_insert_new_skips_what_is_stored_as_ignore_conflicts_does(business, customer):
    now = timezone.now()
    Event.objects.create(business=business, customer=customer, event_id="old", event_name="x", timestamp=now)
    rows = [(customer.id, event_id, "x", now, '{"n": 1.5}') for event_id in ("new2", "old", "new1")]
    inserted = copy_insert_new(
        model=Event,
        columns=["customer_id", "event_id", "event_name", "timestamp", "metadata"],
        rows=rows,
        constants={"business_id": business.id, "ingested_at": now},
        unique=("business", "event_id"),
        order_by="event_id",
    )
    assert inserted == 2
    stored = {e.event_id: e for e in Event.objects.filter(business=business)}
    assert set(stored) == {"old", "new1", "new2"}
    assert stored["new1"].metadata == {"n": 1.5} and stored["new1"].ingested_at == now
    assert stored["new1"].id < stored["new2"].id  # inserted in event_id order
    assert stored["old"].metadata is None  # untouched
    assert Decimal(str(stored["new2"].metadata["n"])) == Decimal("1.5")
    # The staging table is empty again, so the next call in this transaction starts afresh.
    with connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM "metering_event_stage"')
        assert cursor.fetchone()[0] == 0
