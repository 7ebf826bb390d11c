"""Billing in Django admin: every page renders, money records are read-only, and every change
(products, subscriptions, payment methods, the mark-paid and retry actions) goes through the services."""

import json

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from metering import admin as metering_admin
from metering.models import (
    GatewayCharge,
    Invoice,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Product,
    Refund,
    Subscription,
    SubscriptionStatus,
)
from metering.services import meter_create
from metering.services.payments import refund_create
from tests.metering.test_payments_api import (
    DECLINED_CARD,
    billing_rows,
    card,
    one_time_product,
    pdf_text,
    purchase,
    subscription_payment,
    use_sandbox,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    client.force_login(
        get_user_model().objects.create_superuser(username="op", email="op@example.com", password="x")
    )
    return client


@pytest.fixture
def billed(business, customer, make_customer):
    """One of everything: a usage subscription with a billed, partly refunded period, a one-time
    purchase, payment methods, gateway charges."""
    use_sandbox(business)
    payment = subscription_payment(business, customer, wallet=1200)
    refund_create(payment=payment, amount=500, destination="wallet", reason="goodwill")
    other = make_customer()
    one_time = purchase(business, other, payment_method=card(other))
    return {"payment": payment, "one_time": one_time, "subscription": payment.subscription}


def admin_url(model: str, pk, view: str = "change") -> str:
    """An object's admin URL. Admin's own change and delete views unquote the primary key, so it
    is quoted as admin quotes it: unquoted, a public id's ``_`` and the two characters after it
    are now and then read as an escape (the ids are random) and the object is not found. The
    invoice's PDF view takes the id as it is."""
    return f"/admin/metering/{model}/{pk if view == 'pdf' else quote(pk)}/{view}/"


def spy(monkeypatch, name):
    """Wrap the service ``name`` as the registered metering admin classes call it, and record
    its calls. The globals are taken from the registered ProductAdmin's code (not from an
    import of ``metering.admin`` here), so the spy sits where the admin looks the name up."""
    from django.contrib import admin

    calls = []
    module_globals = type(admin.site._registry[Product]).save_model.__globals__
    original = module_globals[name]

    def wrapper(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setitem(module_globals, name, wrapper)
    return calls


def management_form(prefix, total=0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(total),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def run_action(client, model, action, objects):
    return client.post(
        f"/admin/metering/{model}/",
        {"action": action, "_selected_action": [obj.pk for obj in objects], "index": 0},
        follow=True,
    )


# --- pages render -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["product", "subscription", "invoice", "payment", "gatewaycharge", "refund",
                                   "paymentmethod"])  # fmt: skip
def test_changelists_render_and_search(operator, billed, model):
    response = operator.get(f"/admin/metering/{model}/")
    assert response.status_code == 200
    assert operator.get(f"/admin/metering/{model}/", {"q": billed["payment"].id}).status_code == 200


def test_change_pages_render(operator, billed):
    payment = billed["payment"]
    objects = {
        "product": payment.subscription.product,
        "subscription": payment.subscription,
        "invoice": payment.invoice,
        "payment": payment,
        "gatewaycharge": GatewayCharge.objects.filter(payment=payment).first(),
        "refund": Refund.objects.get(),
        "paymentmethod": PaymentMethod.objects.first(),
    }
    for model, obj in objects.items():
        response = operator.get(admin_url(model, obj.pk, "change"))
        assert response.status_code == 200, model
    page = operator.get(admin_url("payment", payment.pk, "change")).content.decode()
    assert "goodwill" in page and "succeeded" in page  # the refund and gateway-charge inlines
    invoice_page = operator.get(admin_url("invoice", payment.invoice_id, "change")).content.decode()
    assert "Tokens (tokens)" in invoice_page and "1500" in invoice_page  # the lines inline
    product_page = operator.get(admin_url("product", payment.subscription.product_id, "change")).content
    assert b"Tokens" in product_page


def test_add_pages(operator, billed):
    assert operator.get("/admin/metering/product/add/").status_code == 200
    assert operator.get("/admin/metering/paymentmethod/add/").status_code == 200
    for model in ("payment", "invoice", "refund", "gatewaycharge", "subscription"):
        assert operator.get(f"/admin/metering/{model}/add/").status_code == 403, model


def test_money_records_are_read_only(operator, billed):
    payment = billed["payment"]
    before = billing_rows()
    response = operator.post(
        admin_url("payment", payment.pk, "change"), {"status": "refunded", "total_amount": "1"}
    )
    assert response.status_code == 403
    for model, pk in (
        ("payment", payment.pk),
        ("invoice", payment.invoice_id),
        ("refund", Refund.objects.get().pk),
    ):
        assert operator.post(admin_url(model, pk, "delete"), {"post": "yes"}).status_code == 403
    assert "delete_selected" not in operator.get("/admin/metering/payment/").content.decode()
    assert billing_rows() == before


def test_invoice_pdf_from_admin(operator, billed):
    payment = billed["payment"]
    assert (
        admin_url("invoice", payment.invoice_id, "pdf")
        in operator.get("/admin/metering/invoice/").content.decode()
    )
    response = operator.get(admin_url("invoice", payment.invoice_id, "pdf"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert payment.invoice_id in pdf_text(response.content)
    assert operator.get("/admin/metering/invoice/inv_nope/pdf/").status_code == 404


def test_invoice_pdf_needs_a_staff_login(client, billed):
    response = client.get(admin_url("invoice", billed["payment"].invoice_id, "pdf"))
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- payment actions call the services -------------------------------------------------------------------


def test_mark_paid_action_calls_the_service(operator, business, customer, monkeypatch):
    top_up = one_time_product(business, price=800, wallet_top_up=True)
    pending = purchase(business, customer, top_up)
    calls = spy(monkeypatch, "payment_mark_paid")
    response = run_action(operator, "payment", "mark_paid", [pending])
    assert response.status_code == 200
    assert "Marked paid 1 payments." in response.content.decode()
    assert [call["payment"].pk for call in calls] == [pending.pk]
    pending.refresh_from_db()
    assert pending.status == PaymentStatus.SUCCEEDED
    assert customer.wallets.get(currency="USD").balance == 800  # the service's top-up credit
    # Again: refused by the service, reported, nothing written.
    before = billing_rows()
    response = run_action(operator, "payment", "mark_paid", [pending])
    assert (
        f"Payment {pending.pk}: Payment {pending.pk} is succeeded; it cannot be marked paid."
        in response.content.decode()
    )
    assert billing_rows() == before


def test_retry_action_calls_the_service(operator, business, customer, monkeypatch):
    use_sandbox(business)
    failed = subscription_payment(business, customer, card_number=DECLINED_CARD)
    paid = purchase(business, customer, payment_method=card(customer))
    Subscription.objects.filter(pk=failed.subscription_id).update(payment_method=card(customer))
    calls = spy(monkeypatch, "payment_retry")
    response = run_action(operator, "payment", "retry", [failed, paid])
    content = response.content.decode()
    assert (
        "Retried 1 payments." in content and f"Payment {paid.pk}: Payment {paid.pk} is succeeded" in content
    )
    assert sorted(call["payment"].pk for call in calls) == sorted([failed.pk, paid.pk])
    failed.refresh_from_db()
    assert (failed.status, failed.retry_attempt) == (PaymentStatus.SUCCEEDED, 2)
    assert failed.subscription.status == SubscriptionStatus.ACTIVE
    assert GatewayCharge.objects.filter(payment=failed).count() == 2


def test_actions_need_the_change_permission(client, business, customer):
    pending = purchase(business, customer)
    viewer = get_user_model().objects.create_user(username="viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_payment"))
    client.force_login(viewer)
    page = client.get("/admin/metering/payment/")
    assert page.status_code == 200 and "mark_paid" not in page.content.decode()
    before = billing_rows()
    run_action(client, "payment", "mark_paid", [pending])
    assert billing_rows() == before


# --- products, subscriptions, payment methods through the services --------------------------------------


def product_form(business, **fields):
    return {
        "business": business.pk,
        "name": "Starter pack",
        "description": "",
        "tax_category": "saas",
        "metadata": "{}",
        "price_type": "one_time_price",
        "currency": "USD",
        "price": "1500",
        "fixed_price": "0",
        "included_credits": "0",
        "tax_inclusive": "unknown",
        "payment_frequency_count": "",
        "payment_frequency_interval": "",
        "subscription_period_count": "",
        "subscription_period_interval": "",
        "trial_period_days": "0",
        "meters": "",
        **management_form("product_meters"),
        **fields,
    }


def test_product_added_in_admin_goes_through_product_create(operator, business, monkeypatch):
    calls = spy(monkeypatch, "product_create")
    response = operator.post("/admin/metering/product/add/", product_form(business, wallet_top_up="on"))
    assert response.status_code == 302, response.content.decode()[:3000]
    product = Product.objects.get()
    assert (product.id[:4], product.price, product.wallet_top_up, product.price_type) == (
        "pdt_",
        1500,
        True,
        "one_time_price",
    )
    assert len(calls) == 1 and calls[0]["price"] == {
        "type": "one_time_price",
        "currency": "USD",
        "tax_inclusive": None,
        "price": 1500,
    }


def test_usage_product_with_meters_in_admin(operator, business, monkeypatch):
    meter = meter_create(business=business, name="Tokens", event_name="llm", measurement_unit="tokens",
                         aggregation={"type": "sum", "key": "tokens"})  # fmt: skip
    form = product_form(
        business,
        price_type="usage_based_price",
        fixed_price="500",
        payment_frequency_count="1",
        payment_frequency_interval="Month",
        subscription_period_count="20",
        subscription_period_interval="Year",
        meters=json.dumps([{"meter_id": meter.id, "price_per_unit": "0.02", "free_threshold": 1000}]),
    )
    assert operator.post("/admin/metering/product/add/", form).status_code == 302
    product = Product.objects.get()
    assert [(pm.meter_id, str(pm.price_per_unit.normalize()), pm.free_threshold)
            for pm in product.product_meters.all()] == [(meter.id, "0.02", 1000)]  # fmt: skip
    # Edit: the name and the meter's price, through product_update.
    calls = spy(monkeypatch, "product_update")
    form.update(name="API Pro v2", meters=json.dumps([{"meter_id": meter.id, "price_per_unit": "0.03"}]))
    del form["business"]
    response = operator.post(admin_url("product", product.pk, "change"), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert len(calls) == 1
    product.refresh_from_db()
    assert product.name == "API Pro v2"
    assert [str(pm.price_per_unit.normalize()) for pm in product.product_meters.all()] == ["0.03"]


PERIODS = {
    "payment_frequency_count": "1",
    "payment_frequency_interval": "Month",
    "subscription_period_count": "1",
    "subscription_period_interval": "Year",
}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {
                **PERIODS,
                "price_type": "usage_based_price",
                "meters": '[{"meter_id": "mtr_x", "price_per_unit": "2"}]',
            },
            "meter IDs do not exist",
        ),
        (
            {**PERIODS, "price_type": "recurring_price", "payment_frequency_count": ""},
            "payment_frequency_count",
        ),
        ({**PERIODS, "price_type": "recurring_price", "wallet_top_up": "on"}, "one-time products only"),
        ({"metadata": '{"a": {"b": 1}}'}, "must be a string, number or boolean"),
        ({"price": "-5"}, "whole number of minor units"),
    ],
)
def test_bad_product_in_admin_is_refused(operator, business, fields, message):
    response = operator.post("/admin/metering/product/add/", product_form(business, **fields))
    assert response.status_code == 200 and message in response.content.decode()
    assert not Product.objects.exists()


