"""Shared models: the merchant (Business), its staff and API keys, and the exchange-rate table."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from dodo_billing.ids import MAX_LENGTH, PublicId
from dodo_billing.money import CURRENCY_CHOICES


class Business(models.Model):
    """A merchant. Every customer, wallet, key and query belongs to exactly one business."""

    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("bus"), editable=False)
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Usage events are accepted with timestamps in [now - past, now + future]. Widen the past
    # window to backfill history (API or import_events).
    event_window_past_seconds = models.PositiveIntegerField(
        default=3600, help_text="How old an ingested event's timestamp may be (seconds; default 1 hour)."
    )
    event_window_future_seconds = models.PositiveIntegerField(
        default=300,
        help_text="How far in the future an event's timestamp may be (seconds; default 5 minutes).",
    )
    payment_gateway = models.CharField(
        max_length=16,
        choices=[("manual", "Manual (payments wait to be marked paid)"), ("sandbox", "Sandbox (test cards)")],
        default="manual",
        help_text="Where charges that the wallet and included credits do not cover go.",
    )

    class Meta:
        verbose_name_plural = "businesses"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """Links a dashboard user to the one business whose data they may see."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self):
        return f"{self.user} @ {self.business}"


class ApiKey(models.Model):
    """A bearer key for the REST API. Only a SHA-256 digest of the secret is stored.

    The key reads ``<prefix>_<secret>``; ``prefix`` (``dbk_`` + 12 characters) is shown in lists so
    keys can be told apart, and it is how a presented key is found before its digest is compared.
    """

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=24, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    can_write = models.BooleanField(
        default=True, help_text="Read-only keys get 403 FORBIDDEN on every call that changes data."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ExchangeRate(models.Model):
    """Value of one major unit of ``currency`` in US dollars; operators edit it in admin."""

    currency = models.CharField(primary_key=True, max_length=3, choices=CURRENCY_CHOICES)
    usd_per_unit = models.DecimalField(
        max_digits=24, decimal_places=12, help_text="US dollars for one unit of this currency."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.CheckConstraint(condition=models.Q(usd_per_unit__gt=0), name="exchangerate_positive"),
        ]

    def __str__(self):
        return f"1 {self.currency} = {self.usd_per_unit} USD"
