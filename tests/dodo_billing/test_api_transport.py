"""Transport rules of the contract: JSON everywhere, no trailing slashes, OPTIONS, bodiless POSTs."""

import pytest
from rest_framework.test import APIClient

from customers.models import Customer
from tests.conftest import assert_error, post_json

pytestmark = pytest.mark.django_db


def test_trailing_slash_is_a_json_404_not_a_redirect(api):
    response = api.get("/api/customers/")
    assert_error(response, 404, "NOT_FOUND")
    response = post_json(api, "/api/customers/", {"email": "a@b.co", "name": "A"})
    assert_error(response, 404, "NOT_FOUND")
    assert Customer.objects.count() == 0


def test_unknown_route_is_json_404_even_without_a_key():
    assert_error(APIClient().get("/api/no/such/thing"), 404, "NOT_FOUND")


@pytest.mark.parametrize("path", ["/api/events/a%0Ab", "/api/no%0Asuch/%0A", "/api/customers/%0A"])
def test_paths_with_newlines_get_the_json_404(api, path):
    """A newline in the path matches neither ``.`` nor ``<path:…>``: it must not fall to the HTML page."""
    assert_error(api.get(path), 404, "NOT_FOUND")


def test_options_is_204_without_auth(customer):
    client = APIClient()
    for path in ["/api/customers", f"/api/customers/{customer.id}/wallets/ledger-entries"]:
        response = client.options(path)
        assert response.status_code == 204
        assert "POST" in response["Allow"]
    assert client.options("/api/nowhere").status_code == 404


def test_malformed_json_is_422_and_writes_nothing(api):
    for raw in ['{"email": "a@b.co", "name": ', "not json", '{"email": NaN}', "[1, 2]", '"a string"']:
        assert_error(post_json(api, "/api/customers", raw), 422, "INVALID_REQUEST_BODY")
    assert Customer.objects.count() == 0


def test_non_json_content_type_is_415(api):
    response = api.post(
        "/api/customers", data="email=a@b.co&name=A", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert Customer.objects.count() == 0


def test_wrong_method_is_405(api, customer):
    assert_error(api.delete(f"/api/customers/{customer.id}"), 405, "METHOD_NOT_ALLOWED")
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_bodiless_post_is_accepted_as_empty(api, customer):
    # The SDK sends Content-Type: application/json with Content-Length: 0 on the portal session.
    response = api.post(
        f"/api/customers/{customer.id}/customer-portal/session?send_email=false",
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"link"}
    assert response.json()["link"].startswith("http://testserver/portal/open/")


def test_error_responses_tell_the_sdk_not_to_retry(api):
    response = api.get("/api/customers/cus_doesnotexist")
    assert_error(response, 404, "NOT_FOUND")
    assert response["x-should-retry"] == "false"


def test_schema_and_docs_are_served():
    client = APIClient()
    schema = client.get("/api/schema", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in [
        "/api/customers",
        "/api/customers/{customer_id}",
        "/api/customers/{customer_id}/wallets",
        "/api/customers/{customer_id}/wallets/ledger-entries",
        "/api/customers/{customer_id}/customer-portal/session",
    ]:
        assert path in paths
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    # The docs page's assets come from the installed sidecar package, not a CDN.
    assert b"cdn" not in docs.content.lower()
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_body_above_the_limit_is_413_and_writes_nothing(api, customer, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = {"email": "big@example.com", "name": "Big", "metadata": {f"k{i}": "v" * 400 for i in range(40)}}
    body = assert_error(post_json(api, "/api/customers", big), 413, "PAYLOAD_TOO_LARGE")
    assert "10000 bytes" in body["message"]
    events = {
        "events": [{"event_id": f"e{i}", "customer_id": customer.id, "event_name": "x"} for i in range(300)]
    }
    assert_error(post_json(api, "/api/events/ingest", events), 413, "PAYLOAD_TOO_LARGE")
    assert not Customer.objects.filter(email="big@example.com").exists()
    from metering.models import Event

    assert not Event.objects.exists()


@pytest.mark.parametrize("path", ["/api/subscriptions", "/api/customers", "/api/payments", "/api/events"])
def test_date_filters_with_any_iso_offset_are_compared_in_utc(api, customer, path):
    """An offset PostgreSQL cannot store (found by the API fuzzer) is converted, not a 500."""
    response = api.get(
        path, {"created_at_lte": "1830-12-17T12:52:07.93495-23:09", "end": "2026-01-01T00:00:00-23:59"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["items"] == []


@pytest.mark.parametrize("path", ["/api/events", "/api/customers", "/api/payments", "/api/subscriptions"])
def test_nul_in_a_filter_is_422_not_500(api, customer, path):
    """Found by the API fuzzer: PostgreSQL cannot compare text with NUL in it."""
    response = api.get(path, {"customer_id": "a\x00b", "name": "x\x00", "event_name": "\x00"})
    assert_error(response, 422, "INVALID_QUERY_PARAMS")
