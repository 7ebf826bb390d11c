"""Usage metering (events, meters) and usage-based billing (products, subscriptions, invoices,
payments, refunds)."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from customers.models import Customer
from dodo_billing.ids import MAX_LENGTH, PublicId
from dodo_billing.models import Business
from dodo_billing.money import CurrencyField

EVENT_ID_MAX_LENGTH = 255
EVENT_NAME_MAX_LENGTH = 255


class Aggregation(models.TextChoices):
    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    LAST = "last"


class Meter(models.Model):
    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("mtr"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="meters")
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    event_name = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    measurement_unit = models.CharField(max_length=100)
    aggregation_type = models.CharField(max_length=8, choices=Aggregation.choices)
    aggregation_key = models.CharField(max_length=100, null=True, blank=True)
    filter = models.JSONField(null=True, blank=True, help_text="The contract's MeterFilter, validated.")
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["business", "-created_at", "-id"], name="meter_business_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(aggregation_type="count") | Q(aggregation_key__isnull=False),
                name="meter_key_unless_count",
            ),
            models.CheckConstraint(
                condition=Q(aggregation_type__in=Aggregation.values), name="meter_aggregation_valid"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.id})"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Event(models.Model):
    """One usage event. ``event_id`` is the client's idempotency key, unique per business.

    The table is built for ingestion speed and range scans: a bigint key in ingestion order (it
    breaks ties between equal timestamps), no foreign-key constraints (the ingest service checks
    that every customer belongs to the business; customers are never deleted), and exactly the
    indexes the reads need:
    - UNIQUE (business, event_id): dedup at ingestion, GET /events/{event_id};
    - (customer, event_name, timestamp): one customer's usage of a meter over a period;
    - (business, event_name, timestamp): every customer's usage of a meter over a period;
    - (business, timestamp): the newest-first event list and explorer.
    """

    id = models.BigAutoField(primary_key=True)
    business = models.ForeignKey(
        Business, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="events"
    )
    event_id = models.CharField(max_length=EVENT_ID_MAX_LENGTH)
    event_name = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    timestamp = models.DateTimeField()
    metadata = models.JSONField(null=True, blank=True)
    ingested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["business", "event_id"], name="event_business_event_id_unique"),
        ]
        indexes = [
            models.Index(fields=["customer", "event_name", "timestamp"], name="event_customer_name_time"),
            models.Index(fields=["business", "event_name", "timestamp"], name="event_business_name_time"),
            models.Index(fields=["business", "-timestamp"], name="event_business_newest"),
        ]

    def __str__(self):
        return f"{self.event_id} {self.event_name} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


# --- billing: products, subscriptions, invoices, payments, refunds ----------------------------------


class TimeInterval(models.TextChoices):
    DAY = "Day"
    WEEK = "Week"
    MONTH = "Month"
    YEAR = "Year"


class PriceType(models.TextChoices):
    ONE_TIME = "one_time_price"
    RECURRING = "recurring_price"
    USAGE_BASED = "usage_based_price"


class TaxCategory(models.TextChoices):
    DIGITAL_PRODUCTS = "digital_products"
    SAAS = "saas"
    E_BOOK = "e_book"
    EDTECH = "edtech"
    LIVE_TUTORING = "live_tutoring"


class Product(models.Model):
    """What a customer buys: a one-time price, a recurring price, or a usage-based price with meters.

    Two extensions to the contract's price union: ``included_credits`` (usage-based: an allowance
    in minor units spent before the wallet each cycle; it renews and does not roll over) and
    ``wallet_top_up`` (one-time: a successful payment credits the customer's wallet — prepaid credits).
    """

    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("pdt"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    tax_category = models.CharField(max_length=32, choices=TaxCategory.choices, default=TaxCategory.SAAS)
    metadata = models.JSONField(default=dict, blank=True)
    price_type = models.CharField(max_length=20, choices=PriceType.choices)
    currency = CurrencyField()
    price = models.BigIntegerField(default=0, help_text="One-time or recurring price, minor units.")
    fixed_price = models.BigIntegerField(
        default=0, help_text="Usage-based: charged every cycle, minor units."
    )
    tax_inclusive = models.BooleanField(null=True, blank=True)
    payment_frequency_count = models.PositiveIntegerField(null=True, blank=True)
    payment_frequency_interval = models.CharField(
        max_length=5, choices=TimeInterval.choices, null=True, blank=True
    )
    subscription_period_count = models.PositiveIntegerField(null=True, blank=True)
    subscription_period_interval = models.CharField(
        max_length=5, choices=TimeInterval.choices, null=True, blank=True
    )
    trial_period_days = models.PositiveIntegerField(default=0)
    included_credits = models.BigIntegerField(
        default=0, help_text="Usage-based: allowance per cycle, minor units."
    )
    wallet_top_up = models.BooleanField(
        default=False, help_text="One-time: a paid purchase credits the wallet."
    )
    license_key_enabled = models.BooleanField(
        default=False, help_text="Each successful payment for it issues a license key."
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["business", "-created_at", "-id"], name="product_business_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_type__in=PriceType.values), name="product_price_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(price__gte=0, fixed_price__gte=0, included_credits__gte=0),
                name="product_amounts_positive",
            ),
            models.CheckConstraint(
                condition=Q(price_type="one_time_price")
                | Q(
                    payment_frequency_count__gte=1,
                    payment_frequency_interval__isnull=False,
                    subscription_period_count__gte=1,
                    subscription_period_interval__isnull=False,
                ),
                name="product_recurring_has_periods",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.id})"

    @property
    def is_recurring(self) -> bool:
        return self.price_type != PriceType.ONE_TIME


class ProductMeter(models.Model):
    """A meter on a usage-based price: ``price_per_unit`` (minor units, decimal) above ``free_threshold``."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="product_meters")
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="+")
    price_per_unit = models.DecimalField(max_digits=17, decimal_places=12)
    free_threshold = models.BigIntegerField(default=0)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["product", "position"]
        constraints = [
            models.UniqueConstraint(fields=["product", "meter"], name="productmeter_unique"),
            models.CheckConstraint(
                condition=Q(price_per_unit__gt=0, free_threshold__gte=0), name="productmeter_valid"
            ),
        ]

    def __str__(self):
        return f"{self.product_id}: {self.meter_id} @ {self.price_per_unit}"


