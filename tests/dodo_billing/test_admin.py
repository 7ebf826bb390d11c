"""Django admin: every model is reachable; keys are shown once; wallets and entries are read-only."""

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model

from customers.models import Customer
from dodo_billing.models import ApiKey
from dodo_billing.selectors import api_key_get_active
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_credit

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser(username="op", email="op@example.com", password="pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model",
    [
        "dodo_billing/business",
        "dodo_billing/apikey",
        "dodo_billing/membership",
        "dodo_billing/exchangerate",
        "customers/customer",
        "wallets/wallet",
        "wallets/ledgerentry",
    ],
)
def test_every_changelist_renders(operator, customer, model):
    wallet_credit(customer=customer, currency="USD", amount=10)
    assert operator.get(f"/admin/{model}/").status_code == 200


def test_api_key_is_created_in_admin_and_shown_once(operator, business):
    response = operator.post(
        "/admin/dodo_billing/apikey/add/", {"business": business.pk, "name": "from admin"}, follow=True
    )
    key = ApiKey.objects.get(name="from admin")
    page = response.content.decode()
    secret = page.split("it is not shown again: <code>")[1].split("</code>")[0]
    assert api_key_get_active(raw_key=secret).pk == key.pk
    # Any later page never shows it again; the stored row holds only the digest.
    detail = operator.get(f"/admin/dodo_billing/apikey/{quote(key.pk)}/change/").content.decode()
    assert secret not in detail and key.secret_hash not in detail
    assert key.prefix in detail
    assert secret not in operator.get("/admin/dodo_billing/apikey/").content.decode()


def test_revoke_action(operator, business):
    from dodo_billing.services import api_key_create

    key, secret = api_key_create(business=business, name="to revoke")
    operator.post(
        "/admin/dodo_billing/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]}, follow=True
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_get_active(raw_key=secret) is None


def test_customer_added_in_admin_gets_wallets(operator, business):
    response = operator.post(
        "/admin/customers/customer/add/",
        {
            "business": business.pk,
            "name": "Admin Made",
            "email": "admin.made@example.com",
            "phone_number": "",
            "preferred_locale": "",
            "metadata": '{"source": "admin"}',
            "wallets-TOTAL_FORMS": "0",
            "wallets-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content
    customer = Customer.objects.get(email="admin.made@example.com")
    assert customer.metadata == {"source": "admin"}
    assert sorted(customer.wallets.values_list("currency", flat=True)) == ["INR", "USD"]


def test_customer_admin_rejects_nested_metadata(operator, business):
    response = operator.post(
        "/admin/customers/customer/add/",
        {
            "business": business.pk,
            "name": "Nested",
            "email": "nested@example.com",
            "metadata": '{"a": {"b": 1}}',
            "wallets-TOTAL_FORMS": "0",
            "wallets-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200 and b"string, number or boolean" in response.content
    assert not Customer.objects.filter(email="nested@example.com").exists()


def test_wallets_and_entries_are_read_only(operator, customer):
    entry = wallet_credit(customer=customer, currency="USD", amount=10).entry
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    assert operator.get("/admin/wallets/ledgerentry/add/").status_code == 403
    assert operator.get("/admin/wallets/wallet/add/").status_code == 403
    view = operator.get(f"/admin/wallets/ledgerentry/{quote(entry.pk)}/change/")
    assert view.status_code == 200 and b'name="amount"' not in view.content
    operator.post(f"/admin/wallets/wallet/{quote(wallet.pk)}/change/", {"balance": 10**6})
    assert Wallet.objects.get(pk=wallet.pk).balance == 10
    assert operator.post(f"/admin/wallets/ledgerentry/{quote(entry.pk)}/delete/").status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
