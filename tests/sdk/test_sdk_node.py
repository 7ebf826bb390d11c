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
from pathlib import Path

import pytest

from customers.models import Customer
from wallets.models import LedgerEntry, Wallet
from wallets.selectors import wallet_list, wallet_reconcile, wallets_total_usd

NODE_SDK = Path(__file__).resolve().parent / "node"
MIN_NODE_MAJOR = 18


def node_problem():
    """Why the scripts cannot run here (None when they can)."""
    node = shutil.which("node")
    if node is None:
        return "needs Node.js (node on PATH)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    major = version.strip().lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < MIN_NODE_MAJOR:
        return f"needs Node.js {MIN_NODE_MAJOR} or newer (found {version.strip() or 'no version'})"
    return None


NODE_PROBLEM = node_problem()

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        NODE_PROBLEM is not None and not os.environ.get("CI"), reason=f"{NODE_PROBLEM} for the Node SDK"
    ),
]


@pytest.fixture
def run_script(live_server, api_key):
    """``run_script("wallet.mjs")`` runs a script against the live server and returns its JSON."""
    if NODE_PROBLEM is not None:
        pytest.fail(f"The Node SDK tests {NODE_PROBLEM}; CI must have it.")
    if not (NODE_SDK / "node_modules" / "dodopayments" / "package.json").exists():
        pytest.fail("The Node SDK is not installed: run `make install` (npm ci --prefix tests/sdk/node).")

    def run(script, **env):
        environment = {  # nothing else of ours: no DODO_PAYMENTS_* setting of the shell leaks in
            **{name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ},
            "DODO_PAYMENTS_BASE_URL": f"{live_server.url}/api",
            "DODO_PAYMENTS_API_KEY": api_key,
            **env,
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
        if r["method"] == "POST" and path_part in r["path"] and status in (None, r["status"])
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


@pytest.mark.xfail(
    strict=True,
    reason="The refusal's message says 'Insufficient funds in wallet'; the wallet docs' check looks "
    "for 'Insufficient balance' (issue 11, item 10). Remove this mark once the message matches.",
)
def test_wallet_docs_insufficient_balance_check_recognises_the_refusal(wallet_run):
    """The documented ``error.status === 400 && error.message.includes('Insufficient balance')``."""
    assert wallet_run["overdraw"]["reason"] == "insufficient_balance", wallet_run["overdraw"]