class PaymentMethod(models.Model):
    """A customer's payment method. The sandbox gateway decides by the test card number."""

    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("pm"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payment_methods")
    card_number = models.CharField(
        max_length=19, help_text="Sandbox test card number (only the sandbox reads it)."
    )
    card_last_four = models.CharField(max_length=4)
    card_network = models.CharField(max_length=16, default="VISA")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.card_network} •••• {self.card_last_four}"


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FAILED = "failed"
    EXPIRED = "expired"
    PAST_DUE = "past_due"


BILLABLE_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.ON_HOLD, SubscriptionStatus.PAST_DUE)


class Subscription(models.Model):
    """A customer's subscription to a recurring or usage-based product.

    Periods are ``anchor + k·frequency`` (no drift: a subscription started on Jan 31 renews on
    Feb 28 and Mar 31). The current period is [previous_billing_date, next_billing_date); it is
    billed in arrears when it ends. With a trial, the anchor is the end of the trial and the trial
    [created, anchor) comes first, free. Prices are copied from the product at creation, so a later
    product change never reprices a running subscription.
    """

    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("sub"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="subscriptions")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(
        max_length=10, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    quantity = models.PositiveIntegerField(default=1)
    currency = CurrencyField()
    recurring_amount = models.BigIntegerField(
        help_text="Recurring price or usage-based fixed price per cycle."
    )
    included_credits = models.BigIntegerField(default=0)
    payment_frequency_count = models.PositiveIntegerField()
    payment_frequency_interval = models.CharField(max_length=5, choices=TimeInterval.choices)
    subscription_period_count = models.PositiveIntegerField()
    subscription_period_interval = models.CharField(max_length=5, choices=TimeInterval.choices)
    billing_anchor = models.DateTimeField()
    period_index = models.PositiveIntegerField(default=0, help_text="Number of the current period, from 0.")
    previous_billing_date = models.DateTimeField()
    next_billing_date = models.DateTimeField()
    expires_at = models.DateTimeField()
    trial_period_days = models.PositiveIntegerField(
        default=0, help_text="Free days before the first period; the anchor is the end of the trial."
    )
    cancel_at_next_billing_date = models.BooleanField(default=False)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    billing_attempts = models.PositiveIntegerField(
        default=0, help_text="Failed attempts to bill the period that is due (reset when it is billed)."
    )
    billing_error = models.TextField(blank=True, default="", help_text="Why the last attempt failed.")
    needs_attention_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when billing gave up on the period that is due: nothing is retried until an "
        "operator retries it.",
    )
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.SET_NULL, null=True, blank=True)
    billing = models.JSONField(default=dict, blank=True, help_text="Billing address as sent.")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["business", "-created_at", "-id"], name="subscription_business_newest"),
            models.Index(
                fields=["next_billing_date"],
                name="subscription_due",
                condition=Q(status__in=["active", "on_hold", "past_due"], needs_attention_at__isnull=True),
            ),
            models.Index(
                fields=["business", "needs_attention_at"],
                name="subscription_needs_attention",
                condition=Q(needs_attention_at__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SubscriptionStatus.values), name="subscription_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(previous_billing_date__lt=F("next_billing_date")),
                name="subscription_period_ordered",
            ),
        ]

    def __str__(self):
        return f"{self.id} ({self.status})"


