"""Emails through Celery to a real SMTP server (aiosmtpd on 127.0.0.1, started here): portal links,
receipts with the invoice PDF, failed payments, low balances; branding; retries after an SMTP
refusal and the timeout of a server that never answers."""

import email
import email.policy
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from django.core.exceptions import ValidationError
from django.db import transaction

from dodo_billing.email.tasks import send_email
from dodo_billing.models import Business
from tests.stack import free_port, wait_until
from wallets.services import wallet_credit, wallet_debit, wallet_set_low_balance_threshold


class Inbox:
    """aiosmtpd handler: keeps every message; refuses the first ``refuse`` DATA commands with 451."""

    def __init__(self, refuse: int = 0):
        self.messages: list[email.message.EmailMessage] = []
        self.refused = 0
        self.refuse = refuse

    async def handle_DATA(self, server, session, envelope):
        if self.refused < self.refuse:
            self.refused += 1
            return "451 Try again later"
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch, settings):
    """A real SMTP server; this process and the workers started after it send their email to it."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    values = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_RETRY_SECONDS": "0.5",
        "DEFAULT_FROM_EMAIL": "billing@merchant.example",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings.EMAIL_BACKEND = values["EMAIL_BACKEND"]
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_RETRY_SECONDS = 0.5
    settings.DEFAULT_FROM_EMAIL = values["DEFAULT_FROM_EMAIL"]
    yield inbox
    controller.stop()


def branded(business: Business) -> Business:
    business.brand_color = "#ff5500"
    business.email_sender_name = "Acme Billing"
    business.email_reply_to = "help@acme.example"
    business.customer_emails = True
    business.save()
    return business


def parts(message) -> tuple[str, str, list]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    attachments = list(message.iter_attachments())
    return text, html, attachments


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_portal_link_and_receipts_through_a_real_worker(smtp, celery_workers, api, business, make_customer):
    branded(business)
    worker = celery_workers()
    from tests.metering.test_billing_worker import due_subscriptions

    # A portal link asked for by the API.
    customer = make_customer(name="Ada", email="ada@example.com")
    response = api.post(f"/api/customers/{customer.id}/customer-portal/session?send_email=true")
    link = response.json()["link"]
    wait_until(lambda: len(smtp.messages) == 1, 30, what="the portal link email")
    message = smtp.messages[0]
    assert message["To"] == "ada@example.com"
    assert message["From"] == "Acme Billing <billing@merchant.example>"
    assert message["Reply-To"] == "help@acme.example"
    text, html, _ = parts(message)
    assert link in text and link in html and "#ff5500" in html

    # A billed period paid by card: a receipt with the invoice PDF.
    [subscription] = due_subscriptions(business, 1)
    from metering.tasks import bill_subscription_periods

    assert bill_subscription_periods([[subscription.id, subscription.previous_billing_date.isoformat()]]) == 1
    wait_until(lambda: len(smtp.messages) == 2, 30, what="the receipt")
    receipt = smtp.messages[1]
    assert receipt["To"] == subscription.customer.email
    assert receipt["Subject"].startswith("Receipt from Acme Compute")
    text, html, attachments = parts(receipt)
    payment = subscription.payments.get()
    assert payment.id in text and payment.id in html
    [pdf] = attachments
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_content().startswith(b"%PDF")
    assert worker.log().count("succeeded") >= 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_payment_says_how_to_fix_it(smtp, celery_workers, business):
    branded(business)
    celery_workers()
    from metering.models import PaymentMethod
    from metering.tasks import bill_subscription_periods
    from tests.metering.test_billing_worker import due_subscriptions

    [subscription] = due_subscriptions(business, 1)
    PaymentMethod.objects.filter(pk=subscription.payment_method_id).update(card_number="4000000000000002")
    bill_subscription_periods([[subscription.id, subscription.previous_billing_date.isoformat()]])
    wait_until(lambda: smtp.messages, 30, what="the failed-payment email")
    [message] = smtp.messages
    text, _html, attachments = parts(message)
    assert "did not go through" in message["Subject"]
    assert "How to fix it" in text and "card ending in 4242" in text
    assert "We will try again on" in text
    assert not attachments


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_low_balance_email_after_commit_only(smtp, celery_workers, business, make_customer):
    branded(business)
    business.low_balance_thresholds = {"USD": 500}
    business.save()
    celery_workers()
    customer = make_customer(email="low@example.com")  # its USD wallet gets the business's threshold
    assert customer.wallets.get(currency="USD").low_balance_threshold == 500
    assert customer.wallets.get(currency="INR").low_balance_threshold is None
    wallet_credit(customer=customer, currency="USD", amount=1000)
    with pytest.raises(RuntimeError), transaction.atomic():
        wallet_debit(customer=customer, currency="USD", amount=600)
        raise RuntimeError("rolled back: no email")
    wallet_debit(customer=customer, currency="USD", amount=600)  # 1000 -> 400, below 500
    wait_until(lambda: smtp.messages, 30, what="the low-balance email")
    time.sleep(1)
    [message] = smtp.messages
    assert message["To"] == "low@example.com"
    text, _, _ = parts(message)
    assert "$4.00" in text and "$5.00" in text


@pytest.mark.django_db
def test_no_receipts_unless_the_business_emails_its_customers(smtp, business, customer, celery_eager):
    assert business.customer_emails is False
    wallet_set_low_balance_threshold(wallet=customer.wallets.get(currency="USD"), threshold=500)
    wallet_credit(customer=customer, currency="USD", amount=1000)
    wallet_debit(customer=customer, currency="USD", amount=600)
    assert smtp.messages == []


@pytest.mark.django_db
def test_an_smtp_refusal_is_retried(smtp, business, customer):
    smtp.refuse = 2
    params = {"customer_id": customer.id, "currency": "USD", "balance": 1, "threshold": 2}
    assert send_email.apply(args=["balance_low", params]).get() == "sent"
    assert smtp.refused == 2 and len(smtp.messages) == 1


@pytest.mark.django_db
def test_a_server_that_never_answers_times_out_and_is_given_up(settings, business, customer):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts connections, never speaks
    accepted = []
    threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", silent.getsockname()[1]
    settings.EMAIL_TIMEOUT = 1
    settings.EMAIL_MAX_RETRIES = 1
    settings.EMAIL_RETRY_SECONDS = 0
    params = {"customer_id": customer.id, "currency": "USD", "balance": 1, "threshold": 2}
    started = time.monotonic()
    try:
        assert send_email.apply(args=["balance_low", params]).get() == "failed"
    finally:
        silent.close()
    assert time.monotonic() - started < 10  # two attempts of about EMAIL_TIMEOUT each


def test_branding_is_validated(db):
    business = Business(name="B", brand_color="red", low_balance_thresholds={"USD": -1})
    with pytest.raises(ValidationError) as error:
        business.full_clean()
    assert set(error.value.message_dict) == {"brand_color", "low_balance_thresholds"}
    business.brand_color, business.low_balance_thresholds = "#00aa00", {"XYZ": 5}
    with pytest.raises(ValidationError):
        business.full_clean()
    business.low_balance_thresholds = {"USD": 500, "INR": 40000}
    business.full_clean()
