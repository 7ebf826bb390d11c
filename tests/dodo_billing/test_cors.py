"""CORS on the API: browsers may call /api/ from the origins in CORS_ALLOWED_ORIGINS (none by
default), on preflights and on real answers alike; other origins and other paths get no CORS
headers, so the browser keeps the answer from the calling page."""

import pytest

from customers.models import Customer
from tests.conftest import post_json

pytestmark = pytest.mark.django_db

ALLOWED = "https://app.merchant.example"
OTHER = "https://evil.example"


@pytest.fixture
def allow_app(settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED]


def preflight(client, path, origin, method="POST"):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, x-stainless-retry-count",
    )


def test_preflight_from_an_allowed_origin_is_granted(allow_app, api):
    response = preflight(api, "/api/customers", ALLOWED)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in response["Access-Control-Allow-Methods"]
    allowed_headers = response["Access-Control-Allow-Headers"]
    assert {"authorization", "content-type", "x-stainless-retry-count"} <= set(allowed_headers.split(", "))
    assert "Access-Control-Allow-Credentials" not in response
    assert "origin" in response["Vary"].lower()


def test_preflight_from_another_origin_is_not_granted(allow_app, api):
    response = preflight(api, "/api/customers", OTHER)
    assert not any(name.lower().startswith("access-control-") for name in response.headers)


def test_real_answers_carry_the_policy_for_an_allowed_origin(allow_app, api, customer):
    response = api.get("/api/customers", HTTP_ORIGIN=ALLOWED)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert set(response["Access-Control-Expose-Headers"].split(", ")) == {"retry-after", "x-should-retry"}
    created = post_json(api, "/api/customers", {"email": "b@c.co", "name": "B"}, HTTP_ORIGIN=ALLOWED)
    assert created.status_code == 200
    assert created["Access-Control-Allow-Origin"] == ALLOWED
    # errors too, so that the calling page can read the error's code
    missing = api.get("/api/customers/cus_nope", HTTP_ORIGIN=ALLOWED)
    assert missing.status_code == 404
    assert missing["Access-Control-Allow-Origin"] == ALLOWED


def test_real_answers_carry_nothing_for_another_origin(allow_app, api, customer):
    response = api.get("/api/customers", HTTP_ORIGIN=OTHER)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
    assert Customer.objects.count() == 1


def test_no_origin_is_allowed_by_default(api, customer):
    answers = [preflight(api, "/api/customers", ALLOWED), api.get("/api/customers", HTTP_ORIGIN=ALLOWED)]
    for response in answers:
        assert "Access-Control-Allow-Origin" not in response


def test_only_the_api_has_a_cors_policy(allow_app, client):
    response = client.get("/login/", HTTP_ORIGIN=ALLOWED)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in preflight(client, "/login/", ALLOWED)


def test_plain_options_lists_the_routes_methods(api, customer):
    response = api.options(f"/api/customers/{customer.id}")
    assert response.status_code == 204
    assert response["Allow"] == "GET, PATCH, OPTIONS"
    assert "Access-Control-Allow-Origin" not in response
