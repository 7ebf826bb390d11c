"""The webhooks API: shapes, business scoping, cursor pagination, idempotency, and every bad input
(contract error shape, nothing written)."""

import base64
import json

import pytest
from rest_framework.test import APIClient

from dodo_billing.models import WebhookEndpoint
from dodo_billing.services import api_key_create
from dodo_billing.webhooks.endpoints import webhook_endpoint_create
from tests.conftest import assert_error, post_json

pytestmark = pytest.mark.django_db

URL = "https://merchant.example.com/webhooks/dodo"
DETAILS_KEYS = {
    "id",
    "url",
    "description",
    "disabled",
    "filter_types",
    "metadata",
    "rate_limit",
    "created_at",
    "updated_at",
}


def patch_json(client, url, body):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.patch(url, data=data, content_type="application/json")


def snapshot():
    return sorted(
        WebhookEndpoint.objects.values_list(
            "id",
            "url",
            "description",
            "disabled",
            "filter_types",
            "metadata",
            "headers",
            "rate_limit",
            "deleted_at",
        )
    )


# --- Create, retrieve, update, delete ---------------------------------------------------------


def test_create_with_defaults(api, business):
    response = post_json(api, "/api/webhooks", {"url": URL})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == DETAILS_KEYS
    assert body["id"].startswith("wh_") and body["url"] == URL
    assert (body["description"], body["disabled"], body["filter_types"], body["metadata"]) == (
        "",
        False,
        [],
        {},
    )
    assert body["rate_limit"] is None and body["created_at"].endswith("Z")
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.business == business and endpoint.secret not in response.content.decode()


def test_create_with_every_field(api):
    body = {
        "url": "http://merchant.example.com:8080/hook?x=1",
        "description": "Billing events",
        "disabled": True,
        "filter_types": ["payment.succeeded", "wallet.balance_low", "payment.succeeded"],
        "headers": {"X-Env": "prod", "Authorization": "Bearer abc"},
        "metadata": {"team": "billing"},
        "rate_limit": 5,
        "idempotency_key": "create-1",
    }
    created = post_json(api, "/api/webhooks", body).json()
    assert created["filter_types"] == ["payment.succeeded", "wallet.balance_low"]  # duplicates dropped
    assert (created["disabled"], created["rate_limit"], created["metadata"]) == (True, 5, {"team": "billing"})
    assert WebhookEndpoint.objects.get(pk=created["id"]).headers == body["headers"]


def test_retrieve_and_business_scoping(api, other_api):
    created = post_json(api, "/api/webhooks", {"url": URL}).json()
    assert api.get(f"/api/webhooks/{created['id']}").json() == created
    for client, path in [
        (other_api, f"/api/webhooks/{created['id']}"),
        (other_api, f"/api/webhooks/{created['id']}/secret"),
        (other_api, f"/api/webhooks/{created['id']}/headers"),
        (api, "/api/webhooks/wh_doesnotexist"),
    ]:
        assert_error(client.get(path), 404, "NOT_FOUND")
    assert_error(
        patch_json(other_api, f"/api/webhooks/{created['id']}", {"description": "x"}), 404, "NOT_FOUND"
    )
    assert_error(other_api.delete(f"/api/webhooks/{created['id']}"), 404, "NOT_FOUND")
    assert other_api.get("/api/webhooks").json()["data"] == []
    assert WebhookEndpoint.objects.get(pk=created["id"]).description == ""


def test_patch_changes_given_fields_and_null_clears(api):
    created = post_json(
        api,
        "/api/webhooks",
        {
            "url": URL,
            "description": "d",
            "filter_types": ["refund.failed"],
            "metadata": {"a": "b"},
            "rate_limit": 3,
        },
    ).json()
    path = f"/api/webhooks/{created['id']}"
    updated = patch_json(api, path, {"description": "new", "disabled": True}).json()
    assert (updated["description"], updated["disabled"], updated["filter_types"]) == (
        "new",
        True,
        ["refund.failed"],
    )
    assert updated["updated_at"] >= created["updated_at"] and updated["created_at"] == created["created_at"]
    cleared = patch_json(
        api,
        path,
        {"description": None, "disabled": None, "filter_types": None, "metadata": None, "rate_limit": None},
    ).json()
    assert (cleared["description"], cleared["disabled"], cleared["filter_types"]) == ("", False, [])
    assert (cleared["metadata"], cleared["rate_limit"], cleared["url"]) == ({}, None, URL)
    moved = patch_json(api, path, {"url": "https://other.example.com/h"}).json()
    assert moved["url"] == "https://other.example.com/h"
    assert patch_json(api, path, {}).json()["url"] == "https://other.example.com/h"


