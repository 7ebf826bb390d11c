"""Shared fixtures: businesses, API keys, an authenticated API client, customers, the official SDK."""

import importlib

import pytest
from django.db import connection
from rest_framework.test import APIClient

from customers.services import customer_create
from dodo_billing.services import api_key_create, business_get_or_create


def pytest_configure(config):
    # The live test server's listen backlog is Django's default of 10; concurrency tests open 50
    # connections at once, which a real server (gunicorn: 2048) would queue, not reset.
    from django.core.servers.basehttp import WSGIServer

    WSGIServer.request_queue_size = 256
    # Live-server threads must not keep connections open past a test: the test database is
    # dropped at the end of the run.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Per-key rate limits are on by default; tests that fire hundreds of requests a second would
    # trip them, so they are off here and tests/dodo_billing/test_rate_limits.py turns them on.
    settings.API_RATE_LIMIT = "off"


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are skipped, and counted as skipped, when the database is SQLite."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://…)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _reference_data_in_transactional_tests(request):
    """Transactional tests flush the database, data migrations included: put reference rows back."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not (marker.kwargs.get("transaction") or "live_server" in request.fixturenames):
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    add_rates = importlib.import_module("dodo_billing.migrations.0002_default_exchange_rates").add_rates
    add_rates(apps, None)


@pytest.fixture
def business(db):
    return business_get_or_create(name="Acme Compute")[0]


@pytest.fixture
def other_business(db):
    return business_get_or_create(name="Other Merchant")[0]


@pytest.fixture
def api_key(business):
    """The secret of a read/write key of ``business``."""
    return api_key_create(business=business, name="tests")[1]


@pytest.fixture
def api(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def other_api(other_business):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(business=other_business, name='t')[1]}")
    return client


@pytest.fixture
def make_customer(business):
    counter = iter(range(1, 10_000))

    def make(business=business, created_at=None, **fields):
        n = next(counter)
        fields.setdefault("name", f"Customer {n}")
        fields.setdefault("email", f"customer{n}@example.com")
        customer = customer_create(business=business, **fields)
        if created_at is not None:  # back-date for ordering and filter tests
            type(customer).objects.filter(pk=customer.pk).update(created_at=created_at)
            customer.refresh_from_db()
        return customer

    return make


@pytest.fixture
def customer(make_customer):
    return make_customer(name="Jane Doe", email="jane@example.com")


@pytest.fixture
def sdk_factory(live_server):
    """Official ``dodopayments`` SDK clients pointed at the live test server, strict parsing on."""
    from dodopayments import DodoPayments

    def make(bearer_token, **kwargs):
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 30)
        return DodoPayments(
            bearer_token=bearer_token,
            base_url=f"{live_server.url}/api",
            _strict_response_validation=True,
            **kwargs,
        )

    return make


def post_json(client, url, body, **extra):
    """POST raw JSON text (or a Python object) with the SDK's content type."""
    import json

    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", **extra)


def assert_error(response, status, code):
    """The contract's error shape: status, JSON ``{"code", "message"}``."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.fixture
def celery_eager():
    """Celery tasks run in-process when enqueued (configuration of the real app, not a mock)."""
    from dodo_billing.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def celery_workers(transactional_db, tmp_path):
    """Start real Celery workers on the configured broker (Redis in CI), reading the test database.

    ``start()`` returns the worker's Process (tests/stack.py) once it is ready. PostgreSQL only: a
    worker is a separate process and must see what the test committed.
    """
    import os
    import sys

    from django.conf import settings

    from dodo_billing.celery import app
    from tests.stack import Process

    app.control.purge()  # nothing left over from an earlier run
    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    database_url = f"postgres://{db['USER']}:{db['PASSWORD']}@{host}/{db['NAME']}"  # the test database
    # The tests' webhook receivers listen on 127.0.0.1.
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "INFO",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
    }
    started = []

    def start():
        argv = [sys.executable, "-m", "celery", "-A", "dodo_billing", "worker", "--pool=solo"]
        argv.append("--loglevel=INFO")
        worker = Process(f"worker{len(started)}", argv, env, tmp_path)
        started.append(worker)
        worker.wait_for("ready")
        return worker

    yield start
    for worker in started:
        worker.stop()
    app.control.purge()


@pytest.fixture
def celery_worker_process(celery_workers):
    """One ready worker; yields its ``wait_for``."""
    return celery_workers().wait_for


@pytest.fixture
def staff_user(business):
    """A dashboard user of ``business`` (password ``s3cret-pass!``)."""
    from django.contrib.auth import get_user_model

    from dodo_billing.services import membership_set

    user = get_user_model().objects.create_user(username="staff", password="s3cret-pass!")
    membership_set(user=user, business=business)
    return user


@pytest.fixture
def other_staff_user(other_business):
    """A dashboard user of ``other_business``."""
    from django.contrib.auth import get_user_model

    from dodo_billing.services import membership_set

    user = get_user_model().objects.create_user(username="other-staff", password="s3cret-pass!")
    membership_set(user=user, business=other_business)
    return user


@pytest.fixture
def staff_client(client, staff_user):
    """Django's test client signed in as ``staff_user``."""
    client.force_login(staff_user)
    return client
