"""Fixtures of the portal tests: links, signed-in portal clients, and a customer with billing
history (a paid purchase with a license key, a live subscription, wallet activity)."""

import pytest
from django.test import Client

from metering.services.billing import subscription_create
from portal.services import portal_link_create
from tests.metering.test_payments_api import (
    BILLING,
    card,
    one_time_product,
    purchase,
    recurring_product,
    use_sandbox,
)
from wallets.services import wallet_credit

BASE_URL = "http://testserver/"


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def make_link(customer, **kwargs):
    """(link, url, token) of a new portal link."""
    kwargs.setdefault("base_url", BASE_URL)
    link, url = portal_link_create(customer=customer, **kwargs)
    return link, url, token_of(url)


def signed_in_client(customer, client=None, **kwargs) -> Client:
    client = client or Client()
    _, url, _ = make_link(customer, **kwargs)
    response = client.post(url.replace("http://testserver", ""))
    assert response.status_code == 302, response.content
    return client


@pytest.fixture
def portal_client(customer):
    return signed_in_client(customer, return_url="https://shop.example.com/account")


def billing_history(business, customer, *, top_up=2500):
    """A sandbox business where ``customer`` bought a licensed product (payment + key), holds a
    live monthly subscription, and has wallet activity. Returns (payment, subscription)."""
    use_sandbox(business)
    licensed = one_time_product(business, price=4900, name="Desktop app")
    type(licensed).objects.filter(pk=licensed.pk).update(license_key_enabled=True)
    licensed.refresh_from_db()
    payment = purchase(business, customer, product=licensed, payment_method=card(customer))
    plan = recurring_product(business, price=900)
    subscription = subscription_create(
        business=business, customer=customer, product=plan, payment_method=card(customer), billing=BILLING
    )
    if top_up:
        wallet_credit(customer=customer, currency="USD", amount=top_up, reason="Prepaid credits")
    return payment, subscription


@pytest.fixture
def history(business, customer):
    return billing_history(business, customer)
