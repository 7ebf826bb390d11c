"""``/health/live`` and ``/health/ready``, built on django-health-check.

- live: the process answers (no database, no broker): 200 ``{"status": "ok"}``.
- ready: PostgreSQL, the Celery broker, the shared cache (when it is Redis), migrations applied,
  every queue's heartbeat younger than ``HEALTH_HEARTBEAT_MAX_AGE_SECONDS`` (beat runs and a
  worker consumes the queue), and the webhook and billing backlogs under their thresholds.
  200 ``{"status": "ok"}`` or 503 ``{"status": "unavailable"}``; each check's outcome is added
  (``"checks"``) for a request with ``Authorization: Bearer <HEALTH_TOKEN>`` or from
  ``OPS_INTERNAL_NETWORKS``.
"""

import asyncio
import contextlib
import dataclasses
import datetime
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET
from health_check import Cache, Database, HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

from dodo_billing.observability import access, selectors

_TIMEOUT = datetime.timedelta(seconds=settings.HEALTH_CHECK_TIMEOUT_SECONDS)


@dataclasses.dataclass
class Migrations(HealthCheck):
    """Every migration of this code is applied (true once stays true for the process)."""

    timeout: datetime.timedelta = dataclasses.field(default=_TIMEOUT, repr=False)
    _applied = False

    def run(self):
        if Migrations._applied:
            return
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            raise ServiceUnavailable(f"{len(plan)} migration(s) not applied")
        Migrations._applied = True


@dataclasses.dataclass
class Heartbeats(HealthCheck):
    """Each Celery queue's heartbeat (written by a worker, enqueued by beat) is recent."""

    timeout: datetime.timedelta = dataclasses.field(default=_TIMEOUT, repr=False)

    def run(self):
        max_age = datetime.timedelta(seconds=settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS)
        stale = selectors.heartbeats_stale(max_age=max_age)
        if stale:
            described = ", ".join(
                f"{queue} ({'never' if beat_at is None else beat_at.isoformat(timespec='seconds')})"
                for queue, beat_at in sorted(stale.items())
            )
            raise ServiceUnavailable(f"no heartbeat for {max_age.total_seconds():g} s on: {described}")


@dataclasses.dataclass
class WebhookBacklog(HealthCheck):
    """Pending webhook deliveries that are due now number at most HEALTH_WEBHOOK_BACKLOG_MAX."""

    timeout: datetime.timedelta = dataclasses.field(default=_TIMEOUT, repr=False)

    def run(self):
        limit = settings.HEALTH_WEBHOOK_BACKLOG_MAX
        due = selectors.bounded_count(selectors.webhook_deliveries_overdue(), limit + 1)
        if due > limit:
            raise ServiceUnavailable(f"more than {limit} webhook deliveries are due")


@dataclasses.dataclass
class BillingBacklog(HealthCheck):
    """Ended, unbilled subscription-periods number at most HEALTH_BILLING_BACKLOG_MAX."""

    timeout: datetime.timedelta = dataclasses.field(default=_TIMEOUT, repr=False)

    def run(self):
        from metering.services.billing import subscriptions_due

        limit = settings.HEALTH_BILLING_BACKLOG_MAX
        if len(subscriptions_due(limit=limit + 1)) > limit:
            raise ServiceUnavailable(f"more than {limit} subscription periods are due for billing")


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection (any transport kombu speaks)."""

    timeout: datetime.timedelta = dataclasses.field(default=_TIMEOUT, repr=False)

    def run(self):
        from dodo_billing.celery import app

        try:
            with app.connection_for_write(settings.CELERY_BROKER_URL) as connection:
                connection.ensure_connection(max_retries=1, timeout=self.timeout.total_seconds())
        except Exception as exc:  # kombu raises the transport's own errors
            raise ServiceUnavailable(f"cannot connect to the broker ({type(exc).__name__})") from exc


def _redis_broker_check() -> HealthCheck:
    from health_check.contrib.redis import Redis
    from redis.asyncio import Redis as RedisClient

    url = settings.CELERY_BROKER_URL
    return Redis(client_factory=lambda: RedisClient.from_url(url, socket_timeout=1, socket_connect_timeout=1))


def ready_checks() -> dict[str, HealthCheck]:
    """The checks of /health/ready, by the name the details show."""
    checks = {"database": Database(), "migrations": Migrations()}
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        checks["broker"] = _redis_broker_check()
    else:
        checks["broker"] = Broker()
    if settings.CACHE_URL.startswith(("redis://", "rediss://")):
        checks["cache"] = Cache()
    if settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS > 0:
        checks["heartbeat"] = Heartbeats()
    checks["webhook_backlog"] = WebhookBacklog()
    checks["billing_backlog"] = BillingBacklog()
    return checks


@require_GET
def live(request):
    response = JsonResponse({"status": "ok"})
    add_never_cache_headers(response)
    return response


class ReadyView(HealthCheckView):
    """django-health-check's runner with this project's checks and answer."""

    def get_checks(self):
        self.names = {}
        for name, check in ready_checks().items():
            self.names[id(check)] = name
            yield check

    @contextlib.contextmanager
    def get_executor(self):
        # The database checks share one thread, so one connection, which is closed afterwards
        # (a probe every few seconds must not leave a connection behind in a pool thread).
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health")
        try:
            yield executor
        finally:
            executor.submit(connections.close_all)
            executor.shutdown(wait=False)

    async def get(self, request, *args, **kwargs):
        with self.get_executor() as executor:
            self.results = await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
        failed = any(result.error for result in self.results)
        body = {"status": "unavailable" if failed else "ok"}
        if access.allowed(request, settings.HEALTH_TOKEN):
            body["checks"] = {
                self.names[id(result.check)]: {
                    "status": "unavailable" if result.error else "ok",
                    "seconds": round(result.time_taken, 4),
                    **({"error": result.error.message} if result.error else {}),
                }
                for result in self.results
            }
        response = JsonResponse(body, status=503 if failed else 200)
        # A failing probe every few seconds is not an application error: keep django.request (and
        # so Sentry) from logging each 503; the checks' outcomes are in the body.
        response._has_been_logged = True
        return response


ready = ReadyView.as_view()
