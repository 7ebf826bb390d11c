"""Demo data for `make run`: a business, a staff login, customers with wallet activity, meters,
usage events, products, subscriptions billed for a past period, purchases, and an API key."""

import os
import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from customers.selectors import customer_count
from customers.services import customer_create
from dodo_billing.errors import InsufficientWalletFunds
from dodo_billing.selectors import api_key_list
from dodo_billing.services import api_key_create, api_key_revoke, business_get_or_create, membership_set
from metering.ingestion import EventIn
from metering.models import Product
from metering.services.billing import (
    payment_method_create,
    product_create,
    subscription_bill_period,
    subscription_create,
    subscriptions_due,
)
from metering.services.payments import payment_create_one_time
from metering.services.usage import events_insert, meter_create
from wallets.services import wallet_credit, wallet_debit

FIRST = [
    "Aarav",
    "Maya",
    "Noah",
    "Priya",
    "Liam",
    "Zara",
    "Ethan",
    "Ananya",
    "Olivia",
    "Kabir",
    "Sofia",
    "Rohan",
    "Emma",
    "Ishaan",
    "Lucas",
    "Meera",
]
LAST = [
    "Sharma",
    "Patel",
    "Smith",
    "Garcia",
    "Chen",
    "Nair",
    "Johnson",
    "Iyer",
    "Brown",
    "Kapoor",
    "Mueller",
    "Rossi",
    "Singh",
    "Dubois",
    "Khan",
]
PLANS = ["starter", "pro", "enterprise"]
DEMO_KEY_NAME = "demo (make run)"


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the dashboard URL, a login and a fresh demo API key."

    def add_arguments(self, parser):
        parser.add_argument("--business", default="Demo Business")
        parser.add_argument("--customers", type=int, default=40)
        parser.add_argument("--url", default="http://127.0.0.1:8000")

    def handle(self, *args, **options):
        username = os.environ.get("DEMO_ADMIN_USER", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin")
        business, _ = business_get_or_create(name=options["business"])

        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_superuser(
                username=username, email=f"{username}@example.com", password=password
            )
        membership_set(user=user, business=business)

        if customer_count(business=business) == 0:
            self._customers(business, options["customers"])
        if not Product.objects.filter(business=business).exists():
            self._billing(business)

        for old_key in api_key_list(business=business, active=True).filter(name=DEMO_KEY_NAME):
            api_key_revoke(api_key=old_key)
        _, secret = api_key_create(business=business, name=DEMO_KEY_NAME)

        base = options["url"].rstrip("/")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("dodo_billing is ready."))
        self.stdout.write(f"  Dashboard:  {base}/   (login: {username} / {password})")
        self.stdout.write(f"  Admin:      {base}/admin/")
        self.stdout.write(f"  API docs:   {base}/api/docs")
        self.stdout.write(f'  SDK:        DodoPayments(bearer_token=KEY, base_url="{base}/api")')
        self.stdout.write("  Demo API key (shown once; a new one is made on every start):")
        self.stdout.write(secret)

    @transaction.atomic
    def _customers(self, business, count):
        rng = random.Random(20261122)
        for index in range(count):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            customer = customer_create(
                business=business,
                name=f"{first} {last}",
                email=f"{first}.{last}{index}@example.com".lower(),
                phone_number=f"+1 555 01{index:02d}" if index % 3 else None,
                metadata={"plan": rng.choice(PLANS), "seats": rng.randint(1, 25)},
            )
            for currency, scale in (("USD", 100), ("INR", 8000)):
                if rng.random() < 0.7:
                    top_up = rng.randint(10, 500) * scale
                    wallet_credit(
                        customer=customer, currency=currency, amount=top_up, reason="Prepaid credits"
                    )
                    for _ in range(rng.randint(0, 4)):
                        spend = rng.randint(1, 60) * scale // 10
                        if spend:
                            try:
                                wallet_debit(
                                    customer=customer, currency=currency, amount=spend, reason="Usage"
                                )
                            except InsufficientWalletFunds:
                                break

    @transaction.atomic
    def _billing(self, business):
        """Sandbox gateway; two meters; a usage-based plan and a prepaid-credits pack; a dozen
        subscriptions that started 35 days ago, with usage, billed for their first month; a few
        credit purchases (one with a declined card)."""
        rng = random.Random(7)
        now = timezone.now()
        start = now - timedelta(days=35)
        business.payment_gateway = "sandbox"
        business.save(update_fields=["payment_gateway"])
        plan, pack = _demo_products(business, *_demo_meters(business))
        customers = list(business.customers.order_by("created_at", "id")[:15])
        _demo_subscriptions(business, customers[:12], plan=plan, start=start, now=now, rng=rng)
        for subscription_id, period_start in subscriptions_due(now=now):
            subscription_bill_period(subscription_id=subscription_id, period_start=period_start, now=now)
        for index, customer in enumerate(customers[12:15]):
            card = "4000000000009995" if index == 2 else "5555555555554444"
            method = payment_method_create(customer=customer, card_number=card)
            payment_create_one_time(
                business=business,
                customer=customer,
                product=pack,
                billing={"country": "US"},
                payment_method=method,
                now=now - timedelta(days=rng.randint(1, 20)),
            )


