"""Concurrent ingestion: overlapping batches from real threads, over HTTP, on PostgreSQL.

Every event_id must be stored exactly once, and the ingested counts must add up to the number of
distinct ids: no request may count an event another request stored, none may fail or deadlock.
"""

import random
import threading
from collections import Counter

import httpx
import pytest
from django.db.models import Count

from dodo_billing.services import api_key_create
from metering.models import Event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def fire(live_server, requests):
    """POST every (api_key, body) to /api/events/ingest at once, each from its own thread."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def worker(index, api_key, body):
        headers = {"Authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as client:
            barrier.wait()
            try:
                response = client.post("/api/events/ingest", json=body)
                results[index] = (response.status_code, response.json())
            except Exception as exc:  # reported by the status assertion in the test
                results[index] = ("exception", repr(exc))

    threads = [threading.Thread(target=worker, args=(i, key, body)) for i, (key, body) in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def batch(customer, numbers, *, reverse=False, shuffle_seed=None):
    events = [
        {
            "event_id": f"evt-{n:04}",
            "customer_id": customer.id,
            "event_name": "api.call",
            "metadata": {"n": n},
        }
        for n in numbers
    ]
    if reverse:
        events.reverse()
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(events)
    return {"events": events}


def test_overlapping_batches_store_every_id_once(live_server, api_key, customer):
    # Thread k sends ids k*50 .. k*50+199: every id is in up to 4 batches, in different orders.
    requests = [
        (
            api_key,
            batch(
                customer,
                range(k * 50, k * 50 + 200),
                reverse=k % 2 == 1,
                shuffle_seed=k if k % 3 == 0 else None,
            ),
        )
        for k in range(8)
    ]
    distinct = {e["event_id"] for _, body in requests for e in body["events"]}
    assert len(distinct) == 7 * 50 + 200

    results = fire(live_server, requests)
    assert all(status == 200 for status, _ in results), results
    assert sum(body["ingested_count"] for _, body in results) == len(distinct)
    assert all(0 <= body["ingested_count"] <= 200 for _, body in results)

    stored = Counter(Event.objects.values_list("event_id", flat=True))
    assert set(stored) == distinct
    assert max(stored.values()) == 1
    assert (
        not Event.objects.values("business_id", "event_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    )
    # Every stored copy is the one its id describes, whichever request stored it.
    assert all(int(e.event_id[4:]) == e.metadata["n"] for e in Event.objects.all())


def test_identical_batches_are_counted_once(live_server, api_key, customer):
    body = batch(customer, range(100))
    results = fire(live_server, [(api_key, body)] * 8)
    assert all(status == 200 for status, _ in results), results
    # However the rows were split between the requests, together they stored each id once.
    assert sum(b["ingested_count"] for _, b in results) == 100
    assert Event.objects.count() == 100


def test_same_ids_in_two_businesses_concurrently(
    live_server, api_key, customer, make_customer, other_business
):
    other_key = api_key_create(business=other_business, name="other")[1]
    foreign = make_customer(business=other_business)
    requests = []
    for k in range(4):
        requests.append((api_key, batch(customer, range(k * 25, k * 25 + 100))))
        requests.append((other_key, batch(foreign, range(k * 25, k * 25 + 100), reverse=True)))
    results = fire(live_server, requests)
    assert all(status == 200 for status, _ in results), results
    distinct = 3 * 25 + 100
    assert sum(b["ingested_count"] for _, b in results) == 2 * distinct
    for business_id, customer_id in [(customer.business_id, customer.id), (other_business.id, foreign.id)]:
        events = Event.objects.filter(business_id=business_id)
        assert events.count() == distinct
        assert set(events.values_list("customer_id", flat=True)) == {customer_id}
