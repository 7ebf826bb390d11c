"""Django admin audit: every model of every installed app is registered; for a superuser each
changelist, its search and every one of its list filters render, and so does a change page; money
and append-only records (ledger entries, events, payments, invoices, refunds) are read-only."""

from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse

from customers.reports.services import saved_report_create
from dodo_billing.services import user_preference_set
from metering.models import Event, Invoice, InvoiceLine, Payment
from metering.services.usage import meter_create
from wallets.services import wallet_credit

pytestmark = pytest.mark.django_db

# Django's own bookkeeping that operators never browse, and webhook delivery attempts, which are
# shown inline on their delivery only (a log of every HTTP attempt is not browsed on its own).
UNREGISTERED = {
    "auth.permission",
    "contenttypes.contenttype",
    "sessions.session",
    "dodo_billing.webhookdeliveryattempt",
}
READ_ONLY = ["wallets.ledgerentry", "metering.event", "metering.payment", "metering.invoice",
             "metering.invoiceline", "metering.refund", "metering.gatewaycharge"]  # fmt: skip


def all_models():
    return sorted(model._meta.label_lower for model in apps.get_models())


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser(username="root", email="root@example.com", password="pw")


@pytest.fixture
def operator(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def data(business, other_business, customer, make_customer, staff_user):
    """Rows of most models in two businesses, so filters have choices and change pages exist."""
    stranger = make_customer(business=other_business, email="eve@example.com", preferred_locale="fr")
    wallet_credit(customer=stranger, currency="INR", amount=100, event_type="refund")
    saved_report_create(business=other_business, name="Sign-ups", definition={"dataset": "customers"})
    wallet_credit(customer=customer, currency="USD", amount=500)
    meter = meter_create(
        business=business,
        name="Calls",
        event_name="api.call",
        measurement_unit="calls",
        aggregation={"type": "count"},
    )
    Event.objects.create(
        business=business,
        customer=customer,
        event_id="e1",
        event_name="api.call",
        timestamp=datetime.now(UTC),
    )
    invoice = Invoice.objects.create(
        business=business, customer=customer, currency="USD", subtotal=300, amount_due=300
    )
    InvoiceLine.objects.create(invoice=invoice, kind="fixed", description="Plan", amount=300)
    Payment.objects.create(
        business=business, customer=customer, invoice=invoice, currency="USD", total_amount=300,
        gateway_amount=300, pricing_type="one_time_price", status="succeeded", gateway="manual",
    )  # fmt: skip
    saved_report_create(
        business=business, name="Monthly revenue", definition={"dataset": "payments"}, user=staff_user
    )
    user_preference_set(user=staff_user, path="tables.CustomerTable.per_page", value=25)
    return meter


@pytest.mark.parametrize("label", all_models())
def test_every_model_is_registered(label):
    model = apps.get_model(label)
    if label in UNREGISTERED:
        pytest.skip("not browsed on its own")
    assert admin.site.is_registered(model), f"{label} is not registered in the admin"
    model_admin = admin.site._registry[model]
    if label != "auth.group":  # a group is its name
        assert model_admin.list_display != ("__str__",), f"{label}: no list_display"
    assert model_admin.search_fields, f"{label}: no search_fields"


@pytest.mark.parametrize("label", [label for label in all_models() if label not in UNREGISTERED])
def test_changelist_search_filters_and_change_page_render(operator, superuser, data, label):
    model = apps.get_model(label)
    model_admin = admin.site._registry[model]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert operator.get(url).status_code == 200, url
    assert operator.get(url, {"q": "a"}).status_code == 200, f"{url}?q=a"
    # Every list filter, with each of its choices.
    request = RequestFactory().get(url)
    request.user = superuser
    changelist = model_admin.get_changelist_instance(request)
    # A filter with fewer than two choices is not shown (and not listed here).
    assert len(changelist.filter_specs) <= len(model_admin.list_filter)
    for spec in changelist.filter_specs:
        choices = list(spec.choices(changelist))
        assert choices, f"{label}: filter {spec.title} has no choices"
        for choice in choices:
            response = operator.get(url + choice["query_string"])
            assert response.status_code == 200, (label, spec.title, choice["query_string"])
            assert "errornote" not in response.content.decode()
    obj = model._default_manager.first()
    if obj is not None:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}_change"
        change = reverse(name, args=[quote(obj.pk)])  # admin quotes ids: "_40" would read "@"
        assert operator.get(change).status_code == 200, change


@pytest.mark.parametrize("label", READ_ONLY)
def test_money_and_append_only_records_are_read_only(superuser, label):
    model = apps.get_model(label)
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = superuser
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_saved_report_admin_keeps_its_dataset(operator, data, business):
    from customers.models import SavedReport

    report = SavedReport.objects.get(business=business)
    url = reverse("admin:customers_savedreport_change", args=[quote(report.pk)])
    response = operator.post(
        url, {"name": "Renamed", "dataset": "usage", "definition": '{"dataset": "payments"}', "business": "x"}
    )
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.name == "Renamed" and report.dataset == "payments" and report.business == business
