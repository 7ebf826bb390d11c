"""Shared models: the merchant (Business), its staff and API keys, the exchange-rate table, and the
webhooks outbox (endpoints, events, deliveries and their attempt log)."""

import base64
import ipaddress
import re
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
    RegexValidator,
)
from django.db import models
from django.utils import timezone

from dodo_billing.egress import url_refusal
from dodo_billing.ids import MAX_LENGTH, PublicId
from dodo_billing.money import CURRENCIES, CurrencyField


def validate_low_balance_thresholds(value) -> None:
    """``{"USD": 500, ...}``: ISO-4217 codes of wallet currencies to whole minor units ≥ 0."""
    if not isinstance(value, dict):
        raise ValidationError('Expected an object such as {"USD": 500}.')
    for currency, amount in value.items():
        if currency not in CURRENCIES:
            raise ValidationError(f"{currency!r} is not an ISO-4217 currency code.")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= 2**53 - 1:
            raise ValidationError(f"{currency}: the threshold must be a whole number of minor units ≥ 0.")


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
    # Emails to customers (docs/email.md): branding of every message, and whether receipts go out.
    brand_color = models.CharField(
        max_length=7,
        default="#0d6efd",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #RRGGBB.")],
        help_text="Colour of the header and buttons of emails to customers (#RRGGBB).",
    )
    email_sender_name = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Name emails come from; empty = the business's name.",
    )
    email_reply_to = models.EmailField(
        blank=True, default="", help_text="Where customers' replies to emails go; empty = no Reply-To."
    )
    customer_emails = models.BooleanField(
        default=False,
        help_text="Email customers a receipt for each successful payment, a notice for each failed one, "
        "and a notice when a wallet's balance falls below its threshold.",
    )
    low_balance_thresholds = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_low_balance_thresholds],
        help_text="Low-balance threshold of new customers' wallets, per currency in minor units, e.g. "
        '{"USD": 500, "INR": 40000}. A currency not named gets no threshold.',
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

    currency = CurrencyField(primary_key=True)
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


# --- Webhooks ------------------------------------------------------------------------------------
# Merchant endpoints, the outbox of events (WebhookEvent), one delivery per (event, endpoint) and a
# log row per HTTP attempt. Services and selectors live in the package dodo_billing/webhooks/
# (endpoints, outbox, delivery, tasks); docs/webhooks.md describes the whole flow.

# The contract's payment.*, refund.* and subscription.* types (SDK ``WebhookEventType``), plus the
# wallet events of this product. tests/dodo_billing/test_webhooks.py compares them with the SDK.
WEBHOOK_EVENT_TYPES = (
    "payment.succeeded",
    "payment.failed",
    "payment.processing",
    "payment.cancelled",
    "refund.succeeded",
    "refund.failed",
    "subscription.active",
    "subscription.renewed",
    "subscription.on_hold",
    "subscription.past_due",
    "subscription.paused",
    "subscription.unpaused",
    "subscription.cancelled",
    "subscription.failed",
    "subscription.expired",
    "subscription.plan_changed",
    "subscription.updated",
    "subscription.update_payment_method",
    "wallet.balance_low",
    "wallet.ledger_entry.created",
)
# Sent only to one endpoint, from admin's "send test event"; never subscribable, never emitted.
WEBHOOK_TEST_EVENT_TYPE = "webhook.test"

