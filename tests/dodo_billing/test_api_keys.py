import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from customers.models import Customer
from dodo_billing.models import ApiKey, Business
from dodo_billing.services import api_key_create, api_key_revoke
from tests.conftest import assert_error, post_json

pytestmark = pytest.mark.django_db


def run_createapikey(*args):
    from io import StringIO

    out = StringIO()
    call_command("createapikey", *args, stdout=out)
    return out.getvalue().splitlines()


def client_with(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_createapikey_creates_business_and_prints_secret_once_on_last_line():
    lines = run_createapikey("--business", "Fresh Merchant", "--name", "ci")
    secret = lines[-1]
    business = Business.objects.get(name="Fresh Merchant")
    assert business.id.startswith("bus_") and len(business.id) == 25
    key = ApiKey.objects.get(business=business)
    assert secret.startswith(key.prefix + "_")
    # Only the digest is stored; the secret appears nowhere in the row.
    assert secret not in (key.prefix, key.secret_hash, key.name)
    assert all(secret not in line for line in lines[:-1])
    assert client_with(secret).get("/api/customers").status_code == 200


def test_createapikey_reuses_existing_business(business):
    run_createapikey("--business", business.name)
    run_createapikey("--business", business.name, "--read-only")
    assert Business.objects.filter(name=business.name).count() == 1
    assert list(business.api_keys.order_by("created_at").values_list("can_write", flat=True)) == [True, False]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer dbk_nonexistent_secret",
        "Basic dXNlcjpwYXNz",
        "Bearer not-even-our-format",
        "Bearer a b",
    ],
)
def test_missing_or_bad_key_is_401(business, header):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get("/api/customers"), 401, "UNAUTHORIZED")
    assert_error(post_json(client, "/api/customers", {"email": "a@b.co", "name": "A"}), 401, "UNAUTHORIZED")
    assert Customer.objects.count() == 0


def test_right_prefix_wrong_secret_is_401(business):
    _api_key, secret = api_key_create(business=business, name="k")
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    assert_error(client_with(forged).get("/api/customers"), 401, "UNAUTHORIZED")


def test_revoked_key_is_401(business):
    api_key, secret = api_key_create(business=business, name="k")
    client = client_with(secret)
    assert client.get("/api/customers").status_code == 200
    api_key_revoke(api_key=api_key)
    assert_error(client.get("/api/customers"), 401, "UNAUTHORIZED")


def test_read_only_key_reads_but_cannot_write(business, make_customer):
    customer = make_customer()
    _, secret = api_key_create(business=business, name="ro", can_write=False)
    client = client_with(secret)
    assert client.get(f"/api/customers/{customer.id}").status_code == 200
    assert_error(post_json(client, "/api/customers", {"email": "x@y.co", "name": "X"}), 403, "FORBIDDEN")
    body = {"amount": 5, "currency": "USD", "entry_type": "credit"}
    assert_error(
        post_json(client, f"/api/customers/{customer.id}/wallets/ledger-entries", body), 403, "FORBIDDEN"
    )
    assert Customer.objects.count() == 1
    assert not customer.ledger_entries.exists()


def test_last_used_at_is_recorded(business):
    api_key, secret = api_key_create(business=business, name="k")
    assert api_key.last_used_at is None
    client_with(secret).get("/api/customers")
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