def _demo_meters(business):
    """The two meters of the demo plan: LLM tokens (a sum, free models left out) and API requests."""
    tokens = meter_create(
        business=business,
        name="LLM tokens",
        event_name="llm.completion",
        measurement_unit="tokens",
        aggregation={"type": "sum", "key": "tokens"},
        filter={
            "conjunction": "and",
            "clauses": [{"key": "model", "operator": "not_equals", "value": "free"}],
        },
    )
    requests = meter_create(
        business=business,
        name="API requests",
        event_name="api.request",
        measurement_unit="requests",
        aggregation={"type": "count"},
    )
    return tokens, requests


def _demo_products(business, tokens, requests):
    """A monthly usage-based plan on the two meters, and a one-time pack that tops up the wallet."""
    monthly = {
        "payment_frequency_count": 1,
        "payment_frequency_interval": "Month",
        "subscription_period_count": 1,
        "subscription_period_interval": "Year",
    }
    plan = product_create(
        business=business,
        name="API Pro",
        description="Metered API access: $19/month, tokens and requests above the free tier.",
        price={
            "type": "usage_based_price",
            "currency": "USD",
            "fixed_price": 1900,
            "included_credits": 500,
            **monthly,
            "meters": [
                {"meter_id": tokens.id, "price_per_unit": "0.01", "free_threshold": 20_000},
                {"meter_id": requests.id, "price_per_unit": "0.5", "free_threshold": 10},
            ],
        },
    )
    pack = product_create(
        business=business,
        name="Credits pack $50",
        price={"type": "one_time_price", "currency": "USD", "price": 5000},
        tax_category="digital_products",
        wallet_top_up=True,
    )
    return plan, pack


def _demo_subscriptions(business, customers, *, plan, start, now, rng) -> None:
    """Each customer subscribes to ``plan`` a minute after the one before, from ``start`` (the
    twelfth with a card that is declined), and sends usage events over the 34 days after it."""
    events, stamps = [], []
    for index, customer in enumerate(customers):
        card = "4000000000000002" if index == 11 else "4242424242424242"
        method = payment_method_create(customer=customer, card_number=card)
        subscription_create(
            business=business,
            customer=customer,
            product=plan,
            payment_method=method,
            billing={"country": "US"},
            now=start + timedelta(minutes=index),
        )
        for number in range(rng.randint(40, 160)):
            at = start + timedelta(minutes=index + 1, seconds=rng.randint(0, 34 * 86_400))
            if rng.random() < 0.6:
                name = "llm.completion"
                metadata = {
                    "model": rng.choice(["gpt-4o", "gpt-4o-mini", "free"]),
                    "tokens": rng.randint(200, 4000),
                }
            else:
                name, metadata = "api.request", {"path": rng.choice(["/v1/chat", "/v1/embed"])}
            events.append(EventIn(f"demo-{customer.id}-{number}", customer.id, name, at, metadata))
            stamps.append(at)
    events_insert(business=business, events=events, timestamps=stamps, ingested_at=now)
