"""The official Node SDK (npm ``dodopayments``, pinned in tests/sdk/node) against a live server.

Each test runs one script of tests/sdk/node with the server's URL and a fresh API key in the
environment, reads the JSON object it prints, and checks it against the database. The wallet
script is the wallet docs' JavaScript walkthrough; the others make the customers, portal-session,
usage-event and meter calls.

Without Node.js (18 or newer) these tests are skipped, and counted, on a developer's machine; in CI
(``CI`` set) they fail instead, so a missing Node.js cannot pass unnoticed.
"""

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from customers.models import Customer
from customers.selectors import customer_list
from metering.models import Event, Meter
from metering.selectors.usage import meter_usage
from portal.models import PortalLink
from portal.services import token_digest
from wallets.models import LedgerEntry, Wallet
from wallets.selectors import wallet_list, wallet_reconcile, wallets_total_usd

NODE_SDK = Path(__file__).resolve().parent / "node"
MIN_NODE_MAJOR = 18


def node_problem():
    """Why the scripts cannot run here (None when they can)."""
    node = shutil.which("node")
    if node is None:
        return "Node.js is not on PATH"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    major = version.strip().lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < MIN_NODE_MAJOR:
        return f"Node.js {MIN_NODE_MAJOR} or newer is needed (found {version.strip() or 'no version'})"
    return None


NODE_PROBLEM = node_problem()

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        NODE_PROBLEM is not None and not os.environ.get("CI"), reason=f"Node SDK tests: {NODE_PROBLEM}"
    ),
]