def test_delete_hides_the_endpoint_and_keeps_its_row(api):
    created = post_json(api, "/api/webhooks", {"url": URL}).json()
    response = api.delete(f"/api/webhooks/{created['id']}")
    assert response.status_code == 204 and response.content == b""
    assert_error(api.get(f"/api/webhooks/{created['id']}"), 404, "NOT_FOUND")
    assert_error(api.delete(f"/api/webhooks/{created['id']}"), 404, "NOT_FOUND")
    assert api.get("/api/webhooks").json() == {"data": [], "iterator": None, "done": True}
    assert WebhookEndpoint.objects.get(pk=created["id"]).deleted_at is not None


def test_secret(api):
    one = post_json(api, "/api/webhooks", {"url": URL}).json()
    two = post_json(api, "/api/webhooks", {"url": URL}).json()
    secret = api.get(f"/api/webhooks/{one['id']}/secret").json()
    assert set(secret) == {"secret"} and secret["secret"].startswith("whsec_")
    assert len(base64.b64decode(secret["secret"].removeprefix("whsec_"))) == 24
    assert secret != api.get(f"/api/webhooks/{two['id']}/secret").json()
    assert secret["secret"] == WebhookEndpoint.objects.get(pk=one["id"]).secret


def test_headers_hide_sensitive_values_and_patch_merges(api):
    created = post_json(
        api,
        "/api/webhooks",
        {"url": URL, "headers": {"X-Env": "prod", "Authorization": "Bearer s3cret", "X-Api-Key": "k"}},
    ).json()
    path = f"/api/webhooks/{created['id']}/headers"
    shown = api.get(path).json()
    assert shown == {"headers": {"X-Env": "prod"}, "sensitive": ["Authorization", "X-Api-Key"]}
    assert "s3cret" not in api.get(path).content.decode()

    response = patch_json(
        api, path, {"headers": {"x-env": "staging", "X-Team": "billing", "X-Api-Key": None}}
    )
    assert response.status_code == 204 and response.content == b""
    stored = WebhookEndpoint.objects.get(pk=created["id"]).headers
    assert stored == {"Authorization": "Bearer s3cret", "x-env": "staging", "X-Team": "billing"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"headers": "X-A: 1"},
        {"headers": {"X-A": 1}},
        {"headers": {"bad name": "v"}},
        {"headers": {"X-A": "line\r\nInjected: 1"}},
        {"headers": {"webhook-signature": "v1,forged"}},
        {"headers": {"Content-Type": "text/plain"}},
        {"headers": {f"X-H{i}": "v" for i in range(30)}},
        {"headers": {"X-A": "é"}},
        [],
    ],
)
def test_headers_patch_bad_input_changes_nothing(api, body):
    created = post_json(api, "/api/webhooks", {"url": URL, "headers": {"X-Keep": "1"}}).json()
    assert_error(patch_json(api, f"/api/webhooks/{created['id']}/headers", body), 422, "INVALID_REQUEST_BODY")
    assert WebhookEndpoint.objects.get(pk=created["id"]).headers == {"X-Keep": "1"}


# --- Cursor pagination -------------------------------------------------------------------------


def test_cursor_pagination_walks_every_endpoint_once_newest_first(api, business, other_business):
    ids = [webhook_endpoint_create(business=business, url=f"{URL}/{i}").id for i in range(23)]
    webhook_endpoint_create(business=other_business, url=URL)
    seen, iterator, pages = [], None, 0
    while True:
        params = {"limit": 10} | ({"iterator": iterator} if iterator else {})
        page = api.get("/api/webhooks", params).json()
        assert set(page) == {"data", "iterator", "done"}
        seen += [item["id"] for item in page["data"]]
        pages += 1
        if page["done"]:
            assert page["iterator"] is None
            break
        iterator = page["iterator"]
        assert isinstance(iterator, str) and len(page["data"]) == 10
    assert pages == 3 and seen == list(reversed(ids))
    default = api.get("/api/webhooks").json()
    assert len(default["data"]) == 10 and default["done"] is False
    assert api.get("/api/webhooks", {"limit": 100}).json()["done"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"iterator": "not-an-iterator"},
        {"iterator": base64.urlsafe_b64encode(b"2026-01-01|wh_x").decode()},  # naive time
        {"iterator": "%%%"},
    ],
)
def test_bad_list_parameters(api, params):
    assert_error(api.get("/api/webhooks", params), 422, "INVALID_QUERY_PARAMS")


