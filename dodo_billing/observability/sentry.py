"""Error reporting to Sentry (or any service that accepts Sentry's protocol), off unless SENTRY_DSN
is set. Django requests, Celery tasks and ERROR log lines are reported; personal data is not sent
(``send_default_pii=False``: no cookies, no user, no client address) and secrets are scrubbed
from messages and URLs as in the logs."""

from dodo_billing.observability.logs import redact


def _scrub(event, hint):
    request = event.get("request") or {}
    if isinstance(request.get("url"), str):
        request["url"] = redact(request["url"])
    request.pop("query_string", None)
    logentry = event.get("logentry") or {}
    for key in ("message", "formatted"):
        if isinstance(logentry.get(key), str):
            logentry[key] = redact(logentry[key])
    if logentry.get("params"):
        logentry["params"] = [redact(str(param)) for param in logentry["params"]]
    for exception in (event.get("exception") or {}).get("values") or []:
        if isinstance(exception.get("value"), str):
            exception["value"] = redact(exception["value"])
    return event


def sentry_init(*, dsn: str, environment: str, release: str, traces_sample_rate: float) -> bool:
    """Start the SDK when ``dsn`` is set; returns whether it did."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        before_send=_scrub,
    )
    return True
