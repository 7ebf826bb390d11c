"""Billing task messages: beat chunks the due periods, each period is its own transaction, and a
period that fails is re-enqueued alone."""

from datetime import UTC, datetime

import pytest
from django.db import OperationalError

from dodo_billing.errors import InvalidRequestParameters
from metering import tasks

START = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def sent(monkeypatch):
    """The messages the tasks would publish, by task name."""
    messages = {"periods": [], "period": []}
    monkeypatch.setattr(
        tasks.bill_subscription_periods, "delay", lambda periods: messages["periods"].append(periods)
    )
    monkeypatch.setattr(
        tasks.bill_subscription_period, "delay", lambda *args: messages["period"].append(list(args))
    )
    return messages


def test_due_periods_are_sent_in_chunks(monkeypatch, sent):
    due = [(f"sub_{n}", START) for n in range(2 * tasks.PERIODS_PER_TASK + 3)]
    monkeypatch.setattr(tasks, "subscriptions_due", lambda: due)
    assert tasks.bill_due_subscriptions() == len(due)
    assert [len(chunk) for chunk in sent["periods"]] == [tasks.PERIODS_PER_TASK, tasks.PERIODS_PER_TASK, 3]
    assert [period for chunk in sent["periods"] for period in chunk] == [
        [subscription_id, START.isoformat()] for subscription_id, _ in due
    ]
    assert sent["period"] == []


def test_nothing_due_sends_nothing(monkeypatch, sent):
    monkeypatch.setattr(tasks, "subscriptions_due", lambda: [])
    assert tasks.bill_due_subscriptions() == 0
    assert sent == {"periods": [], "period": []}


def test_each_period_is_billed_on_its_own_and_a_failing_one_is_re_enqueued_alone(monkeypatch, sent):
    calls, counted = [], []

    class Invoice:
        def __init__(self, subscription_id):
            self.id = f"inv_{subscription_id}"
            self.period_start = self.period_end = START

    def bill(*, subscription_id, period_start):
        calls.append((subscription_id, period_start))
        if subscription_id == "sub_crash":
            raise OperationalError("connection lost")
        if subscription_id == "sub_refused":
            raise InvalidRequestParameters("Invoice total exceeds the largest amount.")
        if subscription_id == "sub_bug":
            raise ZeroDivisionError("division by zero")
        return None if subscription_id == "sub_billed_before" else Invoice(subscription_id)

    monkeypatch.setattr(tasks, "subscription_bill_period", bill)
    monkeypatch.setattr(tasks, "close_old_connections", lambda: None)
    monkeypatch.setattr(
        tasks,
        "subscription_billing_failed",
        lambda *, subscription_id, period_start, reason: counted.append((subscription_id, reason)),
    )
    ids = ["sub_a", "sub_crash", "sub_billed_before", "sub_refused", "sub_bug", "sub_b"]
    billed = tasks.bill_subscription_periods(
        [[subscription_id, START.isoformat()] for subscription_id in ids]
    )
    assert billed == 2  # sub_a and sub_b
    assert [subscription_id for subscription_id, _ in calls] == ids  # the crash stopped nothing
    assert all(period_start == START for _, period_start in calls)
    # Only the period that could not reach the database goes back to the queue, on its own; every
    # other failure is counted on its subscription (metering.services.billing_attention).
    assert sent["period"] == [["sub_crash", START.isoformat()]]
    assert counted == [
        ("sub_refused", "Invoice total exceeds the largest amount."),
        ("sub_bug", "ZeroDivisionError: division by zero"),
    ]
    assert sent["periods"] == []
