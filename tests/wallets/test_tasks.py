import logging

import pytest
from django.conf import settings

from dodo_billing.celery import app
from wallets.models import Wallet
from wallets.services import wallet_credit
from wallets.tasks import reconcile_wallets


def test_celery_app_finds_the_tasks_and_the_nightly_schedule():
    assert "wallets.tasks.reconcile_wallets" in app.tasks
    schedule = settings.CELERY_BEAT_SCHEDULE["reconcile-wallets-nightly"]
    assert schedule["task"] == "wallets.tasks.reconcile_wallets"


@pytest.mark.django_db
def test_reconcile_task_logs_each_offender(customer, caplog):
    from django.db import connection, transaction

    wallet = wallet_credit(customer=customer, currency="USD", amount=100).wallet
    assert reconcile_wallets() == 0
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE wallets_wallet SET balance = 7 WHERE id = %s", [wallet.pk])
    with caplog.at_level(logging.ERROR, logger="wallets.tasks"):
        assert reconcile_wallets() == 1
    assert customer.id in caplog.text and Wallet.objects.get(pk=wallet.pk).balance == 7


@pytest.mark.postgres
def test_a_real_worker_runs_the_reconcile_task(celery_worker_process, customer):
    wallet_credit(customer=customer, currency="USD", amount=100)
    reconcile_wallets.delay()
    log = celery_worker_process("Reconciled 2 wallets, 1 entries, 0 problems")
    assert "succeeded" in log or "Reconciled" in log
