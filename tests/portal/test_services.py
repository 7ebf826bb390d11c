"""Portal links and sessions: tokens are stored as digests, open once, expire; sessions end;
return_url is checked; the email goes out after commit; license keys are issued once per payment."""

import hashlib
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from dodo_billing.errors import InvalidQueryParams
from metering.models import LicenseKey, PaymentStatus
from metering.services.license_keys import license_key_issue_for_payment
from portal.models import PortalLink, PortalSession
from portal.selectors import portal_session_get
from portal.services import (
    PortalLinkRefused,
    portal_link_create,
    portal_link_redeem,
    portal_session_end,
    portal_session_touch,
)
from tests.portal.conftest import BASE_URL, billing_history, make_link

pytestmark = pytest.mark.django_db


def test_link_stores_only_a_digest_of_its_token(customer):
    link, url, token = make_link(customer)
    assert url == f"http://testserver/portal/open/{token}"
    assert len(token) >= 40
    link.refresh_from_db()
    assert link.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(PortalLink.objects.values().get(pk=link.pk))
    assert link.used_at is None and link.return_url is None


def test_link_expires_after_the_configured_age(customer, settings):
    settings.PORTAL_LINK_MAX_AGE = 600
    now = timezone.now()
    link, _, token = make_link(customer, now=now)
    assert link.expires_at == now + timedelta(seconds=600)
    with pytest.raises(PortalLinkRefused):
        portal_link_redeem(token=token, now=now + timedelta(seconds=600))
    assert PortalSession.objects.count() == 0
    # Just before the end it still opens.
    session = portal_link_redeem(token=token, now=now + timedelta(seconds=599))
    assert session.customer_id == customer.id


def test_default_link_age_is_24_hours(customer):
    now = timezone.now()
    link, _, _ = make_link(customer, now=now)
    assert link.expires_at - now == timedelta(hours=24)


def test_link_opens_once(customer):
    _, _, token = make_link(customer)
    session = portal_link_redeem(token=token)
    assert session.link.used_at is not None
    with pytest.raises(PortalLinkRefused) as refused:
        portal_link_redeem(token=token)
    assert refused.value.code == "PORTAL_LINK_INVALID"
    assert PortalSession.objects.count() == 1


@pytest.mark.parametrize("token", ["", "nope", "x" * 500, "../../admin"])
def test_unknown_tokens_are_refused_alike(customer, token):
    make_link(customer)
    with pytest.raises(PortalLinkRefused) as refused:
        portal_link_redeem(token=token)
    assert refused.value.message == PortalLinkRefused.default_message
    assert PortalSession.objects.count() == 0


@pytest.mark.parametrize(
    "return_url",
    [
        "javascript:alert(1)",
        "ftp://example.com/",
        "/relative/path",
        "https://",
        "https://user:pass@example.com/",
        "https://exa mple.com/",
        "https://example.com/\nx",
        "https://example.com:99999/",
        "https://example.com/" + "a" * 2000,
    ],
)
def test_bad_return_url_is_refused_and_writes_nothing(customer, return_url):
    with pytest.raises(InvalidQueryParams) as error:
        portal_link_create(customer=customer, base_url=BASE_URL, return_url=return_url)
    assert error.value.status == 422 and "return_url" in error.value.message
    assert PortalLink.objects.count() == 0


def test_return_url_is_kept(customer):
    link, _, token = make_link(customer, return_url="https://shop.example.com/back?x=1")
    assert link.return_url == "https://shop.example.com/back?x=1"
    assert portal_link_redeem(token=token).return_url == "https://shop.example.com/back?x=1"


def test_session_lifetime_idle_and_sign_out(customer, settings):
    settings.PORTAL_SESSION_IDLE_AGE = 3600
    settings.PORTAL_SESSION_MAX_AGE = 4 * 3600
    now = timezone.now()
    _, _, token = make_link(customer, now=now)
    session = portal_link_redeem(token=token, now=now)
    assert portal_session_get(session_id=session.id, now=now + timedelta(minutes=59)) is not None
    assert portal_session_get(session_id=session.id, now=now + timedelta(minutes=61)) is None  # idle
    # Activity keeps it alive up to the absolute end.
    for minutes in (50, 100, 150, 200):
        portal_session_touch(session=session, now=now + timedelta(minutes=minutes))
    assert portal_session_get(session_id=session.id, now=now + timedelta(minutes=230)) is not None
    assert portal_session_get(session_id=session.id, now=now + timedelta(minutes=241)) is None  # absolute
    portal_session_end(session=session, now=now + timedelta(minutes=5))
    assert portal_session_get(session_id=session.id, now=now + timedelta(minutes=6)) is None


def test_email_is_sent_after_commit_naming_the_business(
    customer, celery_eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _, url, _ = make_link(customer, send_email=True)
    assert mail.outbox == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["jane@example.com"]
    assert "Acme Compute" in message.subject
    assert url in message.body and "Acme Compute" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and url in html and "Acme Compute" in html


def test_no_email_unless_asked(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_link(customer)
    assert mail.outbox == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_redeems_of_one_token_start_one_session(customer):
    _, _, token = make_link(customer)
    barrier = threading.Barrier(8)
    results = []

    def redeem():
        try:
            barrier.wait()
            results.append(portal_link_redeem(token=token).id)
        except PortalLinkRefused:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=lambda r: r == "refused")[1:] == ["refused"] * 7
    assert PortalSession.objects.count() == 1


def test_license_key_issued_once_per_successful_payment(business, customer):
    payment, _ = billing_history(business, customer)
    assert payment.status == PaymentStatus.SUCCEEDED
    key = LicenseKey.objects.get(payment=payment)
    assert key.customer_id == customer.id and key.product_id == payment.product_id
    assert key.status == "active" and key.id.startswith("lic_")
    assert len(key.key) == 29 and key.key.count("-") == 4
    assert license_key_issue_for_payment(payment=payment) == key
    assert LicenseKey.objects.filter(payment=payment).count() == 1


def test_no_license_key_without_the_flag_or_success(business, customer):
    from tests.metering.test_payments_api import DECLINED_CARD, card, purchase, use_sandbox

    use_sandbox(business)
    assert purchase(business, customer, payment_method=card(customer)).status == PaymentStatus.SUCCEEDED
    failed = purchase(business, customer, payment_method=card(customer, DECLINED_CARD))
    assert failed.status == PaymentStatus.FAILED
    assert LicenseKey.objects.count() == 0
