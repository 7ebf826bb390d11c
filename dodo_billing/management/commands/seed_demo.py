"""Demo data for `make run`: a business, a staff login, customers with wallet activity, an API key."""

import os
import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from customers.selectors import customer_count
from customers.services import customer_create
from dodo_billing.errors import InsufficientWalletFunds
from dodo_billing.selectors import api_key_list
from dodo_billing.services import api_key_create, api_key_revoke, business_get_or_create, membership_set
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