class SubscriptionMeter(models.Model):
    """A meter's price on one subscription, copied from the product when the subscription started."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="subscription_meters"
    )
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="+")
    price_per_unit = models.DecimalField(max_digits=17, decimal_places=12)
    free_threshold = models.BigIntegerField(default=0)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["subscription", "position"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "meter"], name="subscriptionmeter_unique")
        ]

    def __str__(self):
        return f"{self.subscription_id}: {self.meter_id}"


class Invoice(models.Model):
    """What one period of a subscription (or one purchase) cost, and how it was paid.

    ``subtotal`` = fixed/recurring price + usage lines; then included credits, then the wallet,
    then ``amount_due`` through the gateway: subtotal = credits_applied + wallet_applied + amount_due.
    One invoice per subscription and period (UNIQUE), so billing a period twice is impossible.
    """

    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("inv"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    currency = CurrencyField()
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    subtotal = models.BigIntegerField()
    credits_applied = models.BigIntegerField(default=0)
    wallet_applied = models.BigIntegerField(default=0)
    amount_due = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="invoice_customer_newest")]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"],
                condition=Q(subscription__isnull=False),
                name="invoice_one_per_subscription_period",
            ),
            models.CheckConstraint(
                condition=Q(subtotal__gte=0, credits_applied__gte=0, wallet_applied__gte=0, amount_due__gte=0)
                & Q(subtotal=F("credits_applied") + F("wallet_applied") + F("amount_due")),
                name="invoice_amounts_add_up",
            ),
        ]

    def __str__(self):
        return f"{self.id} {self.subtotal} {self.currency}"


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        FIXED = "fixed"
        USAGE = "usage"
        ONE_TIME = "one_time"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    description = models.CharField(max_length=255)
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    consumed_units = models.DecimalField(max_digits=38, decimal_places=12, null=True, blank=True)
    free_threshold = models.BigIntegerField(null=True, blank=True)
    chargeable_units = models.DecimalField(max_digits=38, decimal_places=12, null=True, blank=True)
    price_per_unit = models.DecimalField(max_digits=17, decimal_places=12, null=True, blank=True)
    amount = models.BigIntegerField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="invoiceline_amount_positive")]

    def __str__(self):
        return f"{self.invoice_id}: {self.description} {self.amount}"


class PaymentStatus(models.TextChoices):
    PENDING = "pending"  # waiting for the gateway (manual: until marked paid)
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"  # succeeded, then refunded in full


class Payment(models.Model):
    """Money collected for an invoice: ``wallet_amount`` from the wallet, the rest through the gateway."""

    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("pay"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="payment")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    currency = CurrencyField()
    total_amount = models.BigIntegerField(help_text="Paid by the customer: wallet + gateway.")
    wallet_amount = models.BigIntegerField(default=0)
    gateway_amount = models.BigIntegerField(default=0)
    pricing_type = models.CharField(max_length=20, choices=PriceType.choices)
    status = models.CharField(max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    gateway = models.CharField(max_length=16)
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.SET_NULL, null=True, blank=True)
    retry_attempt = models.PositiveIntegerField(default=0, help_text="Gateway attempts made so far.")
    next_retry_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=64, null=True, blank=True)
    error_message = models.CharField(max_length=255, null=True, blank=True)
    billing = models.JSONField(default=dict, blank=True, help_text="Billing address of the purchase.")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["business", "-created_at", "-id"], name="payment_business_newest"),
            models.Index(fields=["customer", "-created_at"], name="payment_customer_newest"),
            models.Index(fields=["next_retry_at"], name="payment_retry_due", condition=Q(status="failed")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=PaymentStatus.values), name="payment_status_valid"),
            models.CheckConstraint(
                condition=Q(
                    wallet_amount__gte=0,
                    gateway_amount__gte=0,
                    total_amount=F("wallet_amount") + F("gateway_amount"),
                ),
                name="payment_amounts_add_up",
            ),
        ]

    def __str__(self):
        return f"{self.id} {self.total_amount} {self.currency} {self.status}"


class GatewayCharge(models.Model):
    """One request to the payment gateway for a payment attempt: at most one per (payment, attempt).

    This is the gateway's idempotency record: whatever crashes and retries, a payment attempt is
    charged once."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="charges")
    attempt = models.PositiveIntegerField()
    gateway = models.CharField(max_length=16)
    amount = models.BigIntegerField()
    outcome = models.CharField(
        max_length=10, choices=[("pending", "pending"), ("succeeded", "succeeded"), ("failed", "failed")]
    )
    error_code = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["payment", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "attempt"], name="gatewaycharge_once_per_attempt")
        ]

    def __str__(self):
        return f"{self.payment_id}#{self.attempt} {self.outcome}"


