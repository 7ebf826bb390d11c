"""What the benchmark scripts share: the benchmark database, Django, the gunicorn server, the
spawned load-generator processes, the machine and PostgreSQL context, and the report helpers.

``ledger.py``, ``ingest.py`` and ``usage.py`` import it as ``common``: they are run as scripts
(``.venv/bin/python benchmarks/<name>.py``), so this folder is first on ``sys.path``, and the client
processes they spawn inherit that path. At import time it needs the standard library only; psycopg
and Django are imported where they are used, so the client processes stay light.
"""

import argparse
import array
import http.client
import math
import multiprocessing
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The generated usage events (ingest.py, usage.py): event names and metadata values.
EVENT_NAMES = (
    "llm.completion",
    "llm.embedding",
    "llm.tokens",
    "api.request",
    "api.error",
    "storage.write",
    "storage.read",
    "storage.gb_hour",
    "compute.seconds",
    "compute.gpu_seconds",
    "email.sent",
    "sms.sent",
    "webhook.delivered",
    "search.query",
    "image.generated",
    "audio.minutes",
    "video.minutes",
    "file.uploaded",
    "user.active",
    "job.completed",
)
MODELS = ("gpt-4", "gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3-70b")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-south-1")


# --- Command line --------------------------------------------------------------------------------


def add_gunicorn_options(
    parser: argparse.ArgumentParser, *, workers_default: int, workers_help: str, worker_class_help: str
) -> None:
    """--workers, --worker-class and --threads: the gunicorn set-up (see ServerConfig)."""
    parser.add_argument("--workers", type=int, default=workers_default, help=workers_help)
    parser.add_argument(
        "--worker-class",
        default="sync",
        choices=["sync", "gthread"],
        help=worker_class_help,
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per worker, gthread only (default 1)")


def add_client_procs_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--client-procs",
        type=int,
        default=2,
        help="load-generator processes the clients are spread over (default 2)",
    )


def add_database_options(
    parser: argparse.ArgumentParser, default: str, *, when: str = "", keep_db: bool = True
) -> None:
    """--database-url (``when`` qualifies "DROPPED and recreated"), and --keep-db unless ``keep_db`` is
    false."""
    parser.add_argument(
        "--database-url",
        default=default,
        help=f"benchmark database, DROPPED and recreated{when} (default {default})",
    )
    if keep_db:
        parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database afterwards")


# --- The benchmark database ------------------------------------------------------------------------


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def announce_database(url: str) -> None:
    parts = urlsplit(url)
    print(f"Benchmark database: {parts.path.lstrip('/')} on {parts.hostname}:{parts.port or 5432}")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_name(url)
    if not name or name in {"postgres", "template0", "template1"}:
        raise SystemExit(f"refusing to drop database {name!r}; pass a dedicated --database-url")
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_name(url)
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py migrate failed:\n{done.stdout}\n{done.stderr}")


