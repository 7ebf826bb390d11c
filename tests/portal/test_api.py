"""POST /api/customers/{id}/customer-portal/session: query parameters, errors, nothing written."""

import pytest
from django.core import mail

from portal.models import PortalLink
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db


def url(customer_id, query=""):
    return f"/api/customers/{customer_id}/customer-portal/session{query}"


def test_returns_a_link(api, customer, celery_eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url(customer.id, "?return_url=https%3A%2F%2Fexample.com%2Fback&send_email=true"))
    assert response.status_code == 200
    assert list(response.json()) == ["link"]
    assert response.json()["link"].startswith("http://testserver/portal/open/")
    assert PortalLink.objects.get().return_url == "https://example.com/back"
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    "query, field",
    [
        ("?send_email=yes", "send_email"),
        ("?send_email=1", "send_email"),
        ("?return_url=javascript%3Aalert(1)", "return_url"),
        ("?return_url=%2Frelative", "return_url"),
    ],
)
def test_bad_query_params_are_422_and_write_nothing(api, customer, query, field):
    body = assert_error(api.post(url(customer.id, query)), 422, "INVALID_QUERY_PARAMS")
    assert field in body["errors"]
    assert PortalLink.objects.count() == 0 and mail.outbox == []


def test_other_business_customer_is_404(api, other_business, make_customer):
    outsider = make_customer(business=other_business, email="o@example.com")
    assert_error(api.post(url(outsider.id)), 404, "NOT_FOUND")
    assert PortalLink.objects.count() == 0


def test_read_only_key_cannot_create_links(business, customer):
    from rest_framework.test import APIClient

    from dodo_billing.services import api_key_create

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(business=business, name='ro', can_write=False)[1]}"
    )
    assert_error(client.post(url(customer.id)), 403, "FORBIDDEN")
    assert PortalLink.objects.count() == 0


def test_products_accept_license_key_enabled(api, business, customer):
    from metering.models import LicenseKey, Product
    from tests.conftest import post_json
    from tests.metering.test_payments_api import card, purchase, use_sandbox

    body = {
        "name": "Desktop app",
        "tax_category": "saas",
        "price": {
            "type": "one_time_price",
            "currency": "USD",
            "price": 4900,
            "discount": 0,
            "purchasing_power_parity": False,
        },
        "license_key_enabled": True,
    }
    response = post_json(api, "/api/products", body)
    assert response.status_code == 200, response.content
    assert response.json()["license_key_enabled"] is True
    product = Product.objects.get(pk=response.json()["product_id"])
    use_sandbox(business)
    payment = purchase(business, customer, product=product, payment_method=card(customer))
    assert LicenseKey.objects.get(payment=payment).customer_id == customer.id
    # Turned off: later payments issue none; null means off too.
    for value in (False, None):
        response = api.patch(f"/api/products/{product.id}", {"license_key_enabled": value}, format="json")
        assert response.status_code == 200, response.content
        assert api.get(f"/api/products/{product.id}").json()["license_key_enabled"] is False
    product.refresh_from_db()
    purchase(business, customer, product=product, payment_method=card(customer))
    assert LicenseKey.objects.count() == 1


def test_license_key_enabled_must_be_a_boolean(api):
    from metering.models import Product
    from tests.conftest import post_json

    body = {
        "name": "Desktop app",
        "tax_category": "saas",
        "price": {
            "type": "one_time_price",
            "currency": "USD",
            "price": 4900,
            "discount": 0,
            "purchasing_power_parity": False,
        },
        "license_key_enabled": "yes",
    }
    assert_error(post_json(api, "/api/products", body), 422, "INVALID_REQUEST_BODY")
    assert not Product.objects.exists()