WEBHOOK_URL_MAX_LENGTH = 2048
WEBHOOK_DESCRIPTION_MAX_LENGTH = 1000
WEBHOOK_METADATA_MAX_KEYS = 50
WEBHOOK_METADATA_MAX_KEY_LENGTH = 100
WEBHOOK_METADATA_MAX_VALUE_LENGTH = 500
WEBHOOK_HEADERS_MAX = 20
WEBHOOK_HEADER_NAME_MAX_LENGTH = 100
WEBHOOK_HEADER_VALUE_MAX_LENGTH = 1000
WEBHOOK_RATE_LIMIT_MAX = 2**31 - 1
# Headers the delivery sets itself, or that would break the request: never taken from an endpoint.
WEBHOOK_RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
    }
)
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
_HEADER_VALUE_RE = re.compile(r"^[\t\x20-\x7e]*$")  # visible ASCII, space and tab
_HOST_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_RE = re.compile(rf"^(?:{_HOST_LABEL}\.)*{_HOST_LABEL}\.?$")  # urlsplit lower-cases host names


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 24 random bytes (192 bits)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def validate_webhook_url(value) -> None:
    """An absolute http(s) URL with a host name or IP address, a valid port, no spaces or controls,
    and a host that is not private (dodo_billing/egress.py) unless WEBHOOK_ALLOW_PRIVATE_TARGETS."""
    if not isinstance(value, str) or not value:
        raise ValidationError("Enter an http:// or https:// URL.", code="invalid")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in value):
        raise ValidationError("The URL may not contain spaces or control characters.", code="invalid")
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError when not a number or out of range
    except ValueError as exc:
        raise ValidationError(f"The URL is not valid: {exc}.", code="invalid") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError("The URL must start with http:// or https://.", code="invalid")
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_RE.match(host):
            raise ValidationError("The URL needs a valid host name or IP address.", code="invalid") from None
    if port == 0:
        raise ValidationError("The URL's port must be from 1 to 65535.", code="invalid")
    refusal = url_refusal(value)
    if refusal is not None:
        raise ValidationError(f"Webhooks go to public addresses only, and {refusal}.", code="private_target")


def validate_filter_types(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("filter_types must be a list of event types.", code="invalid")
    unknown = [item for item in value if not isinstance(item, str) or item not in WEBHOOK_EVENT_TYPES]
    if unknown:
        raise ValidationError(
            f"Unknown event type(s) {unknown!r}; see docs/webhooks.md for the list.",
            code="unknown_event_type",
        )


def validate_string_metadata(value) -> None:
    """A flat object of at most 50 string keys (1–100 characters) to strings (≤ 500 characters)."""
    if not isinstance(value, dict):
        raise ValidationError(
            "Metadata must be a JSON object of string keys and string values.", code="invalid"
        )
    if len(value) > WEBHOOK_METADATA_MAX_KEYS:
        raise ValidationError(
            f"Metadata may have at most {WEBHOOK_METADATA_MAX_KEYS} keys, got {len(value)}.",
            code="MAXIMUM_KEYS_REACHED",
        )
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= WEBHOOK_METADATA_MAX_KEY_LENGTH or "\x00" in key:
            raise ValidationError(
                f"Metadata keys must be 1 to {WEBHOOK_METADATA_MAX_KEY_LENGTH} characters without NUL.",
                code="invalid",
            )
        if not isinstance(item, str):
            raise ValidationError(f"The metadata value of {key!r} must be a string.", code="invalid")
        if len(item) > WEBHOOK_METADATA_MAX_VALUE_LENGTH or "\x00" in item:
            raise ValidationError(
                f"The metadata value of {key!r} must be at most {WEBHOOK_METADATA_MAX_VALUE_LENGTH} "
                "characters without NUL.",
                code="invalid",
            )


def validate_webhook_headers(value) -> None:
    """At most 20 custom headers: token names (case-insensitively unique, not reserved), ASCII values."""
    if not isinstance(value, dict):
        raise ValidationError("headers must be a JSON object of header names to values.", code="invalid")
    if len(value) > WEBHOOK_HEADERS_MAX:
        raise ValidationError(f"At most {WEBHOOK_HEADERS_MAX} custom headers are allowed.", code="invalid")
    seen = set()
    for name, item in value.items():
        if (
            not isinstance(name, str)
            or len(name) > WEBHOOK_HEADER_NAME_MAX_LENGTH
            or not _HEADER_NAME_RE.match(name)
        ):
            raise ValidationError(
                f"{name!r} is not a valid header name (letters, digits and !#$%&'*+.^_`|~-, "
                f"at most {WEBHOOK_HEADER_NAME_MAX_LENGTH} characters).",
                code="invalid",
            )
        lower = name.lower()
        if lower in WEBHOOK_RESERVED_HEADERS or lower.startswith("webhook-"):
            raise ValidationError(f"The header {name!r} is set by the delivery itself.", code="invalid")
        if lower in seen:
            raise ValidationError(f"The header {name!r} is given twice.", code="invalid")
        seen.add(lower)
        if (
            not isinstance(item, str)
            or len(item) > WEBHOOK_HEADER_VALUE_MAX_LENGTH
            or not _HEADER_VALUE_RE.match(item)
        ):
            raise ValidationError(
                f"The value of header {name!r} must be printable ASCII of at most "
                f"{WEBHOOK_HEADER_VALUE_MAX_LENGTH} characters.",
                code="invalid",
            )


class WebhookEndpoint(models.Model):
    """A merchant's URL that receives signed events. Deleting one keeps its delivery log."""

    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("wh"), editable=False)
    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, db_index=False, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=WEBHOOK_URL_MAX_LENGTH, validators=[validate_webhook_url])
    description = models.TextField(
        blank=True,
        default="",
        max_length=WEBHOOK_DESCRIPTION_MAX_LENGTH,
        validators=[MaxLengthValidator(WEBHOOK_DESCRIPTION_MAX_LENGTH), ProhibitNullCharactersValidator()],
    )
    disabled = models.BooleanField(default=False, help_text="Disabled endpoints receive no events.")
    filter_types = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_filter_types],
        help_text="Event types to send; an empty list sends every type.",
    )
    metadata = models.JSONField(default=dict, blank=True, validators=[validate_string_metadata])
    rate_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(WEBHOOK_RATE_LIMIT_MAX)],
        help_text="At most this many delivery attempts per second; empty = no limit.",
    )
    headers = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_webhook_headers],
        help_text="Custom HTTP headers sent with every delivery.",
    )
    secret = models.CharField(max_length=100, default=new_webhook_secret, editable=False)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, editable=False)
    request_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "webhook endpoint"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["business", "-created_at", "-id"], name="webhookendpoint_newest"),
            # The one query an emit costs when nothing wants the event.
            models.Index(
                fields=["business"],
                condition=models.Q(disabled=False, deleted_at__isnull=True),
                name="webhookendpoint_enabled",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["business", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="webhookendpoint_idempotency_key_unique",
            ),
        ]

    def __str__(self):
        return f"{self.id} {self.url}"


