"""The products API: create, retrieve, update, list, archive, unarchive (contract §7)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from metering.models import Product, ProductMeter
from metering.services.billing import product_create
from tests.conftest import assert_error, post_json

pytestmark = pytest.mark.django_db

PRODUCT_FIELDS = {
    "product_id",
    "business_id",
    "brand_id",
    "name",
    "description",
    "tax_category",
    "is_recurring",
    "price",
    "metadata",
    "wallet_top_up",
    "archived",
    "credit_entitlements",
    "entitlements",
    "addons",
    "license_key_enabled",
    "image",
    "pricing_mode",
    "product_collection_id",
    "created_at",
    "updated_at",
}
LIST_FIELDS = {
    "product_id",
    "business_id",
    "name",
    "description",
    "tax_category",
    "is_recurring",
    "currency",
    "price",
    "price_detail",
    "tax_inclusive",
    "metadata",
    "wallet_top_up",
    "entitlements",
    "image",
    "pricing_mode",
    "created_at",
    "updated_at",
}


def usage_price(meters=(), **fields):
    return {
        "type": "usage_based_price",
        "currency": "USD",
        "fixed_price": 0,
        "payment_frequency_count": 1,
        "payment_frequency_interval": "Month",
        "subscription_period_count": 20,
        "subscription_period_interval": "Year",
        "meters": list(meters),
        **fields,
    }


def recurring_price(**fields):
    return {
        "type": "recurring_price",
        "currency": "USD",
        "price": 2900,
        "payment_frequency_count": 1,
        "payment_frequency_interval": "Month",
        "subscription_period_count": 20,
        "subscription_period_interval": "Year",
        **fields,
    }


def one_time_price(**fields):
    return {"type": "one_time_price", "currency": "USD", "price": 1000, **fields}


def create(client, price, **fields):
    return post_json(
        client, "/api/products", {"name": "API Pro", "tax_category": "saas", "price": price, **fields}
    )


def product_rows():
    """Every product and product meter, every column: what a product request could write."""
    products = sorted(tuple(str(v) for v in row) for row in Product.objects.values_list())
    meters = sorted(tuple(str(v) for v in row) for row in ProductMeter.objects.values_list())
    return products, meters


@pytest.fixture
def tokens(make_meter):
    return make_meter(name="Tokens", event_name="llm", measurement_unit="tokens", description="LLM tokens")


@pytest.fixture
def calls(make_meter):
    return make_meter(name="API calls", event_name="api.call", measurement_unit="calls")


def make_product(business, price=None, created_at=None, archived=False, **fields):
    product = product_create(
        business=business, name=fields.pop("name", "Plan"), price=price or recurring_price(), **fields
    )
    changes = {}
    if created_at is not None:
        changes["created_at"] = created_at
    if archived:
        changes["archived_at"] = timezone.now()
    if changes:
        Product.objects.filter(pk=product.pk).update(**changes)
    return product


# --- create ----------------------------------------------------------------------------------------


def test_create_usage_based_product_as_the_contract_sends_it(api, business, tokens):
    body = {
        "name": "API Pro",
        "tax_category": "saas",
        "price": usage_price([{"meter_id": tokens.id, "price_per_unit": "2", "free_threshold": 1000}]),
    }
    response = post_json(api, "/api/products", body)
    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) == PRODUCT_FIELDS
    assert data["product_id"].startswith("pdt_")
    assert data["business_id"] == data["brand_id"] == business.id
    assert (data["name"], data["tax_category"], data["is_recurring"], data["description"]) == (
        "API Pro",
        "saas",
        True,
        None,
    )
    assert (data["credit_entitlements"], data["entitlements"], data["license_key_enabled"]) == ([], [], False)
    assert data["metadata"] == {} and data["wallet_top_up"] is False and data["archived"] is False
    price = data["price"]
    assert price["type"] == "usage_based_price" and price["currency"] == "USD" and price["fixed_price"] == 0
    assert (price["payment_frequency_count"], price["payment_frequency_interval"]) == (1, "Month")
    assert (price["subscription_period_count"], price["subscription_period_interval"]) == (20, "Year")
    assert price["included_credits"] == 0
    assert price["meters"] == [
        {
            "meter_id": tokens.id,
            "name": "Tokens",
            "description": "LLM tokens",
            "measurement_unit": "tokens",
            "price_per_unit": "2",
            "free_threshold": 1000,
            "credit_entitlement_id": None,
            "meter_units_per_credit": None,
        }
    ]
    product = Product.objects.get(pk=data["product_id"])
    assert (product.business_id, product.price_type, product.fixed_price) == (
        business.id,
        "usage_based_price",
        0,
    )
    [priced] = product.product_meters.all()
    assert (priced.meter_id, str(priced.price_per_unit.normalize()), priced.free_threshold) == (
        tokens.id,
        "2",
        1000,
    )
    assert api.get(f"/api/products/{data['product_id']}").json() == data


def test_create_usage_based_with_two_meters_included_credits_and_every_optional_field(api, tokens, calls):
    price = usage_price(
        [
            {
                "meter_id": calls.id,
                "price_per_unit": "0.500",
                "name": "ignored",
                "measurement_unit": "ignored",
            },
            {"meter_id": tokens.id, "price_per_unit": "99999.5", "free_threshold": None},
        ],
        fixed_price=500,
        included_credits=250,
        tax_inclusive=False,
        discount=0,
        discount_bps=None,
        purchasing_power_parity=False,
    )
    response = create(
        api,
        price,
        description="Pay as you go",
        tax_category="digital_products",
        metadata={"tier": "pro", "seats": 3, "beta": True},
        addons=[],
        credit_entitlements=None,
        entitlements=[],
        license_key_enabled=False,
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["description"] == "Pay as you go" and data["tax_category"] == "digital_products"
    assert data["metadata"] == {"tier": "pro", "seats": 3, "beta": True}
    assert data["price"]["fixed_price"] == 500 and data["price"]["included_credits"] == 250
    assert data["price"]["tax_inclusive"] is False
    assert [
        (m["meter_id"], m["name"], m["price_per_unit"], m["free_threshold"]) for m in data["price"]["meters"]
    ] == [
        (calls.id, "API calls", "0.5", 0),
        (tokens.id, "Tokens", "99999.5", 0),
    ]


def test_create_recurring_product(api):
    data = create(api, recurring_price(trial_period_days=0)).json()
    assert data["is_recurring"] is True
    assert data["price"] == {
        "type": "recurring_price",
        "currency": "USD",
        "price": 2900,
        "payment_frequency_count": 1,
        "payment_frequency_interval": "Month",
        "subscription_period_count": 20,
        "subscription_period_interval": "Year",
        "trial_period_days": 0,
        "discount": 0,
        "discount_bps": 0,
        "purchasing_power_parity": False,
        "tax_inclusive": None,
    }


def test_create_one_time_wallet_top_up_product(api):
    data = create(api, one_time_price(price=5000, currency="INR"), wallet_top_up=True).json()
    assert data["is_recurring"] is False and data["wallet_top_up"] is True
    assert data["price"]["type"] == "one_time_price"
    assert (data["price"]["price"], data["price"]["currency"]) == (5000, "INR")
    assert data["price"]["pay_what_you_want"] is False
    assert Product.objects.get(pk=data["product_id"]).wallet_top_up is True


@pytest.mark.parametrize(
    "price_per_unit",
    [
        "0",
        "0.0",
        "-1",
        "abc",
        "",
        "123456",
        "100000.0",
        "0.0000000000001",
        "1e3",
        " 2",
        "2_000",
        "+2",
        "NaN",
        None,
        2,
        0.5,
    ],
)
def test_bad_price_per_unit_is_422_and_writes_nothing(api, tokens, price_per_unit):
    before = product_rows()
    response = create(api, usage_price([{"meter_id": tokens.id, "price_per_unit": price_per_unit}]))
    body = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert "price_per_unit" in body["message"]
    assert product_rows() == before


def test_price_per_unit_limits_are_inclusive(api, tokens):
    for value, shown in [("99999", "99999"), ("0.000000000001", "0.000000000001"), ("1.100000000000", "1.1")]:
        response = create(api, usage_price([{"meter_id": tokens.id, "price_per_unit": value}]))
        assert response.status_code == 200, response.content
        assert response.json()["price"]["meters"][0]["price_per_unit"] == shown


@pytest.mark.parametrize("value", ["99999.999999999999", "12345.678901234567"])
def test_price_per_unit_with_every_digit_round_trips(api, tokens, value):
    """17 significant digits (5 + 12, the contract's limit) round-trip exactly on PostgreSQL; the
    embedded SQLite database stores decimals as floats, so it refuses them instead of rounding."""
    response = create(api, usage_price([{"meter_id": tokens.id, "price_per_unit": value}]))
    if connection.vendor == "sqlite":
        body = assert_error(response, 422, "INVALID_REQUEST_BODY")
        assert "significant digits" in body["message"]
        return
    assert response.status_code == 200, response.content
    assert response.json()["price"]["meters"][0]["price_per_unit"] == value


def test_unknown_or_foreign_meter_is_400_missing_meter_ids(api, tokens, make_meter, other_business):
    foreign = make_meter(business=other_business)
    before = product_rows()
    for meter_id in ["mtr_doesnotexist", foreign.id]:
        meters = [
            {"meter_id": tokens.id, "price_per_unit": "1"},
            {"meter_id": meter_id, "price_per_unit": "1"},
        ]
        body = assert_error(create(api, usage_price(meters)), 400, "MISSING_METER_IDS")
        assert meter_id in body["message"] and tokens.id not in body["message"]
    assert product_rows() == before


def test_duplicate_meter_is_400(api, tokens):
    before = product_rows()
    meters = [{"meter_id": tokens.id, "price_per_unit": "1"}, {"meter_id": tokens.id, "price_per_unit": "2"}]
    body = assert_error(create(api, usage_price(meters)), 400, "DUPLICATE_METER_IDS_IN_REQUEST")
    assert tokens.id in body["message"]
    assert product_rows() == before


def test_archived_meter_is_400_meter_is_deleted(api, make_meter):
    archived = make_meter(archived=True)
    before = product_rows()
    response = create(api, usage_price([{"meter_id": archived.id, "price_per_unit": "1"}]))
    assert_error(response, 400, "METER_IS_DELETED")
    assert product_rows() == before


def test_at_most_ten_meters(api, make_meter):
    meters = [make_meter(name=f"m{i}") for i in range(11)]
    before = product_rows()
    items = [{"meter_id": m.id, "price_per_unit": "1"} for m in meters]
    assert_error(create(api, usage_price(items)), 422, "INVALID_REQUEST_BODY")
    assert product_rows() == before
    response = create(api, usage_price(items[:10]))
    assert response.status_code == 200, response.content
    assert len(response.json()["price"]["meters"]) == 10


@pytest.mark.parametrize(
    ("price", "field"),
    [
        (usage_price(payment_frequency_interval="month"), "payment_frequency_interval"),
        (usage_price(subscription_period_interval="YEAR"), "subscription_period_interval"),
        (recurring_price(payment_frequency_interval="Months"), "payment_frequency_interval"),
        (recurring_price(payment_frequency_interval=None), "payment_frequency_interval"),
        (recurring_price(payment_frequency_count=0), "payment_frequency_count"),
        (recurring_price(payment_frequency_count="1"), "payment_frequency_count"),
        (recurring_price(subscription_period_count=True), "subscription_period_count"),
        (usage_price(fixed_price=-1), "fixed_price"),
        (usage_price(fixed_price=1.5), "fixed_price"),
        (usage_price(included_credits=-5), "included_credits"),
        ({k: v for k, v in usage_price().items() if k != "fixed_price"}, "fixed_price"),
        (recurring_price(price="2900"), "price"),
        (one_time_price(price=2**53), "price"),
        (one_time_price(currency="usd"), "currency"),
        (one_time_price(currency="XYZ"), "currency"),
        ({"currency": "USD", "price": 1}, "type"),
        (one_time_price(type="subscription"), "type"),
        (usage_price(meters="mtr_x"), "meters"),
        (usage_price(meters=[{"price_per_unit": "1"}]), "meter_id"),
        (usage_price(meters=["mtr_x"]), "meter_id"),
        (one_time_price(included_credits=100), "included_credits"),
        (one_time_price(tax_inclusive="true"), "tax_inclusive"),
        (one_time_price(tax_inclusive=1), "tax_inclusive"),
        (recurring_price(meters=[{"meter_id": "mtr_x", "price_per_unit": "1"}]), "meters"),
        ("one_time_price", "price"),
        (None, "price"),
    ],
)
def test_bad_price_is_422_and_writes_nothing(api, price, field):
    before = product_rows()
    body = assert_error(create(api, price), 422, "INVALID_REQUEST_BODY")
    assert field in body["message"]
    assert product_rows() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tax_category": "saas", "price": one_time_price()}, "name"),
        ({"name": "X", "price": one_time_price()}, "tax_category"),
        ({"name": "X", "tax_category": "saas"}, "price"),
        ({"name": "", "tax_category": "saas", "price": one_time_price()}, "name"),
        ({"name": "x" * 256, "tax_category": "saas", "price": one_time_price()}, "name"),
        ({"name": 5, "tax_category": "saas", "price": one_time_price()}, "name"),
        ({"name": "X", "tax_category": "SaaS", "price": one_time_price()}, "tax_category"),
        (
            {"name": "X", "tax_category": "saas", "price": one_time_price(), "description": "d" * 1001},
            "description",
        ),
        (
            {"name": "X", "tax_category": "saas", "price": one_time_price(), "metadata": {"a": {"b": 1}}},
            "metadata",
        ),
        (
            {"name": "X", "tax_category": "saas", "price": one_time_price(), "wallet_top_up": "yes"},
            "wallet_top_up",
        ),
    ],
)
def test_bad_product_field_is_422_and_writes_nothing(api, body, field):
    before = product_rows()
    response = post_json(api, "/api/products", body)
    assert field in assert_error(response, 422, "INVALID_REQUEST_BODY")["message"]
    assert product_rows() == before


def test_metadata_with_too_many_keys(api):
    response = create(api, one_time_price(), metadata={f"k{i}": i for i in range(51)})
    assert_error(response, 422, "MAXIMUM_KEYS_REACHED")
    assert not Product.objects.exists()


@pytest.mark.parametrize("raw", ["", "{", "[]", '"x"', "null"])
def test_malformed_body_is_422(api, raw):
    assert_error(post_json(api, "/api/products", raw), 422, "INVALID_REQUEST_BODY")
    assert not Product.objects.exists()


def test_wallet_top_up_on_a_recurring_product_is_400(api):
    response = create(api, recurring_price(), wallet_top_up=True)
    assert_error(response, 400, "INVALID_REQUEST_PARAMETERS")
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("fields", "price_fields", "field"),
    [
        ({"addons": ["adn_1"]}, {}, "addons"),
        (
            {"credit_entitlements": [{"credit_entitlement_id": "cde_1", "credits_amount": "10"}]},
            {},
            "credit_entitlements",
        ),
        ({"entitlements": [{"entitlement_id": "ent_1"}]}, {}, "entitlements"),
        ({"pricing_mode": "fixed"}, {}, "pricing_mode"),
        ({"digital_product_delivery": {"external_url": "https://x"}}, {}, "digital_product_delivery"),
        ({"brand_id": "bus_other"}, {}, "brand_id"),
        ({}, {"discount": 10}, "price.discount"),
        ({}, {"discount_bps": 1250}, "price.discount_bps"),
        ({}, {"purchasing_power_parity": True}, "price.purchasing_power_parity"),
        ({}, {"trial_amount": 100}, "price.trial_amount"),
    ],
)
def test_unsupported_contract_fields_are_400_and_write_nothing(api, fields, price_fields, field):
    body = assert_error(
        create(api, recurring_price(**price_fields), **fields), 400, "INVALID_REQUEST_PARAMETERS"
    )
    assert body["field"] == field
    assert ("only brand" if field == "brand_id" else "not supported") in body["message"]
    assert not Product.objects.exists()


def test_a_trial_is_stored_on_the_price(api):
    data = create(api, recurring_price(trial_period_days=14)).json()
    assert data["price"]["trial_period_days"] == 14
    assert Product.objects.get(pk=data["product_id"]).trial_period_days == 14


def test_credit_billed_meters_are_400(api, tokens):
    meters = [{"meter_id": tokens.id, "price_per_unit": "1", "credit_entitlement_id": "cde_1"}]
    body = assert_error(create(api, usage_price(meters)), 400, "INVALID_REQUEST_PARAMETERS")
    assert body["field"] == "price.meters[0].credit_entitlement_id"
    assert not Product.objects.exists()


def test_neutral_values_of_unsupported_fields_are_accepted(api, business):
    price = one_time_price(
        discount=0, discount_bps=0, pay_what_you_want=False, suggested_price=None, trial_amount=None
    )
    response = create(
        api,
        price,
        addons=None,
        brand_id=business.id,
        credit_entitlements=[],
        digital_product_delivery=None,
        entitlements=None,
        license_key_enabled=None,
        pricing_mode=None,
        license_key_activations_limit=None,
    )
    assert response.status_code == 200, response.content


def test_read_only_key_cannot_create(read_only_api):
    assert_error(create(read_only_api, one_time_price()), 403, "FORBIDDEN")
    assert not Product.objects.exists()


# --- retrieve ---------------------------------------------------------------------------------------


def test_retrieve_unknown_or_foreign_product_is_404(api, other_api, business):
    product = make_product(business)
    assert api.get(f"/api/products/{product.id}?locale=fr").status_code == 200
    assert_error(other_api.get(f"/api/products/{product.id}"), 404, "NOT_FOUND")
    assert_error(api.get("/api/products/pdt_doesnotexist"), 404, "NOT_FOUND")
    assert_error(api.get("/api/products/"), 404, "NOT_FOUND")


# --- list -------------------------------------------------------------------------------------------


def test_list_newest_first_with_list_item_shape(api, business, other_business, tokens):
    now = timezone.now()
    old = make_product(business, one_time_price(), created_at=now - timedelta(days=2), name="Credits pack")
    mid = make_product(business, recurring_price(), created_at=now - timedelta(days=1))
    new = make_product(
        business,
        usage_price([{"meter_id": tokens.id, "price_per_unit": "0.02"}], fixed_price=700),
        created_at=now,
    )
    make_product(other_business)
    response = api.get("/api/products")
    assert response.status_code == 200 and set(response.json()) == {"items"}
    items = response.json()["items"]
    assert [i["product_id"] for i in items] == [new.id, mid.id, old.id]
    assert all(set(item) == LIST_FIELDS for item in items)
    assert [i["price"] for i in items] == [700, 2900, 1000]
    assert [i["is_recurring"] for i in items] == [True, True, False]
    assert items[0]["price_detail"]["meters"][0]["price_per_unit"] == "0.02"
    assert items[2]["price_detail"] == {**api.get(f"/api/products/{old.id}").json()["price"]}
    assert items[2]["currency"] == "USD" and items[2]["name"] == "Credits pack"


def test_list_filters(api, business):
    now = timezone.now()
    one_time = make_product(business, one_time_price(), created_at=now - timedelta(hours=3))
    recurring = make_product(business, recurring_price(), created_at=now - timedelta(hours=2))
    archived = make_product(business, recurring_price(), created_at=now - timedelta(hours=1), archived=True)

    def ids(query):
        response = api.get(f"/api/products{query}")
        assert response.status_code == 200, response.content
        return [i["product_id"] for i in response.json()["items"]]

    assert ids("") == ids("?archived=false") == [recurring.id, one_time.id]
    assert ids("?archived=true") == [archived.id]
    assert ids("?recurring=true") == [recurring.id]
    assert ids("?recurring=false") == [one_time.id]
    assert ids("?recurring=true&archived=true") == [archived.id]
    assert ids(f"?brand_id={business.id}") == [recurring.id, one_time.id]
    assert ids("?brand_id=bus_other") == []
    assert ids("?locale=fr&page_size=1&page_number=1") == [one_time.id]
    assert ids("?page_number=5") == []


@pytest.mark.parametrize(
    "query", ["page_size=0", "page_size=101", "page_size=ten", "page_number=-1", "page_number=1.5"]
)
def test_bad_page_params_are_422(api, query):
    assert_error(api.get(f"/api/products?{query}"), 422, "INVALID_QUERY_PARAMS")


# --- update -----------------------------------------------------------------------------------------


def patch(client, product_id, body):
    import json

    return client.patch(f"/api/products/{product_id}", data=json.dumps(body), content_type="application/json")


def test_patch_fields_and_clear_with_null(api, business):
    product = make_product(business, description="Old", metadata={"a": 1})
    data = patch(api, product.id, {"name": "Plan B", "tax_category": "edtech", "metadata": {"b": 2}}).json()
    assert (data["name"], data["tax_category"], data["metadata"], data["description"]) == (
        "Plan B",
        "edtech",
        {"b": 2},
        "Old",
    )
    data = patch(api, product.id, {"description": None, "metadata": None}).json()
    assert data["description"] is None and data["metadata"] == {}
    product.refresh_from_db()
    assert (product.name, product.description, product.metadata) == ("Plan B", None, {})
    assert product.updated_at > product.created_at


def test_patch_price_replaces_the_price_and_its_meters(api, business, tokens, calls):
    product = make_product(
        business, usage_price([{"meter_id": tokens.id, "price_per_unit": "2", "free_threshold": 1000}])
    )
    price = usage_price(
        [{"meter_id": calls.id, "price_per_unit": "0.1"}], fixed_price=100, included_credits=50
    )
    data = patch(api, product.id, {"price": price}).json()
    assert [(m["meter_id"], m["price_per_unit"]) for m in data["price"]["meters"]] == [(calls.id, "0.1")]
    assert (data["price"]["fixed_price"], data["price"]["included_credits"]) == (100, 50)
    assert list(ProductMeter.objects.filter(product=product).values_list("meter_id", flat=True)) == [calls.id]
    data = patch(api, product.id, {"price": one_time_price(price=300), "wallet_top_up": True}).json()
    assert data["price"]["type"] == "one_time_price" and data["wallet_top_up"] is True
    assert data["is_recurring"] is False
    assert not ProductMeter.objects.filter(product=product).exists()


def test_empty_patch_changes_nothing(api, business):
    product = make_product(business)
    before = product_rows()
    response = patch(api, product.id, {})
    assert response.status_code == 200
    assert product_rows()[1] == before[1]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": None}, 422, "INVALID_REQUEST_BODY"),
        ({"price": None}, 422, "INVALID_REQUEST_BODY"),
        ({"tax_category": None}, 422, "INVALID_REQUEST_BODY"),
        ({"wallet_top_up": None}, 422, "INVALID_REQUEST_BODY"),
        (
            {"name": "New", "price": recurring_price(payment_frequency_interval="month")},
            422,
            "INVALID_REQUEST_BODY",
        ),
        (
            {"name": "New", "price": usage_price([{"meter_id": "mtr_nope", "price_per_unit": "1"}])},
            400,
            "MISSING_METER_IDS",
        ),
        ({"name": "New", "wallet_top_up": True}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"name": "New", "entitlements": [{"entitlement_id": "x"}]}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"name": "New", "image_id": "img_1"}, 400, "INVALID_REQUEST_PARAMETERS"),
        ({"name": "New", "metadata": {f"k{i}": 1 for i in range(51)}}, 422, "MAXIMUM_KEYS_REACHED"),
    ],
)
def test_bad_patch_writes_nothing(api, business, tokens, body, status, code):
    product = make_product(business, usage_price([{"meter_id": tokens.id, "price_per_unit": "2"}]))
    before = product_rows()
    assert_error(patch(api, product.id, body), status, code)
    assert product_rows() == before


def test_patch_unknown_or_foreign_product_is_404(api, other_api, business):
    product = make_product(business)
    before = product_rows()
    assert_error(patch(other_api, product.id, {"name": "Mine"}), 404, "NOT_FOUND")
    assert_error(patch(api, "pdt_doesnotexist", {"name": "Mine"}), 404, "NOT_FOUND")
    assert product_rows() == before


# --- archive / unarchive ----------------------------------------------------------------------------


def test_delete_archives_and_unarchive_restores(api, business):
    product = make_product(business)
    response = api.delete(f"/api/products/{product.id}")
    assert response.status_code == 204 and response.content == b""
    product.refresh_from_db()
    assert product.archived_at is not None
    assert api.get(f"/api/products/{product.id}").json()["archived"] is True
    assert api.get("/api/products").json()["items"] == []
    assert [i["product_id"] for i in api.get("/api/products?archived=true").json()["items"]] == [product.id]
    assert api.delete(f"/api/products/{product.id}").status_code == 204  # again: still archived

    response = api.post(f"/api/products/{product.id}/unarchive", content_type="application/json")
    assert response.status_code == 200 and response.content == b""
    product.refresh_from_db()
    assert product.archived_at is None
    assert api.post(f"/api/products/{product.id}/unarchive").status_code == 200  # again: a no-op
    assert [i["product_id"] for i in api.get("/api/products").json()["items"]] == [product.id]


def test_archive_and_unarchive_unknown_or_foreign_product_is_404(api, other_api, business):
    product = make_product(business)
    assert_error(other_api.delete(f"/api/products/{product.id}"), 404, "NOT_FOUND")
    assert_error(other_api.post(f"/api/products/{product.id}/unarchive"), 404, "NOT_FOUND")
    assert_error(api.delete("/api/products/pdt_nope"), 404, "NOT_FOUND")
    assert_error(api.post("/api/products/pdt_nope/unarchive"), 404, "NOT_FOUND")
    product.refresh_from_db()
    assert product.archived_at is None


def test_no_key_is_401(client, business):
    assert_error(client.get("/api/products"), 401, "UNAUTHORIZED")
    assert_error(post_json(client, "/api/products", {"name": "x"}), 401, "UNAUTHORIZED")


def test_list_queries_do_not_grow_with_the_page(api, business, tokens, calls, django_assert_max_num_queries):
    meters = [{"meter_id": m.id, "price_per_unit": "1"} for m in (tokens, calls)]
    for _ in range(2):
        make_product(business, usage_price(meters))
    with django_assert_max_num_queries(20) as few:
        api.get("/api/products?page_size=100")
    for _ in range(8):
        make_product(business, usage_price(meters))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get("/api/products?page_size=100").json()["items"]) == 10


# --- problems found in the billing service (metering/services/billing.py) ------------------------------


@pytest.mark.parametrize("value", ["1e3", " 2", "2_000", "+2"])
def test_service_accepts_only_plain_decimal_strings(value):
    from dodo_billing.errors import InvalidRequestBody
    from metering.services.billing import parse_price_per_unit

    with pytest.raises(InvalidRequestBody):
        parse_price_per_unit(value, "price_per_unit")
