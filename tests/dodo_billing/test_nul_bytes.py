"""A NUL byte where an id or a parameter goes, on every route of the URL configuration.

PostgreSQL cannot store or even compare text holding NUL: before ``NulPathMiddleware`` every
route that looks an id up answered ``/…/a%00b`` with a 500 (33 API route-methods, the dashboard,
the portal and admin). Now a NUL in the path is a 404 (the API's JSON ``NOT_FOUND``, the project's
404 page elsewhere) and writes nothing; a NUL in any API query parameter is a 422
``INVALID_QUERY_PARAMS``.
"""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator

from tests.conftest import assert_error
from tests.dodo_billing.test_tenant_isolation import Owned, api_client, counts
from tests.portal.conftest import signed_in_client

pytestmark = pytest.mark.django_db

NUL_ID = "a\x00b"
API_METHODS = ("get", "post", "put", "patch", "delete")


def routes_with_parameters():
    """``(name, number of path parameters, view)`` of every named route that takes parameters,
    admin's included."""

    def walk(patterns, namespace=None, inherited=0):
        for pattern in patterns:
            own = len(pattern.pattern.regex.groupindex)
            if isinstance(pattern, URLResolver):
                inner = pattern.namespace
                name = f"{namespace}:{inner}" if namespace and inner else inner or namespace
                yield from walk(pattern.url_patterns, name, inherited + own)
            elif isinstance(pattern, URLPattern) and pattern.name and inherited + own:
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                yield name, inherited + own, pattern.callback

    return list(walk(get_resolver().url_patterns))


def implemented_methods(view) -> list[str]:
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if view_class is None:  # a function view: the two methods a browser sends
        return ["get", "post"]
    names = [name for name in view_class.http_method_names if name not in ("options", "head")]
    return [name for name in names if hasattr(view_class, name)]


@pytest.fixture
def clients(business, customer, staff_user):
    staff = Client()
    staff.force_login(staff_user)
    operator = Client()
    operator.force_login(
        get_user_model().objects.create_superuser(username="op", email="op@example.com", password="pw")
    )
    for client in (staff, operator):
        client.raise_request_exception = False
    portal = signed_in_client(customer)
    portal.raise_request_exception = False
    api = api_client(business)
    api.raise_request_exception = False
    return {"api": api, "dashboard": staff, "admin": operator, "portal": portal}


def face(name: str) -> str:
    if name.startswith("api-"):
        return "api"
    return {"admin": "admin", "portal": "portal"}.get(name.split(":")[0], "dashboard")


def test_a_nul_byte_in_any_path_is_404_and_writes_nothing(business, customer, staff_user, clients):
    Owned(business, customer, staff_user)  # objects of every kind, so that lookups have rows
    before = counts()
    checked = {"api": 0, "dashboard": 0, "admin": 0, "portal": 0}
    failures = []
    for name, arity, view in routes_with_parameters():
        try:
            url = reverse(name, args=[NUL_ID] * arity)
        except NoReverseMatch:  # a parameter whose pattern cannot hold NUL (admin's app labels)
            assert name.startswith("admin:"), name
            continue
        kind = face(name)
        client = clients[kind]
        for method in API_METHODS if kind == "api" else implemented_methods(view):
            response = getattr(client, method)(url, {}, **({"format": "json"} if kind == "api" else {}))
            checked[kind] += 1
            if response.status_code != 404:
                failures.append((name, method, response.status_code))
            elif kind == "api":
                assert response.json()["code"] == "NOT_FOUND", (name, method)
            else:
                assert "404.html" in [t.name for t in response.templates], (name, method)
    assert not failures, failures
    # The issue counted 33 API route-methods that looked an id up; each is among these.
    assert checked["api"] >= 33 and checked["dashboard"] >= 19 and checked["portal"] >= 5, checked
    assert checked["admin"] > 0, checked
    assert counts() == before


def test_a_nul_byte_in_a_path_without_a_route_is_404_too(clients):
    response = clients["api"].get("/api/no/such/%00/route")
    assert_error(response, 404, "NOT_FOUND")
    assert clients["dashboard"].get("/no-such-page/%00").status_code == 404


def _path_arguments(owned: Owned) -> dict:
    return {
        "customer_id": owned.customer.id,
        "payment_id": owned.payment.id,
        "refund_id": owned.refund.id,
        "product_id": owned.product.id,
        "subscription_id": owned.subscription.id,
        "meter_id": owned.meter.id,
        "event_id": owned.event_id,
        "id": owned.webhook.id,
        "webhook_id": owned.webhook.id,
    }


def test_a_nul_byte_in_any_documented_query_parameter_is_422(business, customer, staff_user, clients):
    """Every query parameter of every operation in the OpenAPI schema, with the route's object
    existing: ``meter_id`` of the events list and of usage history, ``return_url`` of a portal
    session and ``iterator`` of the webhook list were 500s, as was ``meter_id=%00`` on events."""
    owned = Owned(business, customer, staff_user)
    arguments = _path_arguments(owned)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    before = counts()
    checked = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            url = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    url = url.replace(f"{{{parameter['name']}}}", arguments[parameter["name"]])
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                response = getattr(clients["api"], method)(
                    f"{url}?{parameter['name']}=a%00b", {}, format="json"
                )
                # ``format`` picks the renderer (the invoice PDF): DRF answers an unknown one 404.
                status, code = (422, "INVALID_QUERY_PARAMS")
                if parameter["name"] == "format":
                    status, code = (404, "NOT_FOUND")
                assert response.status_code == status, (method, path, parameter["name"], response.content)
                assert response.json()["code"] == code
                checked += 1
    assert checked > 40
    assert counts() == before
    body = assert_error(clients["api"].get("/api/events?meter_id=%00"), 422, "INVALID_QUERY_PARAMS")
    assert body["errors"] == {"meter_id": ["NUL characters are not allowed."]}
