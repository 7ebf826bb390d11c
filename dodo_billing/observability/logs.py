"""Structured logs: a request id on every line, carried into the Celery tasks a request enqueues,
JSON lines with ``LOG_FORMAT=json`` (python-json-logger), and secrets scrubbed from every line.

- ``RequestIdMiddleware`` takes ``X-Request-ID`` from the request when it is a sane token (else
  makes one), keeps it in a context variable for the request, returns it in the response, and
  logs one ``dodo_billing.access`` line per request (method, route, path, status, duration).
- ``before_task_publish`` copies the current id into the task message's headers; ``task_prerun``
  puts it back in the context variable in the worker, so the task's log lines carry it too.
- ``RequestIdFilter`` adds ``request_id`` to every record; ``RedactFilter`` masks API keys,
  bearer tokens, webhook secrets and portal-link tokens in the final message.
"""

import contextvars
import logging
import re
import time
import uuid

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.core.signals import request_finished
from django.dispatch import receiver

from dodo_billing.observability.middleware import route_of

REQUEST_ID_HEADER = "X-Request-ID"
_request_id = contextvars.ContextVar("request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

access_logger = logging.getLogger("dodo_billing.access")


def current_request_id() -> str | None:
    return _request_id.get()


def request_id_for(header: str | None) -> str:
    """The client's id when it is 1–128 URL-safe characters, else a new random one."""
    if header and _VALID_ID.match(header):
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        started = time.perf_counter()
        # Set for the rest of the request, Django's own response logging included; cleared when
        # the response is closed (request_finished).
        _request_id.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "route": route_of(request),
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return response


@receiver(request_finished, dispatch_uid="observability.request_id_finished")
def _request_done(**kwargs) -> None:
    _request_id.set(None)


@before_task_publish.connect(dispatch_uid="observability.request_id_publish")
def _add_request_id(headers=None, **kwargs) -> None:
    request_id = _request_id.get()
    if request_id and headers is not None:
        headers.setdefault("request_id", request_id)


@task_prerun.connect(dispatch_uid="observability.request_id_prerun")
def _set_request_id(task=None, **kwargs) -> None:
    _request_id.set(getattr(task.request, "request_id", None) if task is not None else None)


@task_postrun.connect(dispatch_uid="observability.request_id_postrun")
def _clear_request_id(**kwargs) -> None:
    _request_id.set(None)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (None outside a request or a task it enqueued)."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


_SECRETS = [
    # API keys: keep the public prefix, which names the key, and drop the secret.
    (re.compile(r"\b(dbk_[A-Za-z0-9]{12})_[A-Za-z0-9]+"), r"\1_[redacted]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), r"\1 [redacted]"),
    (re.compile(r"(?i)\b(token|key)=[^\s\"',;&]+"), r"\1=[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"), "whsec_[redacted]"),
    (re.compile(r"(/portal/open/)[^/\s?\"']+"), r"\1[redacted]"),
    (
        re.compile(r"(?i)((?:password|secret|api_key|apikey)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class RedactFilter(logging.Filter):
    """Scrubs the formatted message and the exception text of a record before any handler writes it."""

    def filter(self, record):
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for name, value in list(record.__dict__.items()):
            if name in _RECORD_ATTRIBUTES or isinstance(value, int | float | bool | type(None)):
                continue
            # Extras such as "path", or "request" (Django's response logging): text, scrubbed.
            setattr(record, name, redact(value if isinstance(value, str) else repr(value)))
        return True


def logging_config(*, log_format: str, level: str, access: bool) -> dict:
    """Django's LOGGING: one console handler, plain text or JSON lines, with both filters."""
    formatters = {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "dodo_billing.observability.logs.RequestIdFilter"},
            "redact": {"()": "dodo_billing.observability.logs.RedactFilter"},
        },
        "formatters": {"default": formatters["json" if log_format == "json" else "plain"]},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "health_check": {"level": "ERROR"},
            "dodo_billing.access": {"level": "INFO" if access else "WARNING"},
        },
    }