def test_archive_and_unarchive_products(operator, business):
    product = one_time_product(business)
    run_action(operator, "product", "archive", [product])
    product.refresh_from_db()
    assert product.archived_at is not None
    run_action(operator, "product", "unarchive", [product])
    product.refresh_from_db()
    assert product.archived_at is None
    assert operator.post(admin_url("product", product.pk, "delete"), {"post": "yes"}).status_code == 403


def test_subscription_changes_go_through_subscription_update(operator, billed, customer, monkeypatch):
    subscription = billed["subscription"]
    new_card = card(customer)
    calls = spy(monkeypatch, "subscription_update")
    response = operator.post(
        admin_url("subscription", subscription.pk, "change"),
        {
            "metadata": '{"plan": "gold"}',
            "payment_method": new_card.pk,
            "cancel_at_next_billing_date": "on",
            **management_form("subscription_meters", 1),
            "subscription_meters-0-id": subscription.subscription_meters.get().pk,
            "subscription_meters-0-subscription": subscription.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert len(calls) == 1
    assert set(calls[0]) == {"subscription", "metadata", "payment_method", "cancel_at_next_billing_date"}
    subscription.refresh_from_db()
    assert (
        subscription.metadata,
        subscription.payment_method_id,
        subscription.cancel_at_next_billing_date,
    ) == (
        {"plan": "gold"},
        new_card.pk,
        True,
    )


def test_subscription_payment_method_must_be_the_customers(operator, billed, make_customer):
    subscription = billed["subscription"]
    stranger_card = card(make_customer())
    response = operator.post(
        admin_url("subscription", subscription.pk, "change"),
        {"metadata": "{}", "payment_method": stranger_card.pk, **management_form("subscription_meters")},
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.payment_method_id != stranger_card.pk


def test_subscription_cancel_actions(operator, billed, monkeypatch):
    subscription = billed["subscription"]
    calls = spy(monkeypatch, "subscription_cancel")
    run_action(operator, "subscription", "cancel_at_period_end", [subscription])
    subscription.refresh_from_db()
    assert subscription.cancel_at_next_billing_date and subscription.status == SubscriptionStatus.ACTIVE
    invoices = Invoice.objects.count()
    run_action(operator, "subscription", "cancel_now", [subscription])
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELLED
    assert Invoice.objects.count() == invoices + 1  # the partial period was billed by the service
    assert [call.get("at_period_end", False) for call in calls] == [True, False]
    response = run_action(operator, "subscription", "cancel_now", [subscription])
    assert "is already cancelled" in response.content.decode()
    # An ended subscription cannot be resumed from its page: the flag is read-only there.
    page = operator.get(admin_url("subscription", subscription.pk, "change")).content.decode()
    assert 'name="cancel_at_next_billing_date"' not in page
    response = operator.post(
        admin_url("subscription", subscription.pk, "change"),
        {"metadata": '{"note": "ended"}', "payment_method": "", **management_form("subscription_meters")},
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.status, subscription.metadata) == (SubscriptionStatus.CANCELLED, {"note": "ended"})


def test_payment_method_added_through_the_service(operator, customer, monkeypatch):
    calls = spy(monkeypatch, "payment_method_create")
    response = operator.post(
        "/admin/metering/paymentmethod/add/", {"customer": customer.pk, "card_number": "4242 4242 4242 4242"}
    )
    assert response.status_code == 302
    method = PaymentMethod.objects.get()
    assert (method.id[:3], method.card_last_four, method.card_network, method.business_id) == (
        "pm_",
        "4242",
        "VISA",
        customer.business_id,
    )
    assert len(calls) == 1
    for number in ("123", "4111111111111111"):
        bad = operator.post(
            "/admin/metering/paymentmethod/add/", {"customer": customer.pk, "card_number": number}
        )
        assert bad.status_code == 200 and "Only the sandbox test cards are accepted" in bad.content.decode()
    assert PaymentMethod.objects.count() == 1
    assert operator.post(admin_url("paymentmethod", method.pk, "delete"), {"post": "yes"}).status_code == 403


def test_lists_of_payments_do_not_count_every_row(operator, billed):
    """Payments, invoices, refunds and charges use the bounded paginator (no full COUNT)."""
    for model in (Payment, Invoice, Refund, GatewayCharge):
        model_admin = metering_admin.admin.site._registry[model]
        assert model_admin.show_full_result_count is False
        assert model_admin.paginator.__name__ == "BoundedCountPaginator"
