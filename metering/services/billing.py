"""Writes of usage-based billing: products, subscriptions, and billing one subscription period.

Billing a period is one transaction (``subscription_bill_period``): lock the subscription, create
its invoice for the period (UNIQUE per subscription and period), price each meter's usage, spend the
cycle's included credits, then the wallet, then charge the rest through the business's gateway,
and move the subscription to its next period. A crash anywhere rolls all of it back; a second
attempt for a billed period finds the subscription already moved on and does nothing. So each
subscription-period gets exactly one invoice, one wallet debit and one charge.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from dodo_billing.countries import check_billing_address
from dodo_billing.db.writes import update_fields
from dodo_billing.errors import (
    ApplicationError,
    InvalidRequestBody,
    InvalidRequestParameters,
    validate_fields,
)
from dodo_billing.money import CURRENCIES, MAX_AMOUNT, format_money, round_to_minor_units
from dodo_billing.validation import metadata_problem
from metering.gateways import SANDBOX_CARDS
from metering.models import (
    BILLABLE_STATUSES,
    Invoice,
    InvoiceLine,
    Meter,
    PaymentMethod,
    PriceType,
    Product,
    ProductMeter,
    Subscription,
    SubscriptionMeter,
    SubscriptionStatus,
    TimeInterval,
)
from metering.periods import period_bounds, shift
from metering.selectors.billing import (
    billing_meters_usage,
    subscription_lock_for_billing,
    subscription_priced_meters,
)
from metering.services.notify import emit
from metering.services.payments import invoice_settle

logger = logging.getLogger(__name__)

MAX_METERS_PER_PRODUCT = 10
PRICE_PER_UNIT_MAX_INTEGER_DIGITS = 5
PRICE_PER_UNIT_MAX_DECIMALS = 12
SQLITE_SIGNIFICANT_DIGITS = 15  # SQLite stores decimals as 64-bit floats


class MeterProblem(ApplicationError):
    status = 400


class InvoiceTooLarge(InvalidRequestParameters):
    code = "INVOICE_TOO_LARGE"


def _short_number(number: int) -> str:
    text = str(number)
    return text if len(text) <= 20 else f"{text[0]}.{text[1:4]}e+{len(text) - 1}"


# --- money ----------------------------------------------------------------------------------------


def usage_charge(*, consumed: Decimal, free_threshold: int, price_per_unit: Decimal) -> tuple[Decimal, int]:
    """``(chargeable units, amount in minor units)`` for one meter over one period:
    chargeable = max(consumed − free_threshold, 0); amount = chargeable × price_per_unit, rounded by
    the project's one rule (dodo_billing.money.round_to_minor_units, half to even).

    Computed exactly whatever the magnitudes (the arithmetic's precision is set from them), so
    any stored usage can be priced; an amount too large to charge is billing's to refuse."""
    with localcontext() as context:
        context.prec = max(context.prec, _fixed_digits(consumed) + _fixed_digits(price_per_unit) + 22)
        chargeable = max(consumed - free_threshold, Decimal(0))
        return chargeable, round_to_minor_units(chargeable * price_per_unit)


def _fixed_digits(number: Decimal) -> int:
    """Digits needed to write ``number`` without an exponent."""
    return max(number.adjusted(), 0) + 1 + max(-number.as_tuple().exponent, 0)


def prorate(amount: int, *, elapsed, length) -> int:
    """``amount`` × elapsed / length, rounded by the one rule (a fixed fee for part of a period)."""
    if elapsed >= length:
        return amount
    return round_to_minor_units(
        Decimal(amount) * Decimal(elapsed.total_seconds()) / Decimal(length.total_seconds())
    )


# --- products -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterPrice:
    meter: Meter
    price_per_unit: Decimal
    free_threshold: int


def _amount(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
        raise InvalidRequestBody(f"{field}: must be a whole number of minor units from 0 to {MAX_AMOUNT}.")
    return value


_DECIMAL_STRING = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_price_per_unit(value, field: str) -> Decimal:
    """A plain decimal string > 0 ("0.02", "1500"; no sign, exponent or spaces) with at most 5
    integer digits and 12 decimals (the contract's limits)."""
    number = Decimal(value) if isinstance(value, str) and _DECIMAL_STRING.fullmatch(value) else None
    if number is None or number <= 0:
        raise InvalidRequestBody(f'{field}: must be a positive decimal string, e.g. "0.02".')
    _, digits, exponent = number.normalize().as_tuple()  # trailing zeros do not count as precision
    decimals, integer_digits = max(-exponent, 0), len(digits) + exponent
    if decimals > PRICE_PER_UNIT_MAX_DECIMALS or integer_digits > PRICE_PER_UNIT_MAX_INTEGER_DIGITS:
        raise InvalidRequestBody(
            f"{field}: at most {PRICE_PER_UNIT_MAX_INTEGER_DIGITS} digits before the point and "
            f"{PRICE_PER_UNIT_MAX_DECIMALS} after it."
        )
    if connection.vendor == "sqlite" and len(digits) > SQLITE_SIGNIFICANT_DIGITS:
        raise InvalidRequestBody(
            f"{field}: the embedded SQLite database keeps {SQLITE_SIGNIFICANT_DIGITS} significant digits; "
            "use PostgreSQL for more."
        )
    return number


def _meter_prices(business, meters) -> list[MeterPrice]:
    if meters is None:
        return []
    if not isinstance(meters, list) or len(meters) > MAX_METERS_PER_PRODUCT:
        raise InvalidRequestBody(f"price.meters: a list of at most {MAX_METERS_PER_PRODUCT} meters.")
    ids = [item.get("meter_id") if isinstance(item, dict) else None for item in meters]
    if any(not isinstance(meter_id, str) for meter_id in ids):
        raise InvalidRequestBody("price.meters: every item needs a meter_id.")
    repeated = sorted({meter_id for meter_id in ids if ids.count(meter_id) > 1})
    if repeated:
        raise MeterProblem(
            f"Meter ids repeated in the request: {', '.join(repeated)}", code="DUPLICATE_METER_IDS_IN_REQUEST"
        )
    found = {meter.id: meter for meter in Meter.objects.filter(business=business, id__in=ids)}
    missing = [meter_id for meter_id in ids if meter_id not in found]
    if missing:
        raise MeterProblem(
            f"One or more meter IDs do not exist: {', '.join(missing)}", code="MISSING_METER_IDS"
        )
    archived = [meter_id for meter_id in ids if found[meter_id].is_archived]
    if archived:
        raise MeterProblem(
            f"Archived meters cannot be priced: {', '.join(archived)}", code="METER_IS_DELETED"
        )
    prices = []
    for index, item in enumerate(meters):
        threshold = item.get("free_threshold")
        threshold = 0 if threshold is None else _amount(threshold, f"price.meters[{index}].free_threshold")
        ppu = parse_price_per_unit(item.get("price_per_unit"), f"price.meters[{index}].price_per_unit")
        prices.append(MeterPrice(found[item["meter_id"]], ppu, threshold))
    return prices


def _price_fields(business, price) -> tuple[dict, list[MeterPrice]]:
    """The Product columns and meter prices of a contract ``price`` object (already type-checked)."""
    if not isinstance(price, dict) or price.get("type") not in PriceType.values:
        raise InvalidRequestBody(f"price.type: must be one of {', '.join(PriceType.values)}.")
    kind = price["type"]
    if price.get("currency") not in CURRENCIES:
        raise InvalidRequestBody("price.currency: must be an ISO-4217 code in upper case.")
    fields = {
        "price_type": kind,
        "currency": price["currency"],
        "tax_inclusive": price.get("tax_inclusive"),
        "price": 0,
        "fixed_price": 0,
        "included_credits": 0,
        "payment_frequency_count": None,
        "payment_frequency_interval": None,
        "subscription_period_count": None,
        "subscription_period_interval": None,
        "trial_period_days": 0,
    }
    if kind == PriceType.USAGE_BASED:
        fields["fixed_price"] = _amount(price.get("fixed_price"), "price.fixed_price")
        fields["included_credits"] = _amount(price.get("included_credits") or 0, "price.included_credits")
    else:
        fields["price"] = _amount(price.get("price"), "price.price")
    if kind != PriceType.ONE_TIME:
        for prefix in ("payment_frequency", "subscription_period"):
            count, interval = price.get(f"{prefix}_count"), price.get(f"{prefix}_interval")
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
                raise InvalidRequestBody(f"price.{prefix}_count: a whole number from 1 to 1000.")
            if interval not in TimeInterval.values:
                raise InvalidRequestBody(f"price.{prefix}_interval: one of {', '.join(TimeInterval.values)}.")
            fields[f"{prefix}_count"], fields[f"{prefix}_interval"] = count, interval
        trial = price.get("trial_period_days") or 0
        if isinstance(trial, bool) or not isinstance(trial, int) or not 0 <= trial <= 10000:
            raise InvalidRequestBody("price.trial_period_days: a whole number from 0 to 10000.")
        fields["trial_period_days"] = trial
    meters = _meter_prices(business, price.get("meters")) if kind == PriceType.USAGE_BASED else []
    return fields, meters


def _check_metadata(metadata) -> dict:
    metadata = metadata or {}
    problem = metadata_problem(metadata)
    if problem:
        raise InvalidRequestBody(f"metadata: {problem[1]}", code=problem[0])
    return metadata


def _set_meters(product: Product, meters: list[MeterPrice]) -> None:
    product.product_meters.all().delete()
    ProductMeter.objects.bulk_create(
        ProductMeter(
            product=product,
            meter=m.meter,
            price_per_unit=m.price_per_unit,
            free_threshold=m.free_threshold,
            position=i,
        )
        for i, m in enumerate(meters)
    )


@transaction.atomic
def product_create(
    *,
    business,
    name: str,
    price: dict,
    description: str | None = None,
    tax_category: str = "saas",
    metadata: dict | None = None,
    wallet_top_up: bool = False,
    license_key_enabled: bool = False,
) -> Product:
    fields, meters = _price_fields(business, price)
    if wallet_top_up and fields["price_type"] != PriceType.ONE_TIME:
        raise InvalidRequestParameters("wallet_top_up applies to one-time products only.")
    now = timezone.now()
    product = Product(
        business=business,
        name=name,
        description=description,
        tax_category=tax_category,
        metadata=_check_metadata(metadata),
        wallet_top_up=wallet_top_up,
        license_key_enabled=license_key_enabled,
        created_at=now,
        updated_at=now,
        **fields,
    )
    validate_fields(product)
    product.save(force_insert=True)
    _set_meters(product, meters)
    return product


PRODUCT_UPDATABLE = (
    "name",
    "description",
    "tax_category",
    "metadata",
    "price",
    "wallet_top_up",
    "license_key_enabled",
)


@transaction.atomic
def product_update(*, product: Product, **changes) -> Product:
    """Change a product. A new price applies to new subscriptions; running ones keep theirs."""
    unknown = set(changes) - set(PRODUCT_UPDATABLE)
    if unknown:
        raise TypeError(f"product_update() got unexpected fields {sorted(unknown)}")
    product = Product.objects.select_for_update().get(pk=product.pk)
    if "price" in changes:
        fields, meters = _price_fields(product.business, changes.pop("price"))
        for field, value in fields.items():
            setattr(product, field, value)
        _set_meters(product, meters)
    if "metadata" in changes:
        changes["metadata"] = _check_metadata(changes["metadata"])
    for field, value in changes.items():
        setattr(product, field, value)
    if product.wallet_top_up and product.price_type != PriceType.ONE_TIME:
        raise InvalidRequestParameters("wallet_top_up applies to one-time products only.")
    product.updated_at = timezone.now()
    validate_fields(product)
    product.save()
    return product


def product_archive(*, product: Product) -> Product:
    if product.archived_at is None:
        product.archived_at = product.updated_at = timezone.now()
        product.save(update_fields=["archived_at", "updated_at"])
    return product


def product_unarchive(*, product: Product) -> Product:
    if product.archived_at is not None:
        product.archived_at = None
        product.updated_at = timezone.now()
        product.save(update_fields=["archived_at", "updated_at"])
    return product


# --- payment methods ------------------------------------------------------------------------------


def payment_method_create(*, customer, card_number: str) -> PaymentMethod:
    """Store one of the sandbox's test cards for the customer. Real card numbers are never stored:
    a real gateway would keep them and hand back a token."""
    digits = "".join(ch for ch in str(card_number) if ch.isdigit())
    if digits not in SANDBOX_CARDS:
        raise InvalidRequestBody(
            "card_number: only the sandbox test card numbers are accepted (docs/billing.md).",
            extra={"errors": {"card_number": ["not a sandbox test card"]}},
        )
    network = {"4": "VISA", "5": "MASTERCARD", "3": "AMEX"}.get(digits[0], "CARD")
    return PaymentMethod.objects.create(
        business_id=customer.business_id,
        customer=customer,
        card_number=digits,
        card_last_four=digits[-4:],
        card_network=network,
    )


# --- subscriptions --------------------------------------------------------------------------------


@transaction.atomic
def subscription_create(
    *,
    business,
    customer,
    product: Product,
    quantity: int = 1,
    payment_method: PaymentMethod | None = None,
    billing: dict,
    metadata: dict | None = None,
    now: datetime | None = None,
) -> Subscription:
    """Start a subscription now; its first period is billed in arrears when it ends."""
    now = now or timezone.now()
    if product.business_id != business.id or customer.business_id != business.id:
        raise InvalidRequestParameters("The product and the customer must belong to this business.")
    if product.archived_at is not None:
        raise InvalidRequestParameters(f"Product {product.id} is archived.", code="PRODUCT_IS_ARCHIVED")
    if product.price_type == PriceType.ONE_TIME:
        raise InvalidRequestParameters(
            f"Product {product.id} has a one-time price; subscribe to a recurring or usage-based product.",
            code="PRODUCT_NOT_RECURRING",
        )
    if product.price_type == PriceType.USAGE_BASED and quantity != 1:
        raise InvalidRequestParameters(
            "Only 1 quantity allowed in usage based price products", code="INVALID_QUANTITY"
        )
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 10000:
        raise InvalidRequestBody("quantity: a whole number from 1 to 10000.")
    if payment_method is not None and payment_method.customer_id != customer.id:
        raise InvalidRequestParameters("The payment method belongs to another customer.")
    billing = check_billing_address(billing)
    trial_days = product.trial_period_days
    anchor = now + timedelta(days=trial_days)  # with a trial, the free trial [now, anchor) comes first
    start, end = (
        (now, anchor)
        if trial_days
        else period_bounds(anchor, product.payment_frequency_interval, product.payment_frequency_count, 0)
    )
    subscription = Subscription(
        business=business,
        customer=customer,
        product=product,
        status=SubscriptionStatus.ACTIVE,
        quantity=quantity,
        currency=product.currency,
        recurring_amount=(
            product.fixed_price if product.price_type == PriceType.USAGE_BASED else product.price
        )
        * quantity,
        included_credits=product.included_credits,
        payment_frequency_count=product.payment_frequency_count,
        payment_frequency_interval=product.payment_frequency_interval,
        subscription_period_count=product.subscription_period_count,
        subscription_period_interval=product.subscription_period_interval,
        billing_anchor=anchor,
        trial_period_days=trial_days,
        period_index=0,
        previous_billing_date=start,
        next_billing_date=end,
        expires_at=shift(anchor, product.subscription_period_interval, product.subscription_period_count),
        payment_method=payment_method,
        billing=billing,
        metadata=_check_metadata(metadata),
        created_at=now,
        updated_at=now,
    )
    subscription.save(force_insert=True)
    SubscriptionMeter.objects.bulk_create(
        SubscriptionMeter(
            subscription=subscription,
            meter_id=pm.meter_id,
            price_per_unit=pm.price_per_unit,
            free_threshold=pm.free_threshold,
            position=pm.position,
        )
        for pm in product.product_meters.all()
    )
    emit(business, "subscription.active", subscription=subscription)
    return subscription


SUBSCRIPTION_UPDATABLE = ("metadata", "billing", "payment_method", "cancel_at_next_billing_date")
ENDED = (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED)


@transaction.atomic
def subscription_update(*, subscription: Subscription, **changes) -> Subscription:
    unknown = set(changes) - set(SUBSCRIPTION_UPDATABLE)
    if unknown:
        raise TypeError(f"subscription_update() got unexpected fields {sorted(unknown)}")
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.status in ENDED and "cancel_at_next_billing_date" in changes:
        raise InvalidRequestParameters(f"Subscription {subscription.id} has ended ({subscription.status}).")
    if "metadata" in changes:
        changes["metadata"] = _check_metadata(changes["metadata"])
    if "billing" in changes:
        changes["billing"] = check_billing_address(changes["billing"])
    method = changes.get("payment_method")
    if method is not None and method.customer_id != subscription.customer_id:
        raise InvalidRequestParameters("The payment method belongs to another customer.")
    for field, value in changes.items():
        setattr(subscription, field, value)
    subscription.updated_at = timezone.now()
    subscription.save()
    emit(subscription.business, "subscription.updated", subscription=subscription)
    return subscription


@transaction.atomic
def subscription_cancel(
    *, subscription: Subscription, at_period_end: bool = False, now: datetime | None = None
):
    """Cancel now (the partial period is billed: its usage, and the fixed fee prorated by time) or at
    the next billing date (the period is billed as usual, then the subscription ends).

    Cancelling now always takes effect: if what is left to bill cannot be billed (any cause but an
    unreachable database), nothing of it is billed, the subscription is cancelled all the same and
    needs attention (``subscription_billing_retry`` bills it later)."""
    now = now or timezone.now()
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.status in ENDED:
        raise InvalidRequestParameters(f"Subscription {subscription.id} is already {subscription.status}.")
    if at_period_end:
        subscription.cancel_at_next_billing_date = True
        subscription.updated_at = now
        subscription.save(update_fields=["cancel_at_next_billing_date", "updated_at"])
        emit(subscription.business, "subscription.updated", subscription=subscription)
        return subscription
    problem = None
    try:
        with transaction.atomic():
            _bill_until_now(subscription, now)
    except TRANSIENT_FAILURES:
        raise
    except Exception as exc:
        logger.warning("Cancelling %s: what is left to bill failed: %s", subscription.id, exc, exc_info=True)
        subscription.refresh_from_db()  # undo the in-memory moves of the rolled-back billing
        problem = failure_reason(exc)
    if subscription.status not in BILLABLE_STATUSES:
        return subscription  # the catch-up ended it (expired, or a cancel already scheduled)
    subscription.status = SubscriptionStatus.CANCELLED
    subscription.cancelled_at = subscription.updated_at = now
    fields = ["status", "cancelled_at", "updated_at"]
    if problem is not None:
        fields += mark_needs_attention(subscription, reason=problem, now=now)
    subscription.save(update_fields=fields)
    emit(subscription.business, "subscription.cancelled", subscription=subscription)
    if problem is not None:
        emit_needs_attention(subscription)
    return subscription


def _bill_until_now(subscription: Subscription, now: datetime) -> None:
    """Bill the periods that ended but were not billed yet, then the part of the current one up to
    ``now`` (a cancellation). Caller holds the lock."""
    while subscription.status in BILLABLE_STATUSES and subscription.next_billing_date <= now:
        close_period(subscription, now)
    if subscription.status not in BILLABLE_STATUSES:
        return
    if now > subscription.previous_billing_date and not in_trial(subscription):
        bill_span(subscription, period_end=now, now=now, final=True)


# --- periods that cannot be billed --------------------------------------------------------------

# What makes billing a period fail for good enough to count an attempt: everything but a database
# that cannot be reached (that says nothing about the period; the sweep simply tries again).
TRANSIENT_FAILURES = (OperationalError, InterfaceError)


def failure_reason(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
    return message[:2000]


def mark_needs_attention(subscription: Subscription, *, reason: str, now: datetime) -> list[str]:
    """Stop billing the subscription's due period until an operator retries it (not saved); returns
    the fields to save."""
    subscription.billing_error = reason
    subscription.needs_attention_at = subscription.updated_at = now
    return ["billing_error", "needs_attention_at", "updated_at"]


def billing_problem(subscription: Subscription) -> dict:
    """What a ``subscription.failed`` webhook says of the period that needs attention."""
    end = subscription.next_billing_date
    if subscription.status == SubscriptionStatus.CANCELLED and subscription.cancelled_at:
        end = min(end, subscription.cancelled_at)
    return {
        "period_start": _iso(subscription.previous_billing_date),
        "period_end": _iso(end),
        "reason": subscription.billing_error,
        "attempts": subscription.billing_attempts,
        "needs_attention_at": _iso(subscription.needs_attention_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def emit_needs_attention(subscription: Subscription) -> None:
    emit(
        subscription.business,
        "subscription.failed",
        subscription=subscription,
        extra={"billing_problem": billing_problem(subscription)},
    )


# --- billing a period -----------------------------------------------------------------------------


def _invoice_lines(
    subscription: Subscription, start: datetime, end: datetime, fixed_amount: int
) -> list[InvoiceLine]:
    lines = []
    if fixed_amount:
        kind = "usage-based" if subscription.product.price_type == PriceType.USAGE_BASED else "recurring"
        lines.append(
            InvoiceLine(
                kind=InvoiceLine.Kind.FIXED,
                description=f"{subscription.product.name} ({kind} fee)",
                amount=fixed_amount,
            )
        )
    priced_meters = subscription_priced_meters(subscription_id=subscription.pk)
    usage = billing_meters_usage(
        meters=[priced.meter for priced in priced_meters],
        customer_id=subscription.customer_id,
        start=start,
        end=end,
    )
    for priced in priced_meters:
        consumed = usage[priced.meter_id]
        chargeable, amount = usage_charge(
            consumed=consumed, free_threshold=priced.free_threshold, price_per_unit=priced.price_per_unit
        )
        lines.append(
            InvoiceLine(
                kind=InvoiceLine.Kind.USAGE,
                description=f"{priced.meter.name} ({priced.meter.measurement_unit})",
                meter=priced.meter,
                consumed_units=consumed,
                free_threshold=priced.free_threshold,
                chargeable_units=chargeable,
                price_per_unit=priced.price_per_unit,
                amount=amount,
            )
        )
    for position, line in enumerate(lines):
        line.position = position
    return lines


def bill_span(
    subscription: Subscription, *, period_end: datetime, now: datetime, final: bool = False
) -> Invoice:
    """Invoice [previous_billing_date, period_end) and settle it. Caller holds the row lock."""
    start = subscription.previous_billing_date
    fixed = subscription.recurring_amount
    if final:
        fixed = prorate(fixed, elapsed=period_end - start, length=subscription.next_billing_date - start)
    lines = _invoice_lines(subscription, start, period_end, fixed)
    subtotal = sum(line.amount for line in lines)
    if subtotal > MAX_AMOUNT:
        largest = format_money(MAX_AMOUNT, subscription.currency)
        raise InvoiceTooLarge(
            f"The invoice total of the period from {start.isoformat()} ({_short_number(subtotal)} minor "
            f"units) exceeds the largest amount that can be charged, {largest}."
        )
    invoice = Invoice(
        business=subscription.business,
        customer=subscription.customer,
        subscription=subscription,
        currency=subscription.currency,
        period_start=start,
        period_end=period_end,
        subtotal=subtotal,
        amount_due=subtotal,
        created_at=now,
    )
    invoice_settle(
        invoice=invoice,
        lines=lines,
        included_credits=min(subscription.included_credits, subtotal),
        pricing_type=subscription.product.price_type,
        payment_method=subscription.payment_method,
        subscription=subscription,
        now=now,
    )
    return invoice


def subscription_bill_period(*, subscription_id: str, period_start: datetime, now: datetime | None = None):
    """Bill one ended period of one subscription, exactly once. Returns the invoice, or None when
    there is nothing to do (already billed, not due yet, or the subscription is not billable)."""
    now = now or timezone.now()
    with transaction.atomic():
        # The conditions are part of the locking query: a period billed meanwhile by another worker
        # finds no row, and a period that is not due locks nothing, so a duplicate delivery writes
        # nothing (no WAL, no commit to flush).
        subscription = subscription_lock_for_billing(
            subscription_id=subscription_id, period_start=period_start, now=now
        )
        if subscription is None:
            return None
        return close_period(subscription, now)


def in_trial(subscription: Subscription) -> bool:
    return subscription.previous_billing_date < subscription.billing_anchor


def close_period(subscription: Subscription, now: datetime) -> Invoice | None:
    """Bill the ended current period (nothing for a free trial) and move on. Caller holds the lock."""
    invoice = None
    if not in_trial(subscription):
        invoice = bill_span(subscription, period_end=subscription.next_billing_date, now=now)
    _advance(subscription, now, after_trial=invoice is None)
    return invoice


def next_period(subscription: Subscription, *, after_trial: bool) -> tuple[int, datetime, datetime]:
    """(index, start, end) of the period after the current one (the first, after a free trial)."""
    index = 0 if after_trial else subscription.period_index + 1
    start, end = period_bounds(
        subscription.billing_anchor,
        subscription.payment_frequency_interval,
        subscription.payment_frequency_count,
        index,
    )
    return index, start, end


def _advance(subscription: Subscription, now: datetime, after_trial: bool = False) -> None:
    """Move a billed subscription to its next period, or end it (an ended subscription keeps the
    dates of its last period)."""
    subscription.updated_at = now
    next_index, start, end = next_period(subscription, after_trial=after_trial)
    if subscription.cancel_at_next_billing_date:
        subscription.status, subscription.cancelled_at = SubscriptionStatus.CANCELLED, now
        event = "subscription.cancelled"
    elif start >= subscription.expires_at:
        subscription.status, event = SubscriptionStatus.EXPIRED, "subscription.expired"
    else:
        subscription.period_index = next_index
        subscription.previous_billing_date, subscription.next_billing_date = start, end
        event = "subscription.updated" if after_trial else "subscription.renewed"
    subscription.billing_attempts, subscription.billing_error = 0, ""
    subscription.needs_attention_at = None
    moved = [
        "period_index",
        "previous_billing_date",
        "next_billing_date",
        "status",
        "cancelled_at",
        "billing_attempts",
        "billing_error",
        "needs_attention_at",
        "updated_at",
    ]
    update_fields(subscription, moved)
    emit(subscription.business, event, subscription=subscription)


def subscriptions_due(*, now: datetime | None = None, limit: int = 10000):
    """(id, period start) of billable subscriptions whose current period has ended (not those
    waiting for an operator)."""
    now = now or timezone.now()
    return list(
        Subscription.objects.filter(
            status__in=BILLABLE_STATUSES, next_billing_date__lte=now, needs_attention_at__isnull=True
        )
        .order_by("next_billing_date")
        .values_list("id", "previous_billing_date")[:limit]
    )
