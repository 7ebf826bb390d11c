"""A private copy of the whole system for the fault tests (tests/dodo_billing/test_faults.py).

It has its own PostgreSQL cluster and its own Redis server, so that a test can stop, kill and
restart them without touching the database and broker that the rest of the suite (or anything
else on the machine) uses; and it runs gunicorn, Celery workers and Celery beat from this checkout
against them, as production would. Data is set up by running this module as a script inside the
stack's environment (``python -m tests.stack <command>``), which uses the project's own services
and prints JSON; checks read the database with plain SQL.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from glob import glob
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Process:
    """A child process whose output goes to a log file that the test can wait on."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, count: int = 1, timeout: float = 60) -> str:
        def seen():
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.log()[-4000:]}")
            return self.log().count(text) >= count

        try:
            wait_until(seen, timeout, what=f"{text!r} ×{count} in the {self.name} log")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.log()[-4000:]}") from None
        return self.log()

    def kill(self) -> None:
        """SIGKILL: nothing is flushed, acknowledged or rolled back by the process itself."""
        self.process.kill()
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


class PrivatePostgres:
    """A PostgreSQL cluster of its own in a temporary folder, on a free port of 127.0.0.1."""

    def __init__(self, folder: Path):
        bindirs = sorted(glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
        try:
            self.bindir = Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())
        except (OSError, subprocess.CalledProcessError):
            self.bindir = Path(bindirs[-1])
        if not (self.bindir / "initdb").exists() and bindirs:
            self.bindir = Path(bindirs[-1])
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        # PostgreSQL refuses to run as root: use its own system user then.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_owner:
            shutil.chown(folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_owner, str(self.bindir / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/dodo_billing"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=100"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clients are disconnected, open transactions rolled back; ``immediate``: a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE dodo_billing")

    def query(self, sql: str, params=()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()

    def is_ready(self) -> bool:
        try:
            self.query("SELECT 1")
            return True
        except Exception:
            return False


class PrivateRedis:
    """A Redis server of its own that keeps nothing on disk: a restart loses every queued message."""

    def __init__(self, folder: Path, log_dir: Path):
        self.port = free_port()
        self.folder = folder
        self.log_dir = log_dir
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.folder)]
        self.process = Process("redis", argv, dict(os.environ), self.log_dir)
        self.process.wait_for("Ready to accept connections", timeout=30)

    def kill(self) -> None:
        self.process.kill()


class Receiver:
    """A merchant's webhook endpoint: a real HTTP server that records each request as it arrives and
    answers with the next queued status (200 when none is left), after ``delay`` seconds."""

    def __init__(self, statuses=(), delay: float = 0.0):
        self.requests: list[dict] = []
        self.statuses = list(statuses)
        self.delay = delay
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver._lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": {name.lower(): value for name, value in self.headers.items()},
                            "body": body,
                        }
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                answer = f"answer {status}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def wait_for(self, count: int, timeout: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return self.requests
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Stack:
    """PostgreSQL, Redis, and the product's processes started on demand, all stopped by close()."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="dodo-stack-"))
        os.chmod(self.folder, 0o755)  # noqa: S103 - PostgreSQL's own user must reach its folder
        self.logs = self.folder / "logs"
        self.logs.mkdir()
        (self.folder / "pg").mkdir()
        (self.folder / "run").mkdir()
        self.postgres = PrivatePostgres(self.folder / "pg")
        self.redis = PrivateRedis(self.folder, self.logs)
        self.processes: list[Process] = []
        self.postgres.start()
        self.postgres.create_database()
        self.redis.start()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ALLOW"))},
            "DJANGO_SETTINGS_MODULE": "dodo_billing.settings",
            "DATABASE_URL": self.postgres.url,
            "CELERY_BROKER_URL": self.redis.url,
            "CACHE_URL": "",
            "DODO_RUN_DIR": str(self.folder / "run"),
            "API_RATE_LIMIT": "off",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            # Recovery on a test's time scale: sweeps every 2 s, a cut-off webhook attempt is due
            # again after 6 s, a webhook task that never ran is re-enqueued after 4 s.
            "BILLING_SWEEP_SECONDS": "2",
            "WEBHOOK_SWEEP_SECONDS": "2",
            "WEBHOOK_LEASE_SECONDS": "6",
            "WEBHOOK_NEVER_RAN_GRACE_SECONDS": "4",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",  # the Receiver listens on 127.0.0.1
        }
        self.manage("migrate", "--noinput", "-v0")

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def script(self, command: str, **options) -> dict:
        """Run one of this module's set-up commands in the stack's environment; return its JSON."""
        result = subprocess.run(
            [sys.executable, "-m", "tests.stack", command, json.dumps(options)],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode:
            raise AssertionError(f"tests.stack {command} failed:\n{result.stderr[-4000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def _start(self, name: str, argv: list[str]) -> Process:
        process = Process(f"{name}{len(self.processes)}", argv, self.env, self.logs)
        self.processes.append(process)
        return process

    def gunicorn(self, workers: int = 3) -> tuple[Process, str]:
        port = free_port()
        argv = [sys.executable, "-m", "gunicorn", "dodo_billing.wsgi:application", "-b", f"127.0.0.1:{port}"]
        argv += ["-w", str(workers), "--timeout", "60", "--graceful-timeout", "5"]
        server = self._start("gunicorn", argv)
        server.wait_for("Booting worker", count=workers)
        wait_until(lambda: _accepts(port), 30, what="gunicorn to accept connections")
        return server, f"http://127.0.0.1:{port}"

    def worker(self) -> Process:
        argv = [sys.executable, "-m", "celery", "-A", "dodo_billing", "worker", "--pool=solo"]
        argv += [
            "--loglevel=INFO",
            "-n",
            f"w{len(self.processes)}@%h",
            "--without-mingle",
            "--without-gossip",
        ]
        worker = self._start("worker", argv)
        worker.wait_for("ready")
        return worker

    def beat(self) -> Process:
        schedule = self.folder / "run" / f"beat{len(self.processes)}"
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "dodo_billing",
            "beat",
            "--loglevel=INFO",
            "-s",
            str(schedule),
        ]
        beat = self._start("beat", argv)
        beat.wait_for("beat: Starting")
        return beat

    def reconcile(self) -> subprocess.CompletedProcess:
        return self.manage("reconcile_wallets", check=False)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        if self.redis.process:
            self.redis.process.stop()
        with contextlib.suppress(subprocess.SubprocessError):
            self.postgres.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (gunicorn's workers)."""
    found = []
    for stat in glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(Path(stat).parent.name))
    return found


def sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


# --- Set-up commands, run inside the stack's environment -------------------------------------------


def _ledger_business(options: dict) -> dict:
    """A business with an API key and customers, each with a large USD balance."""
    from customers.services import customer_create
    from dodo_billing.services import api_key_create, business_get_or_create
    from wallets.services import wallet_credit

    business, _ = business_get_or_create(name=options["name"])
    _, key = api_key_create(business=business, name="faults")
    customers = []
    for n in range(options["customers"]):
        customer = customer_create(business=business, name=f"C{n}", email=f"c{n}@example.com")
        wallet_credit(customer=customer, currency="USD", amount=options["opening_balance"])
        customers.append(customer.id)
    return {"business": business.id, "key": key, "customers": customers}


def _billing_business(options: dict) -> dict:
    """A business whose subscriptions all have a period that ended, and a webhook endpoint."""
    from dodo_billing.services import business_get_or_create
    from dodo_billing.webhooks.endpoints import webhook_endpoint_create
    from tests.metering.test_billing_worker import due_subscriptions

    business, _ = business_get_or_create(name=options["name"])
    if options.get("webhook_url"):
        webhook_endpoint_create(business=business, url=options["webhook_url"])
    subscriptions = due_subscriptions(business, options["subscriptions"])
    return {"business": business.id, "subscriptions": [s.id for s in subscriptions]}


COMMANDS = {"ledger-business": _ledger_business, "billing-business": _billing_business}


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))))
