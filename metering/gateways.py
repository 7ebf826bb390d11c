"""Payment gateways behind one interface.

A gateway is asked to charge a payment attempt, or to send a refund back, and answers succeeded,
failed or pending. The two shipped gateways work inside the database transaction that records the
attempt (``GatewayCharge``, unique per payment and attempt), so an attempt is charged exactly once
whatever crashes and retries:

- ``manual``: nothing is charged automatically; the payment stays pending until someone marks it
  paid (dashboard or ``POST /api/payments/{id}/mark-paid``). Refunds through it stay pending too.
- ``sandbox``: test mode. The outcome depends on the payment method's test card number, like the
  test cards of card processors (see ``SANDBOX_CARDS``); refunds succeed.

A gateway that talks to an outside processor would send ``f"{payment.id}:{attempt}"`` as the
processor's idempotency key and record the answer the same way.
"""

from dataclasses import dataclass
from typing import Literal, Protocol

Outcome = Literal["succeeded", "failed", "pending"]

# Test card number → (outcome, error code). Any other number is declined as not a test card.
SANDBOX_CARDS: dict[str, tuple[Outcome, str | None]] = {
    "4242424242424242": ("succeeded", None),
    "5555555555554444": ("succeeded", None),
    "4000000000000002": ("failed", "card_declined"),
    "4000000000009995": ("failed", "insufficient_funds"),
    "4000000000000069": ("failed", "expired_card"),
}
ERROR_MESSAGES = {
    "card_declined": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "invalid_test_card": "Sandbox mode accepts only the documented test card numbers.",
    "payment_method_required": "The customer has no payment method for this charge.",
}


@dataclass(frozen=True)
class GatewayResult:
    outcome: Outcome
    error_code: str | None = None

    @property
    def error_message(self) -> str | None:
        return ERROR_MESSAGES.get(self.error_code) if self.error_code else None


class Gateway(Protocol):
    name: str

    def charge(self, *, payment, attempt: int) -> GatewayResult: ...

    def refund(self, *, refund) -> GatewayResult: ...


class ManualGateway:
    name = "manual"

    def charge(self, *, payment, attempt: int) -> GatewayResult:
        return GatewayResult("pending")

    def refund(self, *, refund) -> GatewayResult:
        return GatewayResult("pending")


class SandboxGateway:
    name = "sandbox"

    def charge(self, *, payment, attempt: int) -> GatewayResult:
        if payment.payment_method is None:
            return GatewayResult("failed", "payment_method_required")
        card = payment.payment_method.card_number
        outcome, error = SANDBOX_CARDS.get(card, ("failed", "invalid_test_card"))
        return GatewayResult(outcome, error)

    def refund(self, *, refund) -> GatewayResult:
        return GatewayResult("succeeded")


GATEWAYS: dict[str, Gateway] = {"manual": ManualGateway(), "sandbox": SandboxGateway()}


def gateway_for(business) -> Gateway:
    return GATEWAYS[business.payment_gateway]
