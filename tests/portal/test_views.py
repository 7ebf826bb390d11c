"""The portal's pages: each one for its own customer only, refusals without a session, the
dashboard and the portal kept apart, CSRF, profile validation, cancel, invoice download."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from customers.models import Customer
from metering.models import LicenseKey, Subscription, SubscriptionStatus
from portal.models import PortalSession
from tests.portal.conftest import billing_history, make_link, signed_in_client

pytestmark = pytest.mark.django_db

PAGES = [
    "portal:overview",
    "portal:billing",
    "portal:subscriptions",
    "portal:license-keys",
    "portal:wallet",
    "portal:profile",
]


def test_opening_a_link_asks_first_then_signs_in_once(customer):
    _, _, token = make_link(customer)
    client = Client()
    path = reverse("portal:open", args=[token])
    page = client.get(path)
    assert page.status_code == 200 and "Continue to your account" in page.content.decode()
    assert PortalSession.objects.count() == 0  # a GET (a mail scanner's prefetch) spends nothing
    response = client.post(path)
    assert response.status_code == 302 and response["Location"] == reverse("portal:overview")
    cookie = response.cookies[settings.PORTAL_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/portal/"
    assert PortalSession.objects.get().id in cookie.value  # signed, not bare
    assert cookie.value != PortalSession.objects.get().id
    assert "_auth_user_id" not in client.session  # never a Django login
    assert client.get(reverse("portal:overview")).status_code == 200
    # Used: both the landing page and another POST refuse it.
    for method in (Client().get, Client().post):
        refused = method(path)
        assert refused.status_code == 403
        assert "expired or has already been used" in refused.content.decode()
    assert PortalSession.objects.count() == 1


def test_expired_link_is_refused(customer, settings):
    settings.PORTAL_LINK_MAX_AGE = 0
    _, _, token = make_link(customer)
    assert Client().post(reverse("portal:open", args=[token])).status_code == 403
    assert PortalSession.objects.count() == 0


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_for_its_customer(portal_client, history, name):
    response = portal_client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme Compute" in html  # branded
    assert 'href="https://shop.example.com/account"' in html and "Back to Acme Compute" in html
    assert "Sign out" in html
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]


def test_pages_render_empty_states(portal_client):
    for name, text in [
        ("portal:billing", "No payments yet"),
        ("portal:subscriptions", "You have no subscriptions"),
        ("portal:license-keys", "No license keys"),
        ("portal:wallet", "No wallet activity yet"),
    ]:
        assert text in portal_client.get(reverse(name)).content.decode()


def test_no_return_url_no_back_link(customer):
    client = signed_in_client(customer)
    assert "Back to" not in client.get(reverse("portal:overview")).content.decode()


def test_overview_shows_balances_subscriptions_and_low_balance(portal_client, customer, history):
    wallet = customer.wallets.get(currency="USD")
    wallet.low_balance_threshold = 5000
    wallet.save()
    html = portal_client.get(reverse("portal:overview")).content.decode()
    assert "$25.00" in html and "Monthly plan" in html
    assert "balance is low" in html


@pytest.mark.parametrize(
    "name", [*PAGES, "portal:invoice-pdf", "portal:subscription-detail", "portal:license-key-detail"]
)
def test_no_session_no_page(business, customer, staff_client, name):
    args = [] if name in PAGES else ["x_1"]
    for client in (Client(), staff_client):  # a staff login does not open the portal
        response = client.get(reverse(name, args=args))
        assert response.status_code == 403
        assert "not signed in" in response.content.decode()


def test_forged_or_ended_cookie_is_refused(portal_client, customer):
    session = PortalSession.objects.get()
    forged = Client()
    forged.cookies[settings.PORTAL_COOKIE_NAME] = session.id  # unsigned
    assert forged.get(reverse("portal:overview")).status_code == 403
    assert portal_client.post(reverse("portal:sign-out")).status_code == 302
    assert PortalSession.objects.get().ended_at is not None
    assert portal_client.get(reverse("portal:overview")).status_code == 403
    # Even a copy of the old cookie no longer works.
    replay = Client()
    replay.cookies[settings.PORTAL_COOKIE_NAME] = portal_client.cookies[settings.PORTAL_COOKIE_NAME].value
    assert replay.get(reverse("portal:overview")).status_code == 403


def test_portal_session_does_not_open_the_dashboard(portal_client):
    for path in ["/", "/customers/", "/admin/"]:
        response = portal_client.get(path)
        assert response.status_code == 302
        assert "login" in response["Location"]


def test_invoice_pdf_downloads_for_own_payment(portal_client, history):
    payment, _ = history
    response = portal_client.get(reverse("portal:invoice-pdf", args=[payment.id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF")


def test_other_customers_objects_are_404(business, other_business, customer, make_customer, portal_client):
    mallory = make_customer(name="Mallory", email="mallory@example.com")
    payment, subscription = billing_history(business, mallory)
    key = LicenseKey.objects.get(customer=mallory)
    # And another business's customer with the same kinds of object.
    outsider = make_customer(business=other_business, name="Out", email="out@example.com")
    other_payment, other_subscription = billing_history(other_business, outsider)
    for p, s, k in [
        (payment, subscription, key),
        (other_payment, other_subscription, LicenseKey.objects.get(customer=outsider)),
    ]:
        assert portal_client.get(reverse("portal:invoice-pdf", args=[p.id])).status_code == 404
        assert portal_client.get(reverse("portal:subscription-detail", args=[s.id])).status_code == 404
        assert portal_client.get(reverse("portal:license-key-detail", args=[k.id])).status_code == 404
        cancel = portal_client.post(reverse("portal:subscription-cancel", args=[s.id]), {"when": "now"})
        assert cancel.status_code == 404
        assert Subscription.objects.get(pk=s.pk).status == SubscriptionStatus.ACTIVE
    # Tampered ids too.
    assert portal_client.get(reverse("portal:invoice-pdf", args=[payment.id + "x"])).status_code == 404
    # Lists show only the customer's own rows.
    for name in ("portal:billing", "portal:subscriptions", "portal:license-keys"):
        html = portal_client.get(reverse(name)).content.decode()
        assert payment.id not in html and subscription.id not in html and key.key not in html


def test_cancel_at_period_end_then_now(portal_client, history):
    _, subscription = history
    url = reverse("portal:subscription-cancel", args=[subscription.id])
    response = portal_client.post(url, {"when": "period_end"}, follow=True)
    assert "will end on" in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.cancel_at_next_billing_date and subscription.status == SubscriptionStatus.ACTIVE
    response = portal_client.post(url, {"when": "now"}, follow=True)
    assert "is cancelled" in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELLED
    # Cancelling again is a clear error, not a crash.
    response = portal_client.post(url, {"when": "now"}, follow=True)
    assert "already cancelled" in response.content.decode()


def test_cancel_with_a_bad_choice_writes_nothing(portal_client, history):
    _, subscription = history
    url = reverse("portal:subscription-cancel", args=[subscription.id])
    for data in ({}, {"when": "yesterday"}):
        response = portal_client.post(url, data, follow=True)
        assert "Choose when to cancel" in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE and not subscription.cancel_at_next_billing_date
    assert portal_client.get(url).status_code == 405


def test_profile_update(portal_client, customer):
    response = portal_client.post(
        reverse("portal:profile"),
        {"name": "Jane Q. Doe", "email": "jane.q@example.com", "phone_number": "+1 415 555 0100"},
        follow=True,
    )
    assert "Your details were saved" in response.content.decode()
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.phone_number) == (
        "Jane Q. Doe",
        "jane.q@example.com",
        "+1 415 555 0100",
    )
    portal_client.post(
        reverse("portal:profile"), {"name": "Jane", "email": "jane@example.com", "phone_number": ""}
    )
    customer.refresh_from_db()
    assert customer.phone_number is None


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "", "email": "jane@example.com"}, "name"),
        ({"name": "   ", "email": "jane@example.com"}, "name"),
        ({"name": "x" * 256, "email": "jane@example.com"}, "name"),
        ({"name": "Jane", "email": "not-an-email"}, "email"),
        ({"name": "Jane", "email": ""}, "email"),
        ({"name": "Jane", "email": "jane@example.com", "phone_number": "call me"}, "phone_number"),
        ({"name": "Jane", "email": "jane@example.com", "phone_number": "+1" + "2" * 40}, "phone_number"),
    ],
)
def test_profile_bad_input_is_shown_and_writes_nothing(portal_client, customer, data, field):
    before = Customer.objects.values().get(pk=customer.pk)
    response = portal_client.post(reverse("portal:profile"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html and "invalid-feedback" in html and "is-invalid" in html
    assert "Please correct the highlighted fields" in html
    assert Customer.objects.values().get(pk=customer.pk) == before


def test_csrf_is_enforced_on_every_form(customer, history):
    _, subscription = history
    client = Client(enforce_csrf_checks=True)
    _, _, token = make_link(customer)
    open_path = reverse("portal:open", args=[token])
    assert client.post(open_path).status_code == 403  # no CSRF token
    assert PortalSession.objects.count() == 0
    page = client.get(open_path)
    csrf = page.context["csrf_token"]
    assert client.post(open_path, {"csrfmiddlewaretoken": str(csrf)}).status_code == 302
    before = Customer.objects.values().get(pk=customer.pk)
    for path, data in [
        (reverse("portal:profile"), {"name": "Eve", "email": "eve@example.com"}),
        (reverse("portal:subscription-cancel", args=[subscription.id]), {"when": "now"}),
        (reverse("portal:sign-out"), {}),
    ]:
        assert client.post(path, data).status_code == 403
    assert Customer.objects.values().get(pk=customer.pk) == before
    assert Subscription.objects.get(pk=subscription.pk).status == SubscriptionStatus.ACTIVE
    assert PortalSession.objects.get().ended_at is None


def test_wallet_ledger_shows_before_and_after(portal_client, history):
    html = portal_client.get(reverse("portal:wallet")).content.decode()
    assert "Prepaid credits" in html and "$0.00" in html and "$25.00" in html
    assert portal_client.get(reverse("portal:wallet") + "?currency=INR").status_code == 200
    assert portal_client.get(reverse("portal:wallet") + "?currency=XXX&page=abc").status_code == 200


def test_billing_history_pages_through_every_payment(portal_client, business, customer):
    """No cap: 30 payments are two pages of 25 and 5, newest first, and nothing is left out."""
    from portal.views import BILLING_PAGE_SIZE
    from tests.metering.test_payments_api import card, one_time_product, purchase, use_sandbox

    use_sandbox(business)
    product = one_time_product(business, price=700, name="Pack")
    method = card(customer)
    ids = [purchase(business, customer, product=product, payment_method=method).id for _ in range(30)]
    url = reverse("portal:billing")

    def shown(query):
        html = portal_client.get(url + query).content.decode()
        return [pid for pid in ids if f'data-payment-id="{pid}"' in html], html

    first, html = shown("")
    assert len(first) == BILLING_PAGE_SIZE == 25
    assert "Page 1 of 2" in html and 'rel="next" href="?page=2"' in html and 'rel="prev"' not in html
    second, html = shown("?page=2")
    assert len(second) == 5 and 'rel="prev" href="?page=1"' in html
    assert sorted(first + second) == sorted(ids)  # every payment, once
    assert shown("?page=99")[0] == second  # past the end: the last page
    assert shown("?page=abc")[0] == first  # not a number: the first page
    # The refunds' page number is a parameter of its own; the payments' one is kept beside it.
    assert shown("?page=2&refunds_page=3")[0] == second


def test_license_keys_page_has_copy_buttons(portal_client, customer, history):
    key = LicenseKey.objects.get(customer=customer)
    html = portal_client.get(reverse("portal:license-keys")).content.decode()
    assert key.key in html and f'data-copy="{key.key}"' in html
    assert portal_client.get(reverse("portal:license-key-detail", args=[key.id])).status_code == 200


def test_staff_invite_emails_a_link(
    staff_client, celery_eager, customer, other_business, make_customer, django_capture_on_commit_callbacks
):
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("portal:invite", args=[customer.id]))
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "/portal/open/" in mail.outbox[0].body
    outsider = make_customer(business=other_business, email="o@example.com")
    assert staff_client.post(reverse("portal:invite", args=[outsider.id])).status_code == 404
    assert Client().post(reverse("portal:invite", args=[customer.id])).status_code == 302  # to login
    assert len(mail.outbox) == 1
