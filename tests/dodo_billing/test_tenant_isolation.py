"""Tenant isolation matrix, generated from the URL configuration.

Business A owns one of every kind of object. For every route of the API, the dashboard and the
portal that names an object, a request from another business's key, another business's staff or
another customer's portal session is a 404 (and writes nothing), while A's own key, staff and
customer reach it; list routes never show A's objects to others; without credentials the API
answers 401, the dashboard sends to the login page and the portal refuses. A route that this
matrix does not cover fails ``test_every_route_is_covered``: a new endpoint needs a line here.
"""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from customers.reports.services import saved_report_create
from dodo_billing.services import api_key_create
from dodo_billing.webhooks.endpoints import webhook_endpoint_create
from metering.models import LicenseKey, Payment, Refund, Subscription
from metering.services.payments import refund_create
from tests.metering.test_payments_api import subscription_payment
from tests.portal.conftest import billing_history, signed_in_client
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db

# Routes that name no business object, or that are public by design; each with its reason.
EXEMPT = {
    "api-schema": "the public OpenAPI schema",
    "api-docs": "the public API docs page",
    "api-redoc": "the public API docs page",
    "api-not-found": "the JSON 404 of unknown API paths",
    "login": "the sign-in page",
    "logout": "signing out",
    "table-config": "the user's own column preferences (tested in the dashboard tests)",
    "home": "the overview: business totals, covered by tests/dodo_billing/test_overview.py",
    "customers:create": "a form for a new object",
    "customers:report-build": "a form for a new report",
    "metering:meter-create": "a form for a new object",
    "portal:open": "a link's token is the credential (tests/portal/test_services.py)",
    "portal:sign-out": "ends the caller's own session",
    "portal:signed-out": "a static page",
    "health-live": "operator probe, names no business (tests/dodo_billing/test_health.py)",
    "health-ready": "operator probe: system-wide checks, details behind HEALTH_TOKEN (test_health.py)",
    "metrics": "operator figures across all businesses, behind METRICS_TOKEN (test_metrics.py)",
}

# API routes naming an object: (URL name, the owned object's attribute, methods to try).
API_OBJECT_ROUTES = {
    "api-customer": ("customer", ["get", "patch"]),
    "api-customer-portal-session": ("customer", ["post"]),
    "api-wallets": ("customer", ["get"]),
    "api-wallet-ledger-entries": ("customer", ["get", "post"]),
    "api-customer-payment-methods": ("customer", ["get", "post"]),
    "api-event": ("event_id", ["get"]),
    "api-meter": ("meter", ["get", "patch", "delete"]),
    "api-meter-unarchive": ("meter", ["post"]),
    "api-payment": ("payment", ["get"]),
    "api-payment-line-items": ("payment", ["get"]),
    "api-payment-retry": ("payment", ["get", "post"]),
    "api-payment-mark-paid": ("payment", ["post"]),
    "api-invoice-payment": ("payment", ["get"]),
    "api-refund": ("refund", ["get"]),
    "api-product": ("product", ["get", "patch", "delete"]),
    "api-product-unarchive": ("product", ["post"]),
    "api-subscription": ("subscription", ["get", "patch"]),
    "api-subscription-usage-history": ("subscription", ["get"]),
    "api-webhook": ("webhook", ["get", "patch", "delete"]),
    "api-webhook-secret": ("webhook", ["get"]),
    "api-webhook-headers": ("webhook", ["get", "patch"]),
}
# API list routes: (URL name, the owned objects whose ids must not show to another business).
API_LIST_ROUTES = {
    "api-customers": ["customer"],
    "api-events": ["event_id"],
    "api-meters": ["meter"],
    "api-payments": ["payment"],
    "api-refunds": ["refund"],
    "api-products": ["product"],
    "api-subscriptions": ["subscription"],
    "api-webhooks": ["webhook"],
}
# Write routes whose body must be sent for the write to be attempted (ingest names a customer).
API_BODY_ROUTES = {"api-events-ingest"}

