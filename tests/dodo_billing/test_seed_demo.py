"""`make run`'s demo data: loads once, bills a past period exactly once, keeps the ledger sound."""

import io

import pytest
from django.core.management import call_command

from dodo_billing.models import Business
from metering.models import Event, Invoice, Payment, PaymentStatus, Product, Subscription
from wallets.selectors import wallet_reconcile

pytestmark = pytest.mark.django_db


def test_demo_data_loads_once_and_bills_the_first_month():
    out = io.StringIO()
    call_command("seed_demo", "--customers", "20", stdout=out)
    business = Business.objects.get(name="Demo Business")
    assert business.payment_gateway == "sandbox"
    assert out.getvalue().strip().splitlines()[-1].startswith("dbk_")
    counts = (
        Product.objects.count(),
        Subscription.objects.count(),
        Invoice.objects.count(),
        Event.objects.count(),
    )
    assert counts[:2] == (2, 12) and counts[2] == 15 and counts[3] > 12 * 40
    # Each subscription was billed for its first month: usage above the free tier, one declined card.
    subscription_payments = Payment.objects.filter(subscription__isnull=False)
    assert subscription_payments.count() == 12
    assert subscription_payments.filter(status=PaymentStatus.FAILED).count() == 1
    assert Subscription.objects.filter(status="on_hold").count() == 1
    assert all(payment.total_amount > 1900 - 500 for payment in subscription_payments)

    call_command("seed_demo", "--customers", "20", stdout=io.StringIO())
    assert (Product.objects.count(), Subscription.objects.count(), Invoice.objects.count()) == counts[:3]
    checked, _, problems = wallet_reconcile(business=business)
    assert checked > 0 and problems == []
