"""Writes of payments: settling an invoice, charging and retrying, one-time purchases, refunds.

Money moves in a fixed order and inside the caller's transaction: included credits, then the
wallet (a ledger debit with ``event_type=payment`` that names the payment), then the gateway for
what is left. Rows are locked subscription → payment → wallet, the same order everywhere.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from dodo_billing.countries import check_billing_address
from dodo_billing.db.writes import insert
from dodo_billing.errors import InvalidRequestBody, InvalidRequestParameters
from dodo_billing.validation import metadata_problem
from metering.gateways import GatewayResult, gateway_for
from metering.models import (
    GatewayCharge,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentStatus,
    PriceType,
    Product,
    Refund,
    RefundStatus,
    Subscription,
    SubscriptionStatus,
)
from metering.services.license_keys import license_key_issue_for_payment
from metering.services.notify import emit
from wallets.models import REASON_MAX_LENGTH, EventType
from wallets.services import supported_currencies, wallet_credit, wallet_debit, wallet_debit_up_to

# A failed charge is retried after these delays (then the payment stays failed for good).
RETRY_DELAYS = (timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=3))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


class PaymentNotRefundable(InvalidRequestParameters):
    code = "PAYMENT_NOT_REFUNDABLE"


class RefundExceedsPayment(InvalidRequestParameters):
    code = "REFUND_EXCEEDS_PAYMENT"


def _wallet_debit_up_to(*, payment: Payment, amount: int, reason: str) -> int:
    """Debit min(balance, amount) from the customer's wallet in the payment's currency (the wallet
    row is locked once, by the ledger write)."""
    if payment.currency not in supported_currencies():
        return 0
    write = wallet_debit_up_to(
        customer=payment.customer,
        currency=payment.currency,
        amount=amount,
        event_type=EventType.PAYMENT,
        reference_object_id=payment.id,
        reason=reason,
        system_key=f"payment:{payment.id}",
    )
    return 0 if write is None else write.entry.amount


def invoice_settle(
    *,
    invoice: Invoice,
    lines: list[InvoiceLine],
    included_credits: int,
    pricing_type: str,
    payment_method=None,
    subscription: Subscription | None = None,
    product: Product | None = None,
    billing: dict | None = None,
    metadata: dict | None = None,
    use_wallet: bool = True,
    now: datetime,
) -> Payment | None:
    """Store a new invoice and pay it: included credits, then the wallet, then the gateway.

    ``invoice`` and ``lines`` are not saved yet: every row is written once, with its final amounts.
    Returns the payment (None when included credits cover everything). Runs inside the caller's
    transaction."""
    credits = min(included_credits, invoice.subtotal)
    due = invoice.subtotal - credits
    payment, result, wallet_amount = None, None, 0
    if due > 0:
        payment = Payment(
            business=invoice.business,
            customer=invoice.customer,
            subscription=subscription,
            invoice=invoice,
            product=product,
            currency=invoice.currency,
            total_amount=due,
            pricing_type=pricing_type,
            gateway=invoice.business.payment_gateway,
            payment_method=payment_method,
            billing=subscription.billing if subscription is not None else (billing or {}),
            metadata=metadata or {},
            created_at=now,
            updated_at=now,
        )
        if use_wallet:
            wallet_amount = _wallet_debit_up_to(payment=payment, amount=due, reason=f"Invoice {invoice.id}")
        payment.wallet_amount, payment.gateway_amount = wallet_amount, due - wallet_amount
        if payment.gateway_amount == 0:
            payment.status, payment.succeeded_at = PaymentStatus.SUCCEEDED, now
        else:
            result = gateway_for(invoice.business).charge(payment=payment, attempt=1)
            _apply(payment, result, attempt=1, now=now)
    invoice.credits_applied, invoice.wallet_applied, invoice.amount_due = (
        credits,
        wallet_amount,
        due - wallet_amount,
    )
    insert([invoice])
    for line in lines:
        line.invoice = invoice
    insert(lines)
    if payment is not None:
        insert([payment])
        if result is None:
            _on_succeeded(payment, now)
        else:
            _record(payment, result, attempt=1, now=now)
    return payment


def _apply(payment: Payment, result: GatewayResult, *, attempt: int, now: datetime) -> None:
    """Set a payment's fields from the gateway's answer to an attempt (not saved)."""
    payment.retry_attempt = attempt
    payment.updated_at = now
    if result.outcome == "succeeded":
        payment.status, payment.succeeded_at = PaymentStatus.SUCCEEDED, now
        payment.error_code = payment.error_message = payment.next_retry_at = None
    elif result.outcome == "failed":
        payment.status = PaymentStatus.FAILED
        payment.error_code, payment.error_message = result.error_code, result.error_message
        payment.next_retry_at = now + RETRY_DELAYS[attempt - 1] if attempt < MAX_ATTEMPTS else None
    else:
        payment.status = PaymentStatus.PENDING


def _record(payment: Payment, result: GatewayResult, *, attempt: int, now: datetime) -> None:
    """Record the attempt (once per payment and attempt) and what follows from its outcome."""
    insert(
        [
            GatewayCharge(
                payment=payment,
                attempt=attempt,
                gateway=payment.gateway,
                amount=payment.gateway_amount,
                outcome=result.outcome,
                error_code=result.error_code,
                created_at=now,
                updated_at=now,
            )
        ]
    )
    if result.outcome == "succeeded":
        _on_succeeded(payment, now)
    elif result.outcome == "failed":
        emit(payment.business, "payment.failed", payment=payment)
        _hold_subscription(payment.subscription, now)
    else:
        emit(payment.business, "payment.processing", payment=payment)


def _charge(payment: Payment, *, attempt: int, now: datetime) -> GatewayResult:
    """Charge a stored payment again (a retry): ask the gateway once for this attempt."""
    result = gateway_for(payment.business).charge(payment=payment, attempt=attempt)
    _apply(payment, result, attempt=attempt, now=now)
    payment.save()
    _record(payment, result, attempt=attempt, now=now)
    return result


def _on_succeeded(payment: Payment, now: datetime) -> None:
    emit(payment.business, "payment.succeeded", payment=payment)
    license_key_issue_for_payment(payment=payment, now=now)
    if payment.product_id and payment.product.wallet_top_up:
        wallet_credit(
            customer=payment.customer,
            currency=payment.currency,
            amount=payment.total_amount,
            event_type=EventType.PAYMENT,
            reference_object_id=payment.id,
            reason=f"Prepaid credits ({payment.product.name})",
            system_key=f"top-up:{payment.id}",
        )
    subscription = payment.subscription
    if subscription is not None and subscription.status == SubscriptionStatus.ON_HOLD:
        unpaid = subscription.payments.filter(status=PaymentStatus.FAILED).exclude(pk=payment.pk).exists()
        if not unpaid:
            subscription.status, subscription.updated_at = SubscriptionStatus.ACTIVE, now
            subscription.save(update_fields=["status", "updated_at"])
            emit(subscription.business, "subscription.active", subscription=subscription)


def _hold_subscription(subscription: Subscription | None, now: datetime) -> None:
    if subscription is not None and subscription.status == SubscriptionStatus.ACTIVE:
        subscription.status, subscription.updated_at = SubscriptionStatus.ON_HOLD, now
        subscription.save(update_fields=["status", "updated_at"])
        emit(subscription.business, "subscription.on_hold", subscription=subscription)


def _lock_payment(payment_id: str) -> Payment:
    return (
        Payment.objects.select_for_update(of=("self",))
        .select_related("business", "customer", "subscription", "product", "payment_method")
        .get(pk=payment_id)
    )


@transaction.atomic
def payment_retry(*, payment: Payment, now: datetime | None = None) -> Payment:
    """Charge a failed payment again (scheduled retries and ``POST /payments/{id}/retry``)."""
    now = now or timezone.now()
    payment = _lock_payment(payment.pk)
    if payment.status != PaymentStatus.FAILED:
        raise InvalidRequestParameters(
            f"Payment {payment.id} is {payment.status}; only failed payments are retried."
        )
    if payment.subscription_id:  # the subscription's current payment method, if it was changed
        payment.payment_method = payment.subscription.payment_method or payment.payment_method
    _charge(payment, attempt=payment.retry_attempt + 1, now=now)
    return payment


@transaction.atomic
def payment_mark_paid(*, payment: Payment, now: datetime | None = None) -> Payment:
    """Record that a payment was received outside the gateway: a pending (manual gateway) payment,
    or a failed one the customer settled another way. The gateway's record of a declined attempt is
    kept as it was; a pending manual attempt is completed."""
    now = now or timezone.now()
    payment = _lock_payment(payment.pk)
    if payment.status not in (PaymentStatus.PENDING, PaymentStatus.FAILED):
        raise InvalidRequestParameters(f"Payment {payment.id} is {payment.status}; it cannot be marked paid.")
    GatewayCharge.objects.filter(payment=payment, attempt=payment.retry_attempt, outcome="pending").update(
        outcome="succeeded", updated_at=now
    )
    payment.status, payment.succeeded_at, payment.updated_at = PaymentStatus.SUCCEEDED, now, now
    payment.error_code = payment.error_message = payment.next_retry_at = None
    payment.save()
    _on_succeeded(payment, now)
    return payment


def payments_due_for_retry(*, now: datetime | None = None, limit: int = 1000) -> list[str]:
    now = now or timezone.now()
    return list(
        Payment.objects.filter(status=PaymentStatus.FAILED, next_retry_at__lte=now)
        .order_by("next_retry_at")
        .values_list("id", flat=True)[:limit]
    )


@transaction.atomic
def payment_create_one_time(
    *, business, customer, product: Product, billing: dict, payment_method=None, metadata=None, now=None
):
    """Buy a one-time product: an invoice with one line, charged through the gateway. A
    ``wallet_top_up`` product credits the wallet with what was paid once the payment succeeds."""
    now = now or timezone.now()
    if product.business_id != business.id or customer.business_id != business.id:
        raise InvalidRequestParameters("The product and the customer must belong to this business.")
    if product.archived_at is not None:
        raise InvalidRequestParameters(f"Product {product.id} is archived.", code="PRODUCT_IS_ARCHIVED")
    if product.price_type != PriceType.ONE_TIME:
        raise InvalidRequestParameters(
            f"Product {product.id} is a subscription product; subscribe to it instead."
        )
    if product.price <= 0:
        raise InvalidRequestParameters(f"Product {product.id} has no price to pay.")
    if product.wallet_top_up and product.currency not in supported_currencies():
        raise InvalidRequestParameters(
            f"Wallets do not hold {product.currency}.", code="UNSUPPORTED_CURRENCY"
        )
    if payment_method is not None and payment_method.customer_id != customer.id:
        raise InvalidRequestParameters("The payment method belongs to another customer.")
    billing = check_billing_address(billing)
    problem = metadata_problem(metadata or {})
    if problem:
        raise InvalidRequestBody(f"metadata: {problem[1]}", code=problem[0])
    invoice = Invoice(
        business=business,
        customer=customer,
        currency=product.currency,
        subtotal=product.price,
        amount_due=product.price,
        created_at=now,
    )
    line = InvoiceLine(kind=InvoiceLine.Kind.ONE_TIME, description=product.name, amount=product.price)
    payment = invoice_settle(
        invoice=invoice,
        lines=[line],
        included_credits=0,
        pricing_type=PriceType.ONE_TIME,
        payment_method=payment_method,
        product=product,
        billing=billing,
        metadata=metadata,
        use_wallet=False,
        now=now,
    )
    return payment


# --- refunds --------------------------------------------------------------------------------------


def payment_refunded_amounts(payment: Payment) -> tuple[int, int]:
    """(refunded in total, refunded through the gateway), counting pending and succeeded refunds."""
    live = payment.refunds.filter(status__in=[RefundStatus.PENDING, RefundStatus.SUCCEEDED])
    total = live.aggregate(total=Sum("amount"))["total"] or 0
    gateway = live.filter(destination=Refund.Destination.GATEWAY).aggregate(total=Sum("amount"))["total"] or 0
    return total, gateway


@transaction.atomic
def refund_create(
    *,
    payment: Payment,
    amount: int | None = None,
    destination: str = Refund.Destination.GATEWAY,
    reason: str | None = None,
    metadata: dict | None = None,
    now: datetime | None = None,
) -> Refund:
    """Refund all of a payment (``amount`` None) or part of it, to the wallet or through the
    gateway. Never more than was paid; never more to the card than was charged to it."""
    now = now or timezone.now()
    payment = _lock_payment(payment.pk)
    if payment.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        raise PaymentNotRefundable(
            f"Payment {payment.id} is {payment.status}; only succeeded payments are refunded."
        )
    if destination not in Refund.Destination.values:
        raise InvalidRequestBody(f"destination: one of {', '.join(Refund.Destination.values)}.")
    refunded, refunded_to_gateway = payment_refunded_amounts(payment)
    remaining = payment.total_amount - refunded
    if amount is None:
        amount = (
            remaining
            if destination == Refund.Destination.WALLET
            else min(remaining, payment.gateway_amount - refunded_to_gateway)
        )
        if amount == 0 and remaining > 0:
            raise RefundExceedsPayment(
                f"Nothing of payment {payment.id} that is left to refund was charged to the payment "
                f"method ({remaining} came from the wallet or included credits); refund it to the wallet.",
                extra={"refundable": remaining, "refundable_to_gateway": 0},
            )
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise RefundExceedsPayment(
            f"Nothing left to refund on payment {payment.id}." if amount == 0 else "amount must be positive."
        )
    if amount > remaining:
        raise RefundExceedsPayment(
            f"Refund of {amount} exceeds what is left of payment {payment.id}: "
            f"{remaining} of {payment.total_amount}.",
            extra={"refundable": remaining},
        )
    top_up = payment.product_id is not None and payment.product.wallet_top_up
    card_left = payment.gateway_amount - refunded_to_gateway
    if destination == Refund.Destination.GATEWAY and amount > card_left:
        raise RefundExceedsPayment(
            f"Only {card_left} of payment {payment.id} was charged to the payment method and is not "
            "refunded yet; refund the rest to the wallet.",
            extra={"refundable_to_gateway": card_left},
        )
    if destination == Refund.Destination.WALLET and top_up:
        raise PaymentNotRefundable("A wallet top-up cannot be refunded to the wallet it credited.")
    refund = Refund(
        business_id=payment.business_id,
        payment=payment,
        customer_id=payment.customer_id,
        amount=amount,
        currency=payment.currency,
        destination=destination,
        status=RefundStatus.PENDING,
        reason=reason,
        metadata=metadata or {},
        created_at=now,
        updated_at=now,
    )
    if destination == Refund.Destination.WALLET:
        wallet_credit(
            customer=payment.customer,
            currency=payment.currency,
            amount=amount,
            event_type=EventType.REFUND,
            reference_object_id=refund.id,
            reason=(reason or f"Refund of payment {payment.id}")[:REASON_MAX_LENGTH],
            system_key=f"refund:{refund.id}",
        )
        refund.status = RefundStatus.SUCCEEDED
    else:
        if top_up:  # take back the credits the top-up gave; refused if they were spent
            wallet_debit(
                customer=payment.customer,
                currency=payment.currency,
                amount=amount,
                event_type=EventType.REFUND,
                reference_object_id=refund.id,
                reason=f"Refund of prepaid credits ({payment.id})",
                system_key=f"refund:{refund.id}",
            )
        outcome = gateway_for(payment.business).refund(refund=refund).outcome
        refund.status = {"succeeded": RefundStatus.SUCCEEDED, "failed": RefundStatus.FAILED}.get(
            outcome, RefundStatus.PENDING
        )
    refund.save(force_insert=True)
    if refund.status == RefundStatus.SUCCEEDED and refunded + amount == payment.total_amount:
        payment.status, payment.updated_at = PaymentStatus.REFUNDED, now
        payment.save(update_fields=["status", "updated_at"])
    if refund.status != RefundStatus.PENDING:
        emit(payment.business, f"refund.{refund.status}", refund=refund)
    return refund


def _settle_refund(refund_id: str, status: str, now: datetime | None) -> Refund:
    now = now or timezone.now()
    refund = Refund.objects.select_for_update().select_related("payment", "business").get(pk=refund_id)
    payment = _lock_payment(refund.payment_id)
    if refund.status != RefundStatus.PENDING:
        raise InvalidRequestParameters(
            f"Refund {refund.id} is {refund.status}; only pending refunds are settled."
        )
    refund.status, refund.updated_at = status, now
    refund.save(update_fields=["status", "updated_at"])
    if status == RefundStatus.FAILED and payment.product_id and payment.product.wallet_top_up:
        wallet_credit(  # the credits taken back for this refund are given back
            customer=payment.customer,
            currency=payment.currency,
            amount=refund.amount,
            event_type=EventType.REFUND_REVERSAL,
            reference_object_id=refund.id,
            reason=f"Refund {refund.id} failed",
            system_key=f"refund-failed:{refund.id}",
        )
    if status == RefundStatus.SUCCEEDED:
        refunded, _ = payment_refunded_amounts(payment)
        if refunded >= payment.total_amount and payment.status == PaymentStatus.SUCCEEDED:
            payment.status, payment.updated_at = PaymentStatus.REFUNDED, now
            payment.save(update_fields=["status", "updated_at"])
    emit(payment.business, f"refund.{status}", refund=refund)
    return refund


@transaction.atomic
def refund_mark_succeeded(*, refund: Refund, now: datetime | None = None) -> Refund:
    """A refund the manual gateway left pending was paid back."""
    return _settle_refund(refund.pk, RefundStatus.SUCCEEDED, now)


@transaction.atomic
def refund_mark_failed(*, refund: Refund, now: datetime | None = None) -> Refund:
    """A pending refund could not be paid back; a top-up's credits taken back are restored."""
    return _settle_refund(refund.pk, RefundStatus.FAILED, now)