@pytest.fixture
def run_script(live_server, api_key):
    """``run_script("wallet.mjs")`` runs a script against the live server and returns its JSON."""
    if NODE_PROBLEM is not None:
        pytest.fail(f"Node SDK tests: {NODE_PROBLEM}; CI must have Node.js.")
    if not (NODE_SDK / "node_modules" / "dodopayments" / "package.json").exists():
        pytest.fail("The Node SDK is not installed: run `make install` (npm ci --prefix tests/sdk/node).")

    def run(script):
        environment = {  # nothing else of ours: no DODO_PAYMENTS_* setting of the shell leaks in
            **{name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ},
            "DODO_PAYMENTS_BASE_URL": f"{live_server.url}/api",
            "DODO_PAYMENTS_API_KEY": api_key,
        }
        result = subprocess.run(
            ["node", script],
            cwd=NODE_SDK,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"node {script} failed:\n{result.stderr}\n{result.stdout}"
        return json.loads(result.stdout)

    return run


def posts(output, path_part, status=None):
    """The POST requests the script made whose path contains ``path_part``."""
    return [
        r
        for r in output["requests"]
        if r["method"] == "POST" and path_part in r["path"] and (status is None or r["status"] == status)
    ]


def queries(output, path):
    """The query strings of the script's GET requests to exactly ``path``, in order."""
    return [
        r["path"].partition("?")[2]
        for r in output["requests"]
        if r["method"] == "GET" and r["path"].partition("?")[0] == path
    ]


@pytest.fixture
def wallet_run(run_script):
    return run_script("wallet.mjs")


def test_wallet_docs_walkthrough(wallet_run, business):
    out = wallet_run
    customer = Customer.objects.get(pk=out["customer_id"])
    assert customer.business_id == business.id
    assert [(w["currency"], w["balance"]) for w in out["opening"]["wallets"]] == [("USD", 0), ("INR", 0)]

    # Welcome credits, then two usage debits: 10000 − 2500 − 1200.
    assert (out["welcome"]["currency"], out["welcome"]["balance"]) == ("USD", 10000)
    assert out["usage"] == [{"charged": True, "balance": 7500}, {"charged": True, "balance": 6300}]

    # The over-debit is refused with the documented status and code, and writes nothing.
    refusal = out["overdraw"]["refusal"]
    assert out["overdraw"]["charged"] is False
    assert (refusal["error"], refusal["status"], refusal["code"]) == (
        "BadRequestError",
        400,
        "INSUFFICIENT_WALLET_FUNDS",
    )
    assert out["before_overdraw"]["usd"] == out["after_overdraw"]["usd"] == 6300
    assert out["enough_for_batch"] is False
    assert not LedgerEntry.objects.filter(customer=customer, reason__startswith="Batch job").exists()

    # The purchase credits once; its retry answers 409 without a second entry or an SDK retry.
    assert out["purchase"] == {"credited": True, "balance": 11300}
    conflict = out["purchase_retry"]["conflict"]
    assert out["purchase_retry"]["credited"] is False
    assert (conflict["error"], conflict["status"], conflict["code"]) == (
        "ConflictError",
        409,
        "IDEMPOTENCY_KEY_ALREADY_USED",
    )
    assert conflict["body"]["same_parameters"] is True
    purchase = LedgerEntry.objects.get(customer=customer, idempotency_key=f"purchase_{out['payment_id']}")
    assert conflict["body"]["ledger_entry_id"] == purchase.id
    assert (purchase.amount, purchase.is_credit, purchase.after_balance) == (5000, True, 11300)
    assert len(posts(out, "/ledger-entries", status=409)) == 1

    # Rupee credits land in the INR wallet; the USD total converts them at the operators' rate.
    assert (out["inr"]["currency"], out["inr"]["balance"]) == ("INR", 50000)
    wallets = {w.currency: w.balance for w in Wallet.objects.filter(customer=customer)}
    assert wallets == {"USD": 11300, "INR": 50000}
    assert out["closing"]["usd"] == 11300
    assert out["closing"]["total_balance_usd"] == wallets_total_usd(wallets=wallet_list(customer=customer))
    assert out["closing"]["total_balance_usd"] == 11300 + 570  # ₹500 at 0.0114 USD

    # The ledger as stored, and as the script read it back page by page (3 a page, newest first).
    stored = LedgerEntry.objects.filter(customer=customer).order_by("created_at", "seq")
    assert [(e.currency, e.is_credit, e.amount, e.before_balance, e.after_balance) for e in stored] == [
        ("USD", True, 10000, 0, 10000),
        ("USD", False, 2500, 10000, 7500),
        ("USD", False, 1200, 7500, 6300),
        ("USD", True, 5000, 6300, 11300),
        ("INR", True, 50000, 0, 50000),
    ]
    assert stored[0].idempotency_key == f"welcome_{customer.id}"
    assert [e["id"] for e in out["history"]] == [e.id for e in reversed(stored)]
    assert {e["event_type"] for e in out["history"]} == {"merchant_adjustment"}
    assert wallet_reconcile(customer_ids=[customer.id])[2] == []


def test_wallet_docs_insufficient_balance_check_recognises_the_refusal(wallet_run):
    """The documented ``error.status === 400 && error.message.includes('Insufficient balance')``."""
    assert wallet_run["overdraw"]["reason"] == "insufficient_balance", wallet_run["overdraw"]


def test_customers_and_portal_session(run_script, business, make_customer, other_business, live_server):
    for _ in range(24):
        make_customer()
    make_customer(business=other_business, email="elsewhere@example.com")
    out = run_script("customers.mjs")

    created = out["created"]
    customer = Customer.objects.get(pk=created["customer_id"])
    assert created["business_id"] == business.id and created["email"] == customer.email
    assert created["metadata"] == {"plan": "pro", "seats": 5, "beta": True}
    assert created["phone_number"] == "+15555550100"
    assert out["retrieved"] == created
    assert (out["updated"]["name"], out["updated"]["phone_number"], out["updated"]["metadata"]) == (
        "Jane Q. Doe",
        None,
        {"plan": "team"},
    )
    assert (customer.name, customer.phone_number, customer.metadata) == (
        "Jane Q. Doe",
        None,
        {"plan": "team"},
    )
    assert out["by_email"] == [customer.id]

    # 25 customers of this business (the other business's is never listed), 10 a page, newest first.
    newest_first = [c.id for c in customer_list(business=business)]
    assert len(newest_first) == 25 and newest_first[0] == customer.id
    assert out["every_customer"] == newest_first  # pages 0, 1, 2 and the empty page 3
    assert out["without_page_number"] == newest_first[:10] + newest_first[20:]  # page 1 skipped
    assert out["first_page"] == {"ids": newest_first[:10], "has_next_page": True}
    assert queries(out, "/api/customers")[1:] == [
        "page_number=0&page_size=10",
        "page_number=1&page_size=10",
        "page_number=2&page_size=10",
        "page_number=3&page_size=10",
        "page_size=10",
        "page_size=10&page_number=2",
        "page_size=10&page_number=3",
        "page_number=0&page_size=10",
    ]

    link = PortalLink.objects.get()
    assert out["portal"]["link"].startswith(f"{live_server.url}/portal/open/")
    assert link.token_digest == token_digest(out["portal"]["link"].rsplit("/", 1)[1])
    assert (link.customer_id, link.return_url) == (
        customer.id,
        "https://shop.example.com/account?tab=billing",
    )

    assert (out["missing"]["error"], out["missing"]["status"], out["missing"]["code"]) == (
        "NotFoundError",
        404,
        "NOT_FOUND",
    )
    assert (out["invalid"]["error"], out["invalid"]["status"], out["invalid"]["code"]) == (
        "UnprocessableEntityError",
        422,
        "INVALID_REQUEST_BODY",
    )
    assert not Customer.objects.filter(email="not-an-email").exists()
    assert Customer.objects.filter(business=business).count() == 25


def test_usage_events_and_meters(run_script, business):
    started = timezone.now()
    out = run_script("metering.mjs")
    customer = Customer.objects.get(pk=out["customer_id"], business=business)
    first, second, third, untimed = (sent["event_id"] for sent in out["sent"])
    replayed_new = first.replace("-1", "-5")

    # Ingestion: four stored, then the replay of the first counts only the new event.
    assert out["ingested"] == {"ingested_count": 4}
    assert out["replayed"] == {"ingested_count": 1}
    stored = {e.event_id: e for e in Event.objects.filter(business=business)}
    assert set(stored) == {first, second, third, untimed, replayed_new}
    assert {e.customer_id for e in stored.values()} == {customer.id}
    for sent in out["sent"]:
        if sent["timestamp"] is not None:
            assert stored[sent["event_id"]].timestamp == datetime.fromisoformat(sent["timestamp"])
    assert started <= stored[untimed].timestamp <= timezone.now()
    assert stored[first].metadata == {"model": "gpt-4", "tokens": 150, "cached": False}
    assert stored[untimed].metadata is None

    retrieved = out["retrieved"]
    assert (retrieved["event_id"], retrieved["customer_id"], retrieved["business_id"]) == (
        first,
        customer.id,
        business.id,
    )
    assert retrieved["metadata"] == {"model": "gpt-4", "tokens": 150, "cached": False}
    assert datetime.fromisoformat(retrieved["timestamp"]) == stored[first].timestamp

    # Lists, newest first: every page (2 a page), by event name, and in a time window.
    assert out["every_event"] == [untimed, replayed_new, third, second, first]
    assert out["completions"] == [third, second, first]
    assert out["window"] == [second]

    # Meters as stored, and the events the GPT-4 token meter counts.
    tokens, calls = out["meters"]["created"]
    meter = Meter.objects.get(pk=tokens["id"], business=business)
    assert (meter.aggregation_type, meter.aggregation_key, meter.measurement_unit) == (
        "sum",
        "tokens",
        "tokens",
    )
    assert meter.filter == {
        "conjunction": "and",
        "clauses": [{"key": "model", "operator": "equals", "value": "gpt-4"}],
    }
    assert tokens["aggregation"] == {"type": "sum", "key": "tokens"} and tokens["filter"] == meter.filter
    assert calls["aggregation"]["type"] == "count" and calls["filter"] is None
    assert out["meters"]["retrieved"] == tokens
    assert out["meters"]["meter_events"] == [third, first]
    hour = timedelta(hours=1)
    assert meter_usage(meter=meter, customer=customer, start=started - hour, end=started + hour) == Decimal(
        200
    )

    # List, archive, unarchive.
    assert out["meters"]["every_meter"] == [calls["id"], tokens["id"]]
    calls_path = f"/api/meters/{calls['id']}"
    assert [(r["method"], r["status"]) for r in out["requests"] if r["path"].startswith(calls_path)] == [
        ("DELETE", 204),
        ("POST", 200),
    ]
    assert out["meters"]["active_after_archive"] == [tokens["id"]]
    assert out["meters"]["archived"] == [calls["id"]]
    assert out["meters"]["archived_after_unarchive"] == []
    assert Meter.objects.get(pk=calls["id"]).archived_at is None

    # Refusals: an unknown event is a 404; nested metadata a 422 naming the field, nothing stored.
    assert (out["missing_event"]["error"], out["missing_event"]["status"]) == ("NotFoundError", 404)
    nested = out["nested_metadata"]
    assert (nested["error"], nested["status"], nested["body"]["field"]) == (
        "UnprocessableEntityError",
        422,
        "metadata",
    )
    assert Event.objects.filter(business=business).count() == 5
