"""Deployment (docs/deploy.md): static files collected at build time and served without node_modules
by the production settings under gunicorn; a pg_dump restored into a fresh database reconciles."""

import json
import os
import subprocess
import sys
import uuid

import httpx
import pytest
from django.conf import settings

from tests.stack import ROOT, Process, free_port, wait_until
from wallets.services import wallet_credit, wallet_debit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def database_url(name: str | None = None) -> str:
    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}/{name or db['NAME']}"


def pg_env() -> dict:
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "PGHOST": db["HOST"] or "127.0.0.1",
        "PGPORT": str(db["PORT"] or 5432),
        "PGUSER": db["USER"],
        "PGPASSWORD": db["PASSWORD"] or "",
    }


def test_production_serves_collected_static_files_without_node_modules(tmp_path):
    static_root = tmp_path / "static"
    env = {
        # Not the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE: deploy checks refuse it, as they should.
        **{name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "dodo_billing.settings_production",
        "SECRET_KEY": "deploy-test-" + "".join(chr(97 + (i * 7) % 26) for i in range(50)),
        "DATABASE_URL": database_url(),
        "STATIC_ROOT": str(static_root),
        "DODO_RUN_DIR": str(tmp_path),
    }
    build = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    css = manifest["vendor/bootstrap/css/bootstrap.min.css"]
    assert css != "vendor/bootstrap/css/bootstrap.min.css"  # content-hashed name
    # Run time: node_modules is gone as far as the server can tell.
    env["NODE_MODULES_DIR"] = str(tmp_path / "no-node-modules")
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "dodo_billing.wsgi:application",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        "1",
    ]
    server = Process("gunicorn", argv, env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    https = {"X-Forwarded-Proto": "https"}
    try:
        server.wait_for("Booting worker")
        wait_until(lambda: _answers(f"{base}/health/live"), 30, what="gunicorn")
        login = httpx.get(f"{base}/login/", headers=https)
        assert login.status_code == 200
        assert f"/static/{css}" in login.text  # pages link the hashed files
        for name in (
            css,
            manifest["vendor/htmx/htmx.min.js"],
            manifest["vendor/bootstrap-icons/bootstrap-icons.css"],
        ):
            response = httpx.get(f"{base}/static/{name}", headers={**https, "Accept-Encoding": "gzip"})
            assert response.status_code == 200, name
            assert "max-age=315360000" in response.headers["Cache-Control"]  # immutable: hashed
        assert httpx.get(f"{base}/api/docs", headers=https).status_code in (200, 401)
        assert (
            httpx.get(
                f"{base}/static/vendor/bootstrap/css/bootstrap.min.css.missing", headers=https
            ).status_code
            == 404
        )
    finally:
        server.stop()
    assert "Internal Server Error" not in server.log()


def test_a_pg_dump_restores_into_a_fresh_database_that_reconciles(make_customer, tmp_path):
    customers = [make_customer() for _ in range(3)]
    for n, customer in enumerate(customers):
        wallet_credit(customer=customer, currency="USD", amount=10_000 + n)
        wallet_debit(customer=customer, currency="USD", amount=2_500)
        wallet_credit(customer=customer, currency="INR", amount=700)
    dump = tmp_path / "backup.dump"
    db_name = settings.DATABASES["default"]["NAME"]
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), db_name], env=pg_env(), check=True, timeout=300)
    restored = f"restore_{uuid.uuid4().hex[:10]}"
    subprocess.run(["createdb", restored], env=pg_env(), check=True, timeout=60)
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "-d", restored, str(dump)],
            env=pg_env(), check=True, timeout=300,
        )  # fmt: skip
        env = {**os.environ, "DATABASE_URL": database_url(restored)}
        reconcile = subprocess.run(
            [sys.executable, "manage.py", "reconcile_wallets"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
        migrations = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=300,
        )
        assert migrations.returncode == 0  # nothing left to apply
        import psycopg

        with psycopg.connect(database_url(restored)) as conn:
            balances = dict(
                conn.execute("SELECT customer_id, balance FROM wallets_wallet WHERE currency = 'USD'")
            )
            # The ledger's triggers came back with the data: entries still cannot be changed.
            with pytest.raises(psycopg.Error):
                conn.execute("UPDATE wallets_ledgerentry SET amount = amount + 1")
        assert balances == {c.id: 10_000 + n - 2_500 for n, c in enumerate(customers)}
    finally:
        subprocess.run(["dropdb", "--force", restored], env=pg_env(), check=False, timeout=60)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