def django_setup(url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "dodo_billing.settings"
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()


def fresh_database(url: str) -> tuple[float, float]:
    """Drop and recreate the database, migrate it, then set Django up on it. Returns the monotonic
    clock when it started and when the migrations were done."""
    started = time.monotonic()
    recreate_database(url)
    migrate(url)
    migrated = time.monotonic()
    django_setup(url)
    return started, migrated


def keep_or_drop_database(url: str, keep: bool) -> None:
    if keep:
        print(f"Benchmark database kept: {database_name(url)}")
    else:
        drop_database(url)
        print("Benchmark database dropped (use --keep-db to keep it)")


# --- Machine and PostgreSQL context ----------------------------------------------------------------


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def postgres_settings(connection, names: Sequence[str]) -> dict[str, str]:
    """``SHOW name`` for each name, in order, on a Django or psycopg connection."""
    settings = {}
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    return settings


def print_machine(settings: dict[str, str], cpu_note: str = "", *lines: str) -> None:
    """The "Machine" block: CPUs and Python (then ``cpu_note``), PostgreSQL's version and the other
    ``settings`` as name=value, then ``lines``."""
    print()
    print("Machine")
    print(f"  CPUs: {cpu_count()}   Python {sys.version.split()[0]}{cpu_note}")
    shown = ", ".join(f"{name}={value}" for name, value in settings.items() if name != "server_version")
    print(f"  PostgreSQL {settings['server_version']}: {shown}")
    for line in lines:
        print(f"  {line}")


# --- The gunicorn server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class ServerConfig:
    workers: int
    worker_class: str
    threads: int

    def describe(self) -> str:
        if self.worker_class == "gthread":
            return f"{self.workers} gthread workers × {self.threads} threads (keep-alive)"
        return f"{self.workers} sync workers (no keep-alive: clients reconnect per request)"


def gunicorn_binary() -> str:
    beside_python = Path(sys.executable).parent / "gunicorn"
    return str(beside_python if beside_python.exists() else PROJECT_ROOT / ".venv" / "bin" / "gunicorn")


def start_gunicorn(config: ServerConfig, url: str, port: int, log) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "DB_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        # The benchmarks measure throughput far above the per-key default rate limit.
        "API_RATE_LIMIT": "off",
        # Without collectstatic WhiteNoise warns once per worker; the test suite ignores it too.
        "PYTHONWARNINGS": "ignore:No directory at:UserWarning",
    }
    command = [
        gunicorn_binary(),
        "dodo_billing.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(config.workers),
        "--worker-class",
        config.worker_class,
        "--log-level",
        "warning",
    ]
    if config.worker_class == "gthread":
        command += ["--threads", str(config.threads)]
    return subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.terminate()  # graceful: finish in-flight requests, then stop the workers
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # our own process group (start_new_session)
        server.wait()


@contextmanager
def gunicorn(config: ServerConfig, url: str, log_prefix: str) -> Iterator[tuple[subprocess.Popen, int, str]]:
    """gunicorn on a free local port, logging to a temporary file; yields (server, port, log path).
    On the way out it is stopped in every case, and its log printed (when not empty) and deleted."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in finally)
        mode="w+", prefix=log_prefix, suffix=".log", delete=False
    )
    server = start_gunicorn(config, url, port, log)
    try:
        yield server, port, log.name
    finally:
        stop_gunicorn(server)
        log.close()
        server_log = Path(log.name).read_text()
        if server_log.strip():
            print(f"\ngunicorn log (last 2,000 characters of {log.name}):\n{server_log[-2000:]}")
        Path(log.name).unlink(missing_ok=True)


def api_headers(secret: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {secret}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


def http_get(port: int, secret: str, path: str, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {secret}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until_serving(
    server: subprocess.Popen, port: int, secret: str, path: str, log_path: str, *, timeout: float = 10
) -> None:
    """Block until GET ``path`` answers 200 with the benchmark key, or fail with the server's log."""
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}:\n{Path(log_path).read_text()}")
        try:
            status, body = http_get(port, secret, path, timeout)
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return
        raise SystemExit(f"gunicorn answered {status}: {body[:500]!r}")
    raise SystemExit(f"gunicorn did not answer within 60 s:\n{Path(log_path).read_text()}")


# --- Load generation: spawned client processes, a thread per client ---------------------------------
# The client side runs in processes started with "spawn": standard library (and psycopg) only.


@dataclass
class ClientResult:
    """What every load result holds: failures, latencies and the wall-clock span of the work.
    The scripts' results extend it with their own counts (and their merge)."""

    failures: Counter = field(default_factory=Counter)  # HTTP status or exception name -> count
    latencies: array.array = field(default_factory=lambda: array.array("d"))  # seconds
    first_start: float = math.inf  # wall clock
    last_end: float = 0.0

    def merge(self, other: "ClientResult") -> None:
        self.failures.update(other.failures)
        self.latencies.extend(other.latencies)
        self.first_start = min(self.first_start, other.first_start)
        self.last_end = max(self.last_end, other.last_end)