class WebhookEvent(models.Model):
    """The outbox: one row per event, written in the transaction of the change it reports.

    ``payload`` is the exact JSON body sent to every endpoint on every attempt (the envelope
    ``{"business_id", "type", "timestamp", "data"}``); ``id`` is its ``webhook-id`` header.
    """

    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("evt"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.CASCADE, db_index=False, related_name="+")
    type = models.CharField(max_length=64)
    payload = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "webhook event"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["business", "-created_at"], name="webhookevent_business")]

    def __str__(self):
        return f"{self.id} {self.type}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    """One event to one endpoint: its state, the schedule of its next attempt, its last outcome."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=16, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0, help_text="HTTP attempts started so far.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a pending delivery is due (also the lease of a running one)."
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_response_body = models.TextField(blank=True, default="", help_text="Truncated.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhookdelivery_due",
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="webhookdelivery_event_endpoint_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=WebhookDeliveryStatus.values),
                name="webhookdelivery_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class WebhookDeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery, written when it starts and completed with its outcome.

    An attempt with no ``finished_at`` is one whose worker stopped mid-request.
    """

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, db_index=False, related_name="+"
    )  # denormalised for the per-endpoint rate limit
    number = models.PositiveIntegerField()
    url = models.CharField(max_length=WEBHOOK_URL_MAX_LENGTH)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    response_body = models.TextField(blank=True, default="", help_text="Truncated.")

    class Meta:
        verbose_name = "webhook delivery attempt"
        ordering = ["delivery", "number"]
        indexes = [models.Index(fields=["endpoint", "-started_at"], name="webhookattempt_endpoint")]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhookattempt_delivery_number_unique"
            )
        ]

    def __str__(self):
        return f"attempt {self.number} of delivery {self.delivery_id}"


class UserPreference(models.Model):
    """A dashboard user's remembered choices, as one JSON document keyed by dotted paths, e.g.
    ``{"tables": {"CustomerTable": {"columns": [...], "per_page": 50}}}``."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    data = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return f"Preferences of {self.user}"


class Heartbeat(models.Model):
    """The last time a periodic task ran, by name (``queue:<name>`` for each Celery queue).

    Celery beat enqueues a heartbeat task on every queue every ``HEARTBEAT_SECONDS``; the worker
    that runs it writes ``beat_at``. ``/health/ready`` fails when one is older than
    ``HEALTH_HEARTBEAT_MAX_AGE_SECONDS``: beat is down, or no worker consumes that queue.
    """

    name = models.CharField(primary_key=True, max_length=64)
    beat_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