# --- Idempotency -------------------------------------------------------------------------------


def test_idempotency_key_replays_and_conflicts(api, other_api):
    body = {"url": URL, "description": "once", "idempotency_key": "key-1"}
    first = post_json(api, "/api/webhooks", body).json()
    assert post_json(api, "/api/webhooks", body).json() == first
    assert WebhookEndpoint.objects.count() == 1
    conflict = post_json(api, "/api/webhooks", {**body, "description": "changed"})
    error = assert_error(conflict, 409, "IDEMPOTENCY_KEY_ALREADY_USED")
    assert conflict["x-should-retry"] == "false" and error["webhook_id"] == first["id"]
    # Keys are per business.
    assert post_json(other_api, "/api/webhooks", body).json()["id"] != first["id"]
    api.delete(f"/api/webhooks/{first['id']}")
    assert_error(post_json(api, "/api/webhooks", body), 409, "IDEMPOTENCY_KEY_ALREADY_USED")
    assert WebhookEndpoint.objects.count() == 2


# --- Bad input: the contract's error, nothing written --------------------------------------------

BAD_CREATE = [
    {},
    {"url": None},
    {"url": 123},
    {"url": ""},
    {"url": "not a url"},
    {"url": "merchant.example.com/hook"},
    {"url": "ftp://merchant.example.com/hook"},
    {"url": "javascript:alert(1)"},
    {"url": "http://"},
    {"url": "http:///only-a-path"},
    {"url": "https://exa mple.com/"},
    {"url": " https://merchant.example.com/"},
    {"url": "https://merchant.example.com:99999/"},
    {"url": "https://merchant.example.com:0/"},
    {"url": "https://merchant.example.com:port/"},
    {"url": "https://bad_host!.example.com/"},
    {"url": "https://merchant.example.com/\x00"},
    {"url": "https://merchant.example.com/" + "a" * 2048},
    {"url": URL, "description": 5},
    {"url": URL, "description": "d" * 1001},
    {"url": URL, "description": "a\x00b"},
    {"url": URL, "disabled": "true"},
    {"url": URL, "disabled": 1},
    {"url": URL, "filter_types": "payment.succeeded"},
    {"url": URL, "filter_types": ["payment.nope"]},
    {"url": URL, "filter_types": ["dispute.opened"]},
    {"url": URL, "filter_types": ["Payment.Succeeded"]},
    {"url": URL, "filter_types": [1]},
    {"url": URL, "filter_types": {"payment.succeeded": True}},
    {"url": URL, "headers": ["X-A", "1"]},
    {"url": URL, "headers": {"X-A": 1}},
    {"url": URL, "headers": {"X-A": None}},
    {"url": URL, "headers": {"": "v"}},
    {"url": URL, "headers": {"bad name": "v"}},
    {"url": URL, "headers": {"X-A": "a\nb"}},
    {"url": URL, "headers": {"Webhook-Id": "evt_forged"}},
    {"url": URL, "headers": {"Host": "evil.example.com"}},
    {"url": URL, "headers": {"X-A": "1", "x-a": "2"}},
    {"url": URL, "headers": {"X-A": "v" * 1001}},
    {"url": URL, "headers": {f"X-H{i}": "v" for i in range(21)}},
    {"url": URL, "metadata": "team=billing"},
    {"url": URL, "metadata": {"a": 1}},
    {"url": URL, "metadata": {"a": True}},
    {"url": URL, "metadata": {"a": {"b": "c"}}},
    {"url": URL, "metadata": {"a": None}},
    {"url": URL, "metadata": {"": "v"}},
    {"url": URL, "metadata": {"k" * 101: "v"}},
    {"url": URL, "metadata": {"a": "v" * 501}},
    {"url": URL, "metadata": {"a\x00": "v"}},
    {"url": URL, "rate_limit": 0},
    {"url": URL, "rate_limit": -1},
    {"url": URL, "rate_limit": 1.5},
    {"url": URL, "rate_limit": "10"},
    {"url": URL, "rate_limit": True},
    {"url": URL, "rate_limit": 2**31},
    {"url": URL, "idempotency_key": ""},
    {"url": URL, "idempotency_key": 7},
    {"url": URL, "idempotency_key": "k" * 256},
]


