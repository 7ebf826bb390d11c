"""Writes of the customer portal: links (create, redeem) and sessions (touch, end).

A link's token is ``secrets.token_urlsafe(32)`` (256 bits); only its SHA-256 digest is stored, and
redeeming looks the digest up under a row lock, so two concurrent openings of one link start
exactly one session. Everything else the portal changes goes through the other apps' services.
"""

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from dodo_billing.email.tasks import email_enqueue
from dodo_billing.errors import ApplicationError, InvalidQueryParams
from portal.models import RETURN_URL_MAX_LENGTH, PortalLink, PortalSession

logger = logging.getLogger(__name__)

# A session's last_seen_at is written at most this often (not on every page view).
TOUCH_INTERVAL = timedelta(seconds=60)


class PortalLinkRefused(ApplicationError):
    """An unknown, used or expired link. One message for all three: nothing else is revealed."""

    status = 403
    code = "PORTAL_LINK_INVALID"
    default_message = "This link has expired or has already been used."


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_return_url(return_url: str | None) -> str | None:
    """An absolute http(s) URL, or None. Anything else is 422 INVALID_QUERY_PARAMS."""
    if return_url is None or return_url == "":
        return None

    def refuse(reason: str):
        message = f"return_url: {reason}"
        raise InvalidQueryParams(message, extra={"errors": {"return_url": [reason]}})

    if len(return_url) > RETURN_URL_MAX_LENGTH:
        refuse(f"must be at most {RETURN_URL_MAX_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in return_url):
        refuse("must not contain spaces or control characters.")
    try:
        parts = urlsplit(return_url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        refuse("is not a valid URL.")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        refuse("must be an absolute http:// or https:// URL.")
    if parts.username or parts.password:
        refuse("must not contain a user name or password.")
    return return_url


def portal_url(*, base_url: str, token: str) -> str:
    return base_url.rstrip("/") + reverse("portal:open", kwargs={"token": token})


@transaction.atomic
def portal_link_create(
    *,
    customer: Customer,
    base_url: str,
    return_url: str | None = None,
    send_email: bool = False,
    now: datetime | None = None,
) -> tuple[PortalLink, str]:
    """A new single-use link to ``customer``'s portal: returns the link and its URL (the only
    place the token ever appears). With ``send_email`` the URL is emailed to the customer once
    the transaction commits."""
    return_url = validate_return_url(return_url)
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    link = PortalLink.objects.create(
        customer=customer,
        token_digest=token_digest(token),
        return_url=return_url,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.PORTAL_LINK_MAX_AGE),
    )
    url = portal_url(base_url=base_url, token=token)
    if send_email:
        transaction.on_commit(lambda: _send_link_email(customer=customer, url=url, link=link))
    return link, url


def _send_link_email(*, customer: Customer, url: str, link: PortalLink) -> None:
    """Enqueue the email (sent by a Celery task, with a timeout and retries); never raises."""
    email_enqueue(
        "portal_link", {"customer_id": customer.id, "url": url, "expires_at": link.expires_at.isoformat()}
    )


def portal_link_redeem(*, token: str, now: datetime | None = None) -> PortalSession:
    """Open a link: mark it used and start a session for its customer. Unknown, used and expired
    links are refused alike (PortalLinkRefused). Concurrent redeems of one token serialize on the
    link's row: exactly one of them gets a session."""
    now = now or timezone.now()
    if not token or len(token) > 200:
        raise PortalLinkRefused()
    with transaction.atomic():
        link = PortalLink.objects.select_for_update().filter(token_digest=token_digest(token)).first()
        if link is None or link.used_at is not None or link.expires_at <= now:
            raise PortalLinkRefused()
        link.used_at = now
        link.save(update_fields=["used_at"])
        return PortalSession.objects.create(
            customer_id=link.customer_id,
            link=link,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.PORTAL_SESSION_MAX_AGE),
        )


def portal_session_touch(*, session: PortalSession, now: datetime | None = None) -> PortalSession:
    """Record activity (keeps an idle session alive); written at most once per TOUCH_INTERVAL."""
    now = now or timezone.now()
    if now - session.last_seen_at >= TOUCH_INTERVAL:
        PortalSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(last_seen_at=now)
        session.last_seen_at = now
    return session


def portal_session_end(*, session: PortalSession, now: datetime | None = None) -> PortalSession:
    """Sign out: the session stops working at once, whatever its cookie says."""
    now = now or timezone.now()
    if session.ended_at is None:
        PortalSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(ended_at=now)
        session.ended_at = now
    return session