REFUND_REASON_MAX_LENGTH = 3000  # the contract's limit


class RefundStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(models.Model):
    class Destination(models.TextChoices):
        WALLET = "wallet"
        GATEWAY = "gateway"

    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("ref"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    currency = CurrencyField()
    destination = models.CharField(max_length=8, choices=Destination.choices)
    status = models.CharField(max_length=10, choices=RefundStatus.choices)
    reason = models.CharField(max_length=REFUND_REASON_MAX_LENGTH, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["business", "-created_at", "-id"], name="refund_business_newest")]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self):
        return f"{self.id} {self.amount} {self.currency} → {self.destination}"


class LicenseKeyStatus(models.TextChoices):
    ACTIVE = "active"
    DISABLED = "disabled"


class LicenseKey(models.Model):
    """A key issued to a customer for a successful payment of a ``license_key_enabled`` product:
    exactly one per payment (the unique payment makes issuing idempotent)."""

    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("lic"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="license_keys")
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="license_key")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="license_keys")
    key = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=8, choices=LicenseKeyStatus.choices, default=LicenseKeyStatus.ACTIVE)
    activations_limit = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="licensekey_customer_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=LicenseKeyStatus.values), name="licensekey_status_valid"
            )
        ]

    def __str__(self):
        return f"{self.id} ({self.product_id})"