# Dashboard routes naming objects: URL name → (argument attributes, method).
DASHBOARD_OBJECT_ROUTES = {
    "customers:detail": (["customer"], "get"),
    "customers:edit": (["customer"], "get"),
    "customers:report-detail": (["report"], "get"),
    "customers:report-rename": (["report"], "post"),
    "customers:report-delete": (["report"], "post"),
    "wallets:customer-ledger": (["customer"], "get"),
    "metering:payment-invoice-pdf": (["payment"], "get"),
    "metering:customer-payments": (["customer"], "get"),
    "metering:customer-payment-refund": (["customer", "payment"], "post"),
    "metering:customer-payment-mark-paid": (["customer", "payment"], "post"),
    "metering:customer-payment-retry": (["customer", "payment"], "post"),
    "metering:customer-subscriptions": (["customer"], "get"),
    "metering:customer-subscription-cancel": (["customer", "subscription"], "post"),
    "metering:customer-subscription-retry-billing": (["customer", "subscription"], "post"),
    "metering:meter-detail": (["meter"], "get"),
    "metering:meter-edit": (["meter"], "get"),
    "metering:meter-archive": (["meter"], "post"),
    "metering:meter-unarchive": (["meter"], "post"),
    "metering:event-detail": (["event_id"], "get"),
    "portal:invite": (["customer"], "post"),
}
DASHBOARD_LIST_ROUTES = {
    "customers:list": ["customer"],
    "customers:report-list": ["report"],
    "metering:payment-list": ["payment"],
    "metering:subscription-list": ["subscription"],
    "metering:meter-list": ["meter"],
    "metering:event-list": [],  # events are listed by time; the event id is checked below
}
# Portal routes naming one of the customer's objects; the rest show only the session's customer.
PORTAL_OBJECT_ROUTES = {
    "portal:invoice-pdf": "payment",
    "portal:subscription-detail": "subscription",
    "portal:subscription-cancel": "subscription",
    "portal:license-key-detail": "license_key",
}
PORTAL_PAGES = [
    "portal:overview",
    "portal:billing",
    "portal:subscriptions",
    "portal:license-keys",
    "portal:wallet",
    "portal:profile",
]


def route_names() -> set[str]:
    def walk(patterns, namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name == "admin":
                    continue
                inner = pattern.namespace
                yield from walk(
                    pattern.url_patterns,
                    f"{namespace}:{inner}" if namespace and inner else inner or namespace,
                )
            elif isinstance(pattern, URLPattern) and pattern.name:
                yield f"{namespace}:{pattern.name}" if namespace else pattern.name

    return set(walk(get_resolver().url_patterns))


def test_every_route_is_covered():
    covered = (
        set(EXEMPT)
        | set(API_OBJECT_ROUTES)
        | set(API_LIST_ROUTES)
        | API_BODY_ROUTES
        | set(DASHBOARD_OBJECT_ROUTES)
        | set(DASHBOARD_LIST_ROUTES)
        | set(PORTAL_OBJECT_ROUTES)
        | set(PORTAL_PAGES)
    )
    missing = route_names() - covered
    assert not missing, f"routes without a tenant-isolation check: {sorted(missing)}"
    stale = covered - route_names()
    assert not stale, f"checks for routes that no longer exist: {sorted(stale)}"


class Owned:
    """One of every kind of object, all of business A's customer."""

    def __init__(self, business, customer, staff_user):
        payment, self.subscription = billing_history(business, customer)
        self.payment = payment
        self.license_key = LicenseKey.objects.get(payment=payment)
        usage_payment = subscription_payment(business, customer, tokens=1500)
        self.meter = usage_payment.subscription.product.product_meters.get().meter
        self.event_id = f"{usage_payment.subscription_id}-1"
        self.refund = refund_create(payment=payment, amount=100, destination=Refund.Destination.WALLET)
        self.product = payment.product
        self.customer = customer
        self.webhook = webhook_endpoint_create(business=business, url="https://hooks.example.com/a")
        self.report = saved_report_create(
            business=business,
            name="Mine",
            definition={"dataset": "customers", "period": "last_30_days"},
            user=staff_user,
        )

    def id(self, attribute: str) -> str:
        value = getattr(self, attribute)
        return value if isinstance(value, str) else str(value.pk)

    def marker(self, attribute: str) -> str:
        """Text that shows the object on a page: its public id, or a saved report's name (its
        key is a small integer that any page may contain)."""
        return self.report.name if attribute == "report" else self.id(attribute)


@pytest.fixture
def owned(business, customer, staff_user):
    return Owned(business, customer, staff_user)


def counts():
    return (
        LedgerEntry.objects.count(),
        Payment.objects.count(),
        Refund.objects.count(),
        Subscription.objects.count(),
    )


def api_client(business):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(business=business, name='iso')[1]}")
    return client


