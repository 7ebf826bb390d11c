"""Sending emails: one Celery task per message, with the SMTP timeout (EMAIL_TIMEOUT) and retries
with growing delays; a message that still fails after EMAIL_MAX_RETRIES is logged and counted."""

import logging
import smtplib

from celery import shared_task
from django.conf import settings

from dodo_billing.email.messages import BUILDERS
from dodo_billing.observability import metrics

logger = logging.getLogger(__name__)


def email_enqueue(kind: str, params: dict) -> None:
    """Enqueue one email (call after commit). A broker outage is logged, never raised: the change
    that asked for the email stands."""
    try:
        send_email.delay(kind, params)
    except Exception:
        logger.exception("Could not enqueue the %s email", kind)
        metrics.EMAILS.labels(kind, "not_enqueued").inc()


@shared_task(name="dodo_billing.email.tasks.send_email", bind=True, acks_late=True)
def send_email(self, kind: str, params: dict) -> str:
    message = BUILDERS[kind](**params)
    if message is None:
        return "skipped"
    try:
        message.send()  # Django's SMTP backend applies EMAIL_TIMEOUT to the connection
    except (smtplib.SMTPException, OSError) as exc:
        if self.request.retries >= settings.EMAIL_MAX_RETRIES:
            logger.error("Gave up the %s email after %s attempts: %s", kind, self.request.retries + 1, exc)
            metrics.EMAILS.labels(kind, "failed").inc()
            return "failed"
        delay = settings.EMAIL_RETRY_SECONDS * 2**self.request.retries
        logger.warning("The %s email failed (%s); retry in %s s", kind, exc, delay)
        raise self.retry(exc=exc, countdown=delay) from exc
    metrics.EMAILS.labels(kind, "sent").inc()
    return "sent"
