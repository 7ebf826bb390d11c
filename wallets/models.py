"""Wallets (one per customer and currency) and their append-only ledger.

Invariants (DESIGN.md), and where each is enforced:
1. balance ≥ 0 — CHECK on Wallet and on every entry's before/after balance.
2. balance = Σ credits - Σ debits, and entries chain — per-wallet ``seq`` (UNIQUE with the wallet),
   CHECK that ``after = before ± amount``; on PostgreSQL a trigger checks on insert that an entry
   continues the previous one and another that a wallet's balance only ever moves to its newest
   entry's ``after_balance``.
3. Entries are never updated or deleted — a PostgreSQL trigger rejects UPDATE/DELETE.
4. An idempotency key is unique per customer — partial UNIQUE constraint; the client's keys
   (``idempotency_key``) and the product's own (``system_key``) are separate columns, each with
   its own constraint, so neither can take the other's.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from customers.models import Customer
from dodo_billing.ids import MAX_LENGTH, PublicId
from dodo_billing.models import Business
from dodo_billing.money import MAX_AMOUNT, CurrencyField

REASON_MAX_LENGTH = 1000
IDEMPOTENCY_KEY_MAX_LENGTH = 255


class EventType(models.TextChoices):
    PAYMENT = "payment"
    PAYMENT_REVERSAL = "payment_reversal"
    REFUND = "refund"
    REFUND_REVERSAL = "refund_reversal"
    DISPUTE = "dispute"
    DISPUTE_REVERSAL = "dispute_reversal"
    MERCHANT_ADJUSTMENT = "merchant_adjustment"


class Wallet(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="wallets")
    currency = CurrencyField()
    balance = models.BigIntegerField(default=0, help_text="Minor units; moved only by ledger entries.")
    entry_count = models.BigIntegerField(default=0, help_text="Number of entries = seq of the newest one.")
    low_balance_threshold = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_AMOUNT)],
        help_text=(
            "Minor units. A wallet.balance_low webhook is sent when an entry takes the balance from at "
            "or above this to below it. Empty = no alert."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["customer", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "currency"], name="wallet_customer_currency_unique"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative"),
            models.CheckConstraint(condition=Q(balance__lte=MAX_AMOUNT), name="wallet_balance_max"),
            models.CheckConstraint(
                condition=Q(entry_count__gt=0) | Q(balance=0), name="wallet_empty_is_zero"
            ),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.currency} {self.balance}"


class LedgerEntry(models.Model):
    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("wle"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, db_index=False, related_name="+")
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, db_index=False, related_name="ledger_entries"
    )
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, db_index=False, related_name="entries")
    currency = CurrencyField()
    seq = models.BigIntegerField(help_text="Position in the wallet's ledger, from 1 without gaps.")
    amount = models.BigIntegerField(help_text="Minor units, always positive; is_credit gives the direction.")
    is_credit = models.BooleanField()
    before_balance = models.BigIntegerField()
    after_balance = models.BigIntegerField()
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    reason = models.TextField(null=True, blank=True)
    reference_object_id = models.CharField(max_length=64, null=True, blank=True)
    idempotency_key = models.CharField(
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        null=True,
        blank=True,
        help_text="The client's key (API, dashboard).",
    )
    system_key = models.CharField(
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        null=True,
        blank=True,
        editable=False,
        help_text="The product's own key (top-up:, payment:, refund:, refund-failed: and the object's id); "
        "no client input reaches it.",
    )
    request_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-created_at", "-seq", "-id"]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="ledgerentry_customer_newest"),
            models.Index(fields=["business", "-created_at"], name="ledgerentry_business_newest"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["wallet", "seq"], name="ledgerentry_wallet_seq_unique"),
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="ledgerentry_idempotency_key_unique",
            ),
            models.UniqueConstraint(
                fields=["customer", "system_key"],
                condition=Q(system_key__isnull=False),
                name="ledgerentry_system_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(idempotency_key__isnull=True) | Q(system_key__isnull=True),
                name="ledgerentry_one_key_namespace",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0, amount__lte=MAX_AMOUNT), name="ledgerentry_amount_range"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="ledgerentry_seq_positive"),
            models.CheckConstraint(
                condition=Q(before_balance__gte=0, after_balance__gte=0, after_balance__lte=MAX_AMOUNT),
                name="ledgerentry_balances_in_range",
            ),
            models.CheckConstraint(
                condition=Q(is_credit=True, after_balance=F("before_balance") + F("amount"))
                | Q(is_credit=False, after_balance=F("before_balance") - F("amount")),
                name="ledgerentry_after_follows_before",
            ),
            models.CheckConstraint(
                condition=Q(event_type__in=EventType.values), name="ledgerentry_event_type_valid"
            ),
        ]

    def __str__(self):
        sign = "+" if self.is_credit else "-"
        return f"{self.id} {sign}{self.amount} {self.currency}"