def test_api_other_business_gets_404_and_writes_nothing(owned, business, other_business):
    mine, theirs = api_client(business), api_client(other_business)
    before = counts()
    for name, (attribute, methods) in API_OBJECT_ROUTES.items():
        url = reverse(name, args=[owned.id(attribute)])
        for method in methods:
            response = getattr(theirs, method)(url, {}, format="json")
            assert response.status_code == 404, (name, method, response.status_code)
            assert response.json()["code"] == "NOT_FOUND"
        if "get" in methods:
            assert mine.get(url).status_code == 200, name
    ingest = theirs.post(
        reverse("api-events-ingest"),
        {"events": [{"event_id": "x1", "customer_id": owned.customer.id, "event_name": "llm"}]},
        format="json",
    )
    assert ingest.status_code == 400 and ingest.json()["code"] == "CUSTOMER_NOT_FOUND"
    assert counts() == before
    for name, attributes in API_LIST_ROUTES.items():
        body = theirs.get(reverse(name)).content.decode()
        assert all(owned.id(a) not in body for a in attributes), name
        assert any(owned.id(a) in mine.get(reverse(name)).content.decode() for a in attributes), name


def test_api_without_a_key_is_401(owned):
    client = APIClient()
    for name, (attribute, methods) in API_OBJECT_ROUTES.items():
        response = getattr(client, methods[0])(reverse(name, args=[owned.id(attribute)]), {}, format="json")
        assert response.status_code == 401, name
    for name in API_LIST_ROUTES:
        assert client.get(reverse(name)).status_code == 401, name


def test_dashboard_other_business_staff_gets_404(owned, staff_user, other_staff_user):
    mine, theirs = Client(), Client()
    mine.force_login(staff_user)
    theirs.force_login(other_staff_user)
    before = counts()
    for name, (attributes, method) in DASHBOARD_OBJECT_ROUTES.items():
        url = reverse(name, args=[owned.id(a) for a in attributes])
        response = getattr(theirs, method)(url)
        assert response.status_code == 404, (name, response.status_code)
        if method == "get":
            assert mine.get(url).status_code == 200, name
    assert counts() == before
    for name, attributes in DASHBOARD_LIST_ROUTES.items():
        page = theirs.get(reverse(name), {"start": "2000-01-01T00:00:00Z"}).content.decode()
        assert all(owned.marker(a) not in page for a in attributes), name
        assert owned.customer.email not in page and owned.customer.name not in page, name


def test_dashboard_without_sign_in_goes_to_the_login_page(owned):
    client = Client()
    for name, (attributes, method) in DASHBOARD_OBJECT_ROUTES.items():
        response = getattr(client, method)(reverse(name, args=[owned.id(a) for a in attributes]))
        assert response.status_code == 302 and response["Location"].startswith("/login/"), name
    for name in DASHBOARD_LIST_ROUTES:
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith("/login/"), name


def test_portal_other_customer_gets_404(owned, make_customer):
    other = make_customer(name="Someone Else", email="else@example.com")
    mine, theirs = signed_in_client(owned.customer), signed_in_client(other)
    before = counts()
    for name, attribute in PORTAL_OBJECT_ROUTES.items():
        url = reverse(name, args=[owned.id(attribute)])
        method = "post" if name.endswith("cancel") else "get"
        assert getattr(theirs, method)(url).status_code == 404, name
        if method == "get":
            assert mine.get(url).status_code == 200, name
    assert counts() == before
    for name in PORTAL_PAGES:
        page = theirs.get(reverse(name)).content.decode()
        assert owned.customer.email not in page and owned.payment.id not in page, name
        assert owned.subscription.id not in page and owned.license_key.key not in page, name


def test_portal_without_a_session_is_refused(owned):
    client = Client()
    for name in PORTAL_PAGES:
        assert client.get(reverse(name)).status_code in (302, 403), name
    for name, attribute in PORTAL_OBJECT_ROUTES.items():
        assert client.get(reverse(name, args=[owned.id(attribute)])).status_code in (302, 403, 405), name
