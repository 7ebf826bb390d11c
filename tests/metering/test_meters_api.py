"""The meters API: create, retrieve, update, list, archive, unarchive (contract §6)."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from metering.models import Meter
from tests.conftest import assert_error, post_json
from tests.metering.conftest import meter_rows

pytestmark = pytest.mark.django_db

METER_FIELDS = {
    "id",
    "business_id",
    "name",
    "description",
    "event_name",
    "measurement_unit",
    "aggregation",
    "filter",
    "created_at",
    "updated_at",
}
BASE = {"name": "Tokens", "event_name": "llm.completion", "measurement_unit": "tokens"}


def condition(key="model", operator="equals", value="gpt-4"):
    return {"key": key, "operator": operator, "value": value}


def nest(levels: int) -> dict:
    """A filter nested ``levels`` deep: level ``levels`` holds the conditions."""
    node = {"conjunction": "and", "clauses": [condition()]}
    for _ in range(levels - 1):
        node = {"conjunction": "or", "clauses": [node]}
    return node


def create(client, **fields):
    body = {**BASE, "aggregation": {"type": "count"}, **fields}
    return post_json(client, "/api/meters", body)


def meter_ids(response):
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"items"}
    return [m["id"] for m in response.json()["items"]]


# --- create ----------------------------------------------------------------------------------------


def test_create_count_meter_returns_201_with_the_contract_fields(api, business):
    response = post_json(api, "/api/meters", {**BASE, "aggregation": {"type": "count"}})
    assert response.status_code == 201, response.content
    data = response.json()
    assert set(data) == METER_FIELDS
    assert data["id"].startswith("mtr_") and len(data["id"]) == 25
    assert data["business_id"] == business.id
    assert (data["name"], data["event_name"], data["measurement_unit"]) == (
        "Tokens",
        "llm.completion",
        "tokens",
    )
    assert data["aggregation"] == {"type": "count", "key": None}
    assert data["filter"] is None and data["description"] is None
    assert data["created_at"].endswith("Z") and data["updated_at"].endswith("Z")
    # Two separate clock reads: updated_at may be a few microseconds after created_at.
    created, updated = (datetime.fromisoformat(data[f]) for f in ("created_at", "updated_at"))
    assert timedelta(0) <= updated - created < timedelta(seconds=1)
    meter = Meter.objects.get(pk=data["id"])
    assert (meter.business_id, meter.aggregation_type, meter.aggregation_key, meter.archived_at) == (
        business.id,
        "count",
        None,
        None,
    )
    assert api.get(f"/api/meters/{data['id']}").json() == data


def test_create_with_every_field(api):
    meter_filter = {
        "conjunction": "and",
        "clauses": [condition(), condition("tokens", "greater_than", 0)],
    }
    data = create(
        api,
        description="LLM tokens consumed",
        aggregation={"type": "sum", "key": "tokens"},
        filter=meter_filter,
    ).json()
    assert data["description"] == "LLM tokens consumed"
    assert data["aggregation"] == {"type": "sum", "key": "tokens"}
    assert data["filter"] == meter_filter
    assert Meter.objects.get(pk=data["id"]).filter == meter_filter


def test_null_description_and_filter_are_accepted(api):
    data = create(api, description=None, filter=None).json()
    assert data["description"] is None and data["filter"] is None


@pytest.mark.parametrize("kind", ["count", "sum", "max", "last"])
def test_every_aggregation_type(api, kind):
    response = create(api, aggregation={"type": kind, "key": "tokens"})
    assert response.status_code == 201, response.content
    expected_key = None if kind == "count" else "tokens"
    assert response.json()["aggregation"] == {"type": kind, "key": expected_key}
    assert Meter.objects.get().aggregation_type == kind


@pytest.mark.parametrize("kind", ["sum", "max", "last"])
@pytest.mark.parametrize("key", ["missing", None, "", "k" * 101, 5])
def test_sum_max_last_need_a_valid_key(api, kind, key):
    before = meter_rows()
    aggregation = {"type": kind} if key == "missing" else {"type": kind, "key": key}
    body = assert_error(create(api, aggregation=aggregation), 422, "INVALID_REQUEST_BODY")
    assert "aggregation.key" in body["message"]
    assert meter_rows() == before


def test_a_key_of_100_characters_is_accepted(api):
    response = create(api, aggregation={"type": "max", "key": "k" * 100})
    assert response.status_code == 201
    assert response.json()["aggregation"]["key"] == "k" * 100


@pytest.mark.parametrize(
    "aggregation",
    [{"type": "avg", "key": "x"}, {"type": "SUM", "key": "x"}, {"type": "unique"}, {}, "count", None, []],
)
def test_bad_aggregation_is_422(api, aggregation):
    before = meter_rows()
    body = assert_error(create(api, aggregation=aggregation), 422, "INVALID_REQUEST_BODY")
    assert "aggregation" in body["message"]
    assert meter_rows() == before


@pytest.mark.parametrize("missing", ["name", "event_name", "measurement_unit", "aggregation"])
def test_missing_required_field_is_422(api, missing):
    before = meter_rows()
    body = {**BASE, "aggregation": {"type": "count"}}
    del body[missing]
    error = assert_error(post_json(api, "/api/meters", body), 422, "INVALID_REQUEST_BODY")
    assert missing in error["errors"]
    assert meter_rows() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "n" * 256}, "name"),
        ({"event_name": ["llm"]}, "event_name"),
        ({"measurement_unit": "u" * 101}, "measurement_unit"),
        ({"description": 7}, "description"),
        ({"name": "nul\u0000name"}, "name"),
        ({"description": "nul\u0000"}, "description"),
    ],
)
def test_bad_field_is_422(api, change, field):
    before = meter_rows()
    error = assert_error(create(api, **change), 422, "INVALID_REQUEST_BODY")
    assert field in error["errors"]
    assert meter_rows() == before


@pytest.mark.parametrize("raw", ['{"name": ', "", "[]", "null", '"meter"'])
def test_malformed_body_is_422(api, raw):
    before = meter_rows()
    assert_error(post_json(api, "/api/meters", raw), 422, "INVALID_REQUEST_BODY")
    assert meter_rows() == before


# --- filters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "meter_filter",
    [
        {"conjunction": "and", "clauses": [condition()]},
        {"conjunction": "or", "clauses": [condition(), condition(value="gpt-3")]},
        nest(2),
        nest(3),
        {
            "conjunction": "and",
            "clauses": [
                {"conjunction": "or", "clauses": [condition(value="premium"), condition(value="enterprise")]},
                {"conjunction": "and", "clauses": [nest(1), nest(1)]},
            ],
        },
        {"conjunction": "and", "clauses": [condition(value=i) for i in range(10)]},
        {
            "conjunction": "and",
            "clauses": [
                condition("a", "equals", True),
                condition("b", "not_equals", 1.5),
                condition("c", "greater_than", 0),
                condition("d", "greater_than_or_equals", "m"),
                condition("e", "less_than", -3),
                condition("f", "less_than_or_equals", 100),
                condition("g", "contains", "pro"),
                condition("h", "does_not_contain", "free"),
                condition("k" * 100, "equals", "x" * 500),
            ],
        },
    ],
    ids=["and", "or", "nested-2", "nested-3", "two-groups", "ten-clauses", "every-operator"],
)
def test_valid_filters_are_stored_and_echoed(api, meter_filter):
    response = create(api, filter=meter_filter)
    assert response.status_code == 201, response.content
    assert response.json()["filter"] == meter_filter
    assert api.get(f"/api/meters/{response.json()['id']}").json()["filter"] == meter_filter


@pytest.mark.parametrize(
    "meter_filter",
    [
        nest(4),
        {"conjunction": "and", "clauses": []},
        {"conjunction": "and", "clauses": [condition(value=i) for i in range(11)]},
        {"conjunction": "and", "clauses": [condition(), nest(1)]},
        {"conjunction": "and", "clauses": [nest(1), condition()]},
        {"conjunction": "and", "clauses": [condition(operator="like")]},
        {"conjunction": "and", "clauses": [condition(operator="EQUALS")]},
        {"conjunction": "and", "clauses": [condition(operator="contains", value=5)]},
        {"conjunction": "and", "clauses": [condition(operator="does_not_contain", value=False)]},
        {"conjunction": "and", "clauses": [condition(operator="greater_than", value=True)]},
        {"conjunction": "and", "clauses": [condition(operator="less_than_or_equals", value=False)]},
        {"conjunction": "and", "clauses": [condition(key="k" * 101)]},
        {"conjunction": "and", "clauses": [condition(key="")]},
        {"conjunction": "and", "clauses": [condition(key=5)]},
        {"conjunction": "and", "clauses": [condition(value=None)]},
        {"conjunction": "and", "clauses": [condition(value={"a": 1})]},
        {"conjunction": "and", "clauses": [condition(value=[1])]},
        {"conjunction": "and", "clauses": [condition(value="x" * 501)]},
        {"conjunction": "and", "clauses": [condition(value="nul\u0000")]},
        {"conjunction": "and", "clauses": [condition(key="nul\u0000")]},
        {"conjunction": "and", "clauses": [{"key": "model", "operator": "equals"}]},
        {"conjunction": "and", "clauses": [{**condition(), "extra": 1}]},
        {"conjunction": "and", "clauses": [{}]},
        {"conjunction": "and", "clauses": ["model = gpt-4"]},
        {"conjunction": "xor", "clauses": [condition()]},
        {"conjunction": "AND", "clauses": [condition()]},
        {"clauses": [condition()]},
        {"conjunction": "and"},
        {"conjunction": "and", "clauses": condition()},
        {"conjunction": "and", "clauses": [condition()], "negate": True},
        "model = gpt-4",
        [condition()],
    ],
    ids=[
        "nested-4",
        "no-clauses",
        "eleven-clauses",
        "mixed-condition-first",
        "mixed-filter-first",
        "unknown-operator",
        "upper-case-operator",
        "contains-number",
        "does-not-contain-boolean",
        "greater-than-boolean",
        "less-or-equal-boolean",
        "key-101",
        "key-empty",
        "key-number",
        "value-null",
        "value-object",
        "value-array",
        "value-501",
        "value-nul",
        "key-nul",
        "no-value",
        "extra-condition-field",
        "empty-clause",
        "string-clause",
        "conjunction-xor",
        "conjunction-upper",
        "no-conjunction",
        "no-clauses-key",
        "clauses-object",
        "extra-filter-field",
        "filter-string",
        "filter-list",
    ],
)
def test_invalid_filters_are_422(api, meter_filter):
    before = meter_rows()
    body = assert_error(create(api, filter=meter_filter), 422, "INVALID_REQUEST_BODY")
    assert "filter" in body["message"]
    assert meter_rows() == before


@pytest.mark.parametrize("nested_first", [False, True])
def test_mixed_clause_array_is_rejected_as_mixed(api, nested_first):
    clauses = [nest(1), condition()] if nested_first else [condition(), nest(1)]
    before = meter_rows()
    body = assert_error(
        create(api, filter={"conjunction": "and", "clauses": clauses}), 422, "INVALID_REQUEST_BODY"
    )
    assert "mixes conditions and nested filters" in body["message"]
    assert list(body["errors"]) == ["filter.clauses"]
    assert meter_rows() == before


# --- retrieve --------------------------------------------------------------------------------------


def test_retrieve_and_locale_is_ignored(api, make_meter):
    meter = make_meter(description="d")
    data = api.get(f"/api/meters/{meter.id}").json()
    assert set(data) == METER_FIELDS and data["id"] == meter.id and data["description"] == "d"
    assert api.get(f"/api/meters/{meter.id}", {"locale": "fr"}).json() == data
    assert api.get(f"/api/meters/{meter.id}", {"locale": "xx-nonsense"}).json() == data


def test_retrieve_unknown_or_foreign_meter_is_404(api, other_api, make_meter):
    meter = make_meter()
    assert_error(api.get("/api/meters/mtr_doesnotexist"), 404, "NOT_FOUND")
    assert_error(other_api.get(f"/api/meters/{meter.id}"), 404, "NOT_FOUND")
    assert_error(APIClient().get(f"/api/meters/{meter.id}"), 401, "UNAUTHORIZED")


def test_archived_meter_is_still_retrievable(api, make_meter):
    meter = make_meter(archived=True)
    assert api.get(f"/api/meters/{meter.id}").status_code == 200


# --- list ------------------------------------------------------------------------------------------


def test_list_newest_first_active_by_default_archived_on_request(api, other_api, make_meter, other_business):
    start = timezone.now() - timedelta(days=1)
    old = make_meter(name="old", created_at=start)
    mid = make_meter(name="mid", created_at=start + timedelta(hours=1))
    new = make_meter(name="new", created_at=start + timedelta(hours=2))
    gone = make_meter(name="gone", created_at=start + timedelta(hours=3), archived=True)
    gone_earlier = make_meter(name="gone earlier", created_at=start - timedelta(hours=1), archived=True)
    make_meter(business=other_business, name="foreign")
    make_meter(business=other_business, name="foreign archived", archived=True)

    response = api.get("/api/meters")
    assert meter_ids(response) == [new.id, mid.id, old.id]
    assert all(set(m) == METER_FIELDS for m in response.json()["items"])
    assert meter_ids(api.get("/api/meters", {"archived": "false"})) == [new.id, mid.id, old.id]
    assert meter_ids(api.get("/api/meters", {"archived": "true"})) == [gone.id, gone_earlier.id]
    assert meter_ids(api.get("/api/meters", {"locale": "fr"})) == [new.id, mid.id, old.id]
    assert [m["name"] for m in other_api.get("/api/meters").json()["items"]] == ["foreign"]
    assert [m["name"] for m in other_api.get("/api/meters", {"archived": "true"}).json()["items"]] == [
        "foreign archived"
    ]


def test_list_pagination(api, make_meter):
    start = timezone.now() - timedelta(days=1)
    made = [make_meter(name=f"m{i}", created_at=start + timedelta(minutes=i)).id for i in range(13)]
    newest_first = made[::-1]
    assert meter_ids(api.get("/api/meters")) == newest_first[:10]
    assert meter_ids(api.get("/api/meters", {"page_size": 5, "page_number": 1})) == newest_first[5:10]
    assert meter_ids(api.get("/api/meters", {"page_size": 5, "page_number": 2})) == newest_first[10:]
    assert api.get("/api/meters", {"page_size": 5, "page_number": 3}).json() == {"items": []}
    assert meter_ids(api.get("/api/meters", {"page_size": 100})) == newest_first


@pytest.mark.parametrize(
    "params", [{"page_size": 0}, {"page_size": 101}, {"page_number": -1}, {"page_size": "x"}]
)
def test_bad_list_params_are_422(api, make_meter, params):
    make_meter()
    assert_error(api.get("/api/meters", params), 422, "INVALID_QUERY_PARAMS")


# --- update ----------------------------------------------------------------------------------------


@pytest.fixture
def old_meter(make_meter):
    return make_meter(
        name="Tokens",
        description="LLM tokens",
        event_name="llm",
        measurement_unit="tokens",
        aggregation={"type": "sum", "key": "tokens"},
        filter=nest(1),
        created_at=timezone.now() - timedelta(days=2),
    )


def test_patch_name_description_and_unit(api, old_meter):
    url = f"/api/meters/{old_meter.id}"
    response = api.patch(
        url, {"name": "Tokens (v2)", "description": "new", "measurement_unit": "ktokens"}, format="json"
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["name"], data["description"], data["measurement_unit"]) == ("Tokens (v2)", "new", "ktokens")
    assert (data["event_name"], data["aggregation"], data["filter"]) == (
        "llm",
        {"type": "sum", "key": "tokens"},
        nest(1),
    )
    old_meter_created = old_meter.created_at
    old_meter.refresh_from_db()
    assert old_meter.name == "Tokens (v2)" and old_meter.measurement_unit == "ktokens"
    assert old_meter.created_at == old_meter_created
    assert old_meter.updated_at > timezone.now() - timedelta(minutes=1)  # was two days old
    assert api.get(url).json() == data

    # Omitted fields are unchanged; null clears the description.
    data = api.patch(url, {"description": None}, format="json").json()
    assert (data["name"], data["description"], data["measurement_unit"]) == ("Tokens (v2)", None, "ktokens")
    old_meter.refresh_from_db()
    assert old_meter.description is None


def test_patch_ignores_event_name_aggregation_and_filter(api, old_meter):
    url = f"/api/meters/{old_meter.id}"
    body = {
        "name": "Renamed",
        "event_name": "other.event",
        "aggregation": {"type": "count"},
        "filter": None,
        "id": "mtr_hijacked",
        "business_id": "bus_other",
    }
    data = api.patch(url, body, format="json").json()
    assert data["name"] == "Renamed" and data["id"] == old_meter.id
    assert data["event_name"] == "llm"
    assert data["aggregation"] == {"type": "sum", "key": "tokens"}
    assert data["filter"] == nest(1)
    stored = Meter.objects.get(pk=old_meter.id)
    assert (stored.event_name, stored.aggregation_type, stored.aggregation_key, stored.filter) == (
        "llm",
        "sum",
        "tokens",
        nest(1),
    )
    assert stored.business_id == old_meter.business_id
    assert not Meter.objects.filter(pk="mtr_hijacked").exists()


def test_empty_patch_changes_nothing(api, old_meter):
    before = meter_rows()
    response = api.patch(f"/api/meters/{old_meter.id}", {}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Tokens"
    assert meter_rows() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"name": "n" * 256}, "name"),
        ({"measurement_unit": None}, "measurement_unit"),
        ({"measurement_unit": "u" * 101}, "measurement_unit"),
        ({"description": ["x"]}, "description"),
    ],
)
def test_bad_patch_is_422_and_writes_nothing(api, old_meter, body, field):
    before = meter_rows()
    error = assert_error(
        api.patch(f"/api/meters/{old_meter.id}", body, format="json"), 422, "INVALID_REQUEST_BODY"
    )
    assert field in error["errors"]
    assert meter_rows() == before


def test_patch_unknown_or_foreign_meter_is_404(api, other_api, old_meter):
    before = meter_rows()
    assert_error(api.patch("/api/meters/mtr_nope", {"name": "x"}, format="json"), 404, "NOT_FOUND")
    assert_error(
        other_api.patch(f"/api/meters/{old_meter.id}", {"name": "x"}, format="json"), 404, "NOT_FOUND"
    )
    assert meter_rows() == before


# --- archive / unarchive ---------------------------------------------------------------------------


def test_delete_archives_and_unarchive_restores(api, make_meter):
    meter = make_meter(created_at=timezone.now() - timedelta(days=1))
    url = f"/api/meters/{meter.id}"

    response = api.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    meter.refresh_from_db()
    archived_at = meter.archived_at
    assert archived_at is not None and meter.updated_at == archived_at
    assert meter_ids(api.get("/api/meters")) == []
    assert meter_ids(api.get("/api/meters", {"archived": "true"})) == [meter.id]

    assert api.delete(url).status_code == 204  # archiving twice keeps the first time
    meter.refresh_from_db()
    assert meter.archived_at == archived_at

    # The SDK sends Content-Type: application/json with an empty body.
    response = api.post(f"{url}/unarchive", content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.content in (b"", b"null")
    meter.refresh_from_db()
    assert meter.archived_at is None and meter.updated_at > archived_at
    assert meter_ids(api.get("/api/meters")) == [meter.id]
    assert meter_ids(api.get("/api/meters", {"archived": "true"})) == []

    assert api.post(f"{url}/unarchive", content_type="application/json").status_code == 200  # already active
    assert Meter.objects.get(pk=meter.pk).archived_at is None


def test_archive_and_unarchive_unknown_or_foreign_meter_is_404(api, other_api, make_meter):
    active = make_meter()
    archived = make_meter(archived=True)
    before = meter_rows()
    assert_error(api.delete("/api/meters/mtr_nope"), 404, "NOT_FOUND")
    assert_error(
        api.post("/api/meters/mtr_nope/unarchive", content_type="application/json"), 404, "NOT_FOUND"
    )
    assert_error(other_api.delete(f"/api/meters/{active.id}"), 404, "NOT_FOUND")
    assert_error(
        other_api.post(f"/api/meters/{archived.id}/unarchive", content_type="application/json"),
        404,
        "NOT_FOUND",
    )
    assert meter_rows() == before


def test_read_only_key_reads_but_cannot_write(read_only_api, make_meter):
    meter = make_meter()
    archived = make_meter(archived=True)
    before = meter_rows()
    assert_error(create(read_only_api), 403, "FORBIDDEN")
    assert_error(
        read_only_api.patch(f"/api/meters/{meter.id}", {"name": "x"}, format="json"), 403, "FORBIDDEN"
    )
    assert_error(read_only_api.delete(f"/api/meters/{meter.id}"), 403, "FORBIDDEN")
    assert_error(
        read_only_api.post(f"/api/meters/{archived.id}/unarchive", content_type="application/json"),
        403,
        "FORBIDDEN",
    )
    assert meter_rows() == before
    assert meter_ids(read_only_api.get("/api/meters")) == [meter.id]
    assert read_only_api.get(f"/api/meters/{meter.id}").status_code == 200


def test_no_key_is_401_and_writes_nothing(make_meter):
    meter = make_meter()
    before = meter_rows()
    anonymous = APIClient()
    assert_error(create(anonymous), 401, "UNAUTHORIZED")
    assert_error(anonymous.get("/api/meters"), 401, "UNAUTHORIZED")
    assert_error(anonymous.delete(f"/api/meters/{meter.id}"), 401, "UNAUTHORIZED")
    assert_error(
        anonymous.post(f"/api/meters/{meter.id}/unarchive", content_type="application/json"),
        401,
        "UNAUTHORIZED",
    )
    assert meter_rows() == before