def timed_client(result: ClientResult, barrier, go, work: Callable[[], None]) -> None:
    """A client thread's run: wait until every client is ready and the parent says go, then ``work``,
    noting in ``result`` when it started and ended."""
    barrier.wait()
    go.wait()
    result.first_start = time.time()
    try:
        work()
    finally:
        result.last_end = time.time()


def serve_clients(
    outcomes: Sequence[ClientResult], body: Callable[[int], None], merged: ClientResult, barrier, go, results
) -> None:
    """The work of one client process: ``body(i)`` in a thread of its own for each of ``outcomes``;
    sends back (errors, the outcomes merged into ``merged``, CPU seconds the process used from go on)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    errors: list[str] = []

    def run(index: int) -> None:
        try:
            body(index)
        except threading.BrokenBarrierError:
            errors.append("another client failed to start")
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            barrier.abort()

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(outcomes))]
    for worker in workers:
        worker.start()
    go.wait()
    cpu_at_start = time.process_time()
    for worker in workers:
        worker.join()
    cpu = time.process_time() - cpu_at_start
    for outcome in outcomes:
        merged.merge(outcome)
    results.put((errors, merged, cpu))


class ClientProcesses:
    """Spawned load-generator processes. Each runs ``target(*args, barrier, go, results)``, which
    should hand its clients to serve_clients(). Every client gets ready first (connects, builds its
    payloads) and waits at the barrier; the parent then sets ``go`` and they all start together."""

    def __init__(self, target: Callable, args: Sequence[tuple], clients: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(clients + 1)
        self.go = context.Event()
        self.results = context.Queue()
        self.processes = [
            context.Process(target=target, args=(*each, self.barrier, self.go, self.results), daemon=True)
            for each in args
        ]

    @contextmanager
    def running(self, join_timeout: float) -> Iterator["ClientProcesses"]:
        """Start the processes; on the way out wait for them, terminating any left after ``join_timeout``."""
        for process in self.processes:
            process.start()
        try:
            yield self
        finally:
            for process in self.processes:
                process.join(timeout=join_timeout)
                if process.is_alive():
                    process.terminate()
                    process.join()

    def wait_ready(self, timeout: float, answer_timeout: float) -> None:
        """Wait until every client is ready; if one fails to, collect the errors and raise."""
        try:
            self.barrier.wait(timeout=timeout)
        except threading.BrokenBarrierError:
            self.barrier.abort()
            self.go.set()
            errors: list[str] = []
            for _ in self.processes:
                try:
                    errors.extend(self.results.get(timeout=answer_timeout)[0])
                except queue.Empty:
                    errors.append("a client process did not answer")
            raise RuntimeError(f"load clients failed to start: {errors}") from None

    def collect(self, timeout: float) -> list[tuple[ClientResult, float]]:
        """(merged result, CPU seconds) of every process; raises if any client failed."""
        answers = []
        problems: list[str] = []
        for _ in self.processes:
            errors, result, cpu = self.results.get(timeout=timeout)
            problems.extend(errors)
            answers.append((result, cpu))
        if problems:
            raise RuntimeError(f"load clients failed: {problems}")
        return answers


# --- Reporting -----------------------------------------------------------------------------------


def percentile(samples: Sequence[float], pct: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]  # nearest rank


def percentile_ms(samples: Sequence[float], pct: float) -> float:
    """The percentile of samples in seconds, in milliseconds."""
    return percentile(samples, pct) * 1000


def print_failures(heading: str, failures: list[str]) -> None:
    if failures:
        print(heading)
        for failure in failures:
            print(f"  - {failure}")


def markdown_section(
    title: str,
    script: str,
    header: str,
    alignment: str,
    rows: Sequence[Sequence[str]],
    config: str,
    target: str,
) -> str:
    """A dated "###" section for docs/benchmarks.md: a table, then ``config`` and ``target``."""
    lines = [f"### {title} ({time.strftime('%Y-%m-%d')}, `benchmarks/{script}`)", "", header, alignment]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", config, "", target]
    return "\n".join(lines)


def print_markdown(snippet: str) -> None:
    print()
    print("Markdown for docs/benchmarks.md:")
    print()
    print(snippet)
    print()