@pytest.mark.parametrize("body", BAD_CREATE, ids=[json.dumps(b)[:60] for b in BAD_CREATE])
def test_create_rejects_bad_input_and_writes_nothing(api, body):
    response = post_json(api, "/api/webhooks", body)
    error = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert response["x-should-retry"] == "false" and error["errors"]
    assert WebhookEndpoint.objects.count() == 0


def test_too_much_metadata_is_maximum_keys_reached(api):
    response = post_json(api, "/api/webhooks", {"url": URL, "metadata": {f"k{i}": "v" for i in range(51)}})
    assert_error(response, 422, "MAXIMUM_KEYS_REACHED")
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize("raw", ["{not json", "[]", '"https://x.example.com"', "null", "1"])
def test_create_rejects_a_body_that_is_not_an_object(api, raw):
    assert_error(post_json(api, "/api/webhooks", raw), 422, "INVALID_REQUEST_BODY")
    assert WebhookEndpoint.objects.count() == 0


BAD_PATCH = [
    {"url": None},
    {"url": "ftp://merchant.example.com/"},
    {"url": 5},
    {"description": ["x"]},
    {"description": "d" * 1001},
    {"disabled": "yes"},
    {"filter_types": ["nope"]},
    {"filter_types": "refund.failed"},
    {"metadata": {"a": 2}},
    {"rate_limit": 0},
    {"rate_limit": "5"},
    {"description": "fine", "rate_limit": -3},  # one bad field rejects the whole change
]


@pytest.mark.parametrize("body", BAD_PATCH, ids=[json.dumps(b)[:60] for b in BAD_PATCH])
def test_patch_rejects_bad_input_and_changes_nothing(api, body):
    created = post_json(api, "/api/webhooks", {"url": URL, "rate_limit": 2}).json()
    before = snapshot()
    assert_error(patch_json(api, f"/api/webhooks/{created['id']}", body), 422, "INVALID_REQUEST_BODY")
    assert snapshot() == before


def test_auth_read_only_keys_and_routes(api, business):
    assert_error(APIClient().get("/api/webhooks"), 401, "UNAUTHORIZED")
    assert_error(post_json(APIClient(), "/api/webhooks", {"url": URL}), 401, "UNAUTHORIZED")
    reader = APIClient()
    reader.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(business=business, name='ro', can_write=False)[1]}"
    )
    created = post_json(api, "/api/webhooks", {"url": URL}).json()
    assert reader.get(f"/api/webhooks/{created['id']}").status_code == 200
    assert reader.get(f"/api/webhooks/{created['id']}/secret").status_code == 200
    before = snapshot()
    assert_error(post_json(reader, "/api/webhooks", {"url": URL}), 403, "FORBIDDEN")
    assert_error(patch_json(reader, f"/api/webhooks/{created['id']}", {"disabled": True}), 403, "FORBIDDEN")
    assert_error(
        patch_json(reader, f"/api/webhooks/{created['id']}/headers", {"headers": {"X-A": "1"}}),
        403,
        "FORBIDDEN",
    )
    assert_error(reader.delete(f"/api/webhooks/{created['id']}"), 403, "FORBIDDEN")
    assert snapshot() == before
    # No trailing slashes, no redirects; unknown methods are JSON errors too.
    assert_error(api.get("/api/webhooks/"), 404, "NOT_FOUND")
    assert_error(api.get(f"/api/webhooks/{created['id']}/"), 404, "NOT_FOUND")
    assert_error(post_json(api, f"/api/webhooks/{created['id']}", {}), 405, "METHOD_NOT_ALLOWED")
    assert_error(api.delete(f"/api/webhooks/{created['id']}/secret"), 405, "METHOD_NOT_ALLOWED")


def test_the_schema_documents_the_webhook_routes(api):
    schema = api.get("/api/schema", {"format": "json"}).json()
    for route in (
        "/api/webhooks",
        "/api/webhooks/{webhook_id}",
        "/api/webhooks/{webhook_id}/secret",
        "/api/webhooks/{webhook_id}/headers",
    ):
        assert route in schema["paths"], route
