"""Reads of payments, refunds and invoices, always scoped to one business.

Besides the lookups, three read-only computations the API needs and must not do itself:
``payment_line_items`` (an invoice's lines with what is left to refund of each),
``refund_amount_for_items`` (the amount of a refund given by line items) and
``payment_retry_state`` (whether a failed payment can be charged again now).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch

from dodo_billing.errors import InvalidRequestBody, InvalidRequestParameters, NotFound
from dodo_billing.filtersets import apply_filters
from metering.filtersets import PaymentFilterSet, RefundFilterSet
from metering.models import Invoice, InvoiceLine, Payment, PaymentStatus, Refund
from metering.services.payments import (
    RETRY_DELAYS,
    RefundExceedsPayment,
    payment_refunded_amounts,
)

REFUNDABLE_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)


def _payments():
    """Payments with everything their representation reads, in a fixed number of queries."""
    return Payment.objects.select_related(
        "customer", "payment_method", "invoice", "subscription", "product"
    ).prefetch_related(Prefetch("refunds", queryset=Refund.objects.order_by("created_at", "id")))


def payment_get(*, business, payment_id: str) -> Payment:
    """The business's payment, or NOT_FOUND (also for another business's payment)."""
    payment = _payments().filter(business=business, id=payment_id).first()
    if payment is None:
        raise NotFound("Payment not found", extra={"payment_id": payment_id})
    return payment


def payment_list(*, business, filters=None):
    """The business's payments, newest first, narrowed by PaymentFilterSet parameters."""
    queryset = _payments().filter(business=business).order_by("-created_at", "-id")
    return apply_filters(PaymentFilterSet, filters or {}, queryset)


def _refunds():
    return Refund.objects.select_related("customer", "payment")


def refund_get(*, business, refund_id: str) -> Refund:
    refund = _refunds().filter(business=business, id=refund_id).first()
    if refund is None:
        raise NotFound("Refund not found", extra={"refund_id": refund_id})
    return refund


def refund_list(*, business, filters=None):
    """The business's refunds, newest first, narrowed by RefundFilterSet parameters."""
    queryset = _refunds().filter(business=business).order_by("-created_at", "-id")
    return apply_filters(RefundFilterSet, filters or {}, queryset)


def invoice_for_payment(*, business, payment_id: str) -> Invoice:
    """The invoice a payment pays, with its lines, customer, subscription and payment."""
    invoice = (
        Invoice.objects.select_related("business", "customer", "subscription", "payment__payment_method")
        .prefetch_related(
            Prefetch("lines", queryset=InvoiceLine.objects.select_related("meter").order_by("position")),
            Prefetch("payment__refunds"),
        )
        .filter(business=business, payment__id=payment_id)
        .first()
    )
    if invoice is None:
        raise NotFound("Payment not found", extra={"payment_id": payment_id})
    return invoice


# --- line items and refunds by item ---------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    line: InvoiceLine
    items_id: str
    refundable_amount: int


def line_item_id(line: InvoiceLine, payment: Payment) -> str:
    """The id a line item goes by: the meter for a usage line, else the product bought or subscribed."""
    if line.meter_id:
        return line.meter_id
    if payment.product_id:
        return payment.product_id
    if payment.subscription_id:
        return payment.subscription.product_id
    return f"line_{line.pk}"


def payment_refundable_amount(payment: Payment) -> int:
    """What is left to refund of a payment (0 unless it succeeded)."""
    if payment.status not in REFUNDABLE_STATUSES:
        return 0
    refunded, _ = payment_refunded_amounts(payment)
    return max(payment.total_amount - refunded, 0)


def payment_line_items(*, payment: Payment) -> list[LineItem]:
    """The invoice's lines in order, with what is left to refund of each.

    Line amounts add up to the invoice subtotal, which included credits may have reduced before
    the payment; what is left to refund of the payment is assigned to the lines in order, each
    up to its own amount, so the refundable amounts add up to what is left of the payment."""
    left = payment_refundable_amount(payment)
    items = []
    for line in payment.invoice.lines.select_related("meter").order_by("position"):
        refundable = min(line.amount, left)
        left -= refundable
        items.append(LineItem(line, line_item_id(line, payment), refundable))
    return items


def refund_amount_for_items(*, payment: Payment, items: list[dict]) -> int:
    """The amount of a refund given as ``[{"item_id", "amount"?}]``: each item's amount, or all
    that is left to refund of it when ``amount`` is absent or null."""
    by_id = {item.items_id: item for item in payment_line_items(payment=payment)}
    seen = set()
    total = 0
    for index, item in enumerate(items):
        item_id = item["item_id"]
        if item_id in seen:
            raise InvalidRequestBody(f"items[{index}].item_id: {item_id} is listed twice.")
        seen.add(item_id)
        line = by_id.get(item_id)
        if line is None:
            raise InvalidRequestParameters(
                f"items[{index}].item_id: payment {payment.id} has no item {item_id}; "
                f"its items are {', '.join(by_id) or 'none'}.",
                extra={"index": index, "field": "item_id"},
            )
        amount = item.get("amount")
        if amount is None:
            amount = line.refundable_amount
        elif amount > line.refundable_amount:
            raise RefundExceedsPayment(
                f"items[{index}].amount: {amount} exceeds what is left to refund of item {item_id}: "
                f"{line.refundable_amount}.",
                extra={"index": index, "field": "amount", "refundable": line.refundable_amount},
            )
        total += amount
    return total


# --- retries --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryState:
    """The contract's ManualRetryState. Retries are not capped: a failed payment can be sent again
    whenever it is failed, so ``sends_allowed`` is ``sends_used + 1`` then, else ``sends_used``.
    ``sends_used`` counts the gateway attempts after the first, automatic or manual alike."""

    can_retry: bool
    sends_allowed: int
    sends_used: int
    reason: str | None
    automatic_retry_number: int | None
    automatic_retry_total: int
    next_automatic_retry_at: datetime | None
    retry_available_at: datetime | None = None


PAYMENT_NOT_RETRYABLE = "PAYMENT_NOT_RETRYABLE"


def payment_retry_state(*, payment: Payment) -> RetryState:
    failed = payment.status == PaymentStatus.FAILED
    used = max(payment.retry_attempt - 1, 0)
    queued = failed and payment.next_retry_at is not None
    return RetryState(
        can_retry=failed,
        sends_allowed=used + 1 if failed else used,
        sends_used=used,
        reason=None if failed else PAYMENT_NOT_RETRYABLE,
        # Attempt n failed → automatic retry n is queued (attempt n + 1).
        automatic_retry_number=payment.retry_attempt if queued else None,
        automatic_retry_total=len(RETRY_DELAYS),
        next_automatic_retry_at=payment.next_retry_at if failed else None,
    )
