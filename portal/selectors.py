"""Reads of the customer portal: the live session behind a cookie, and every page's data, always
for the session's one customer (through the other apps' selectors)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from dodo_billing.errors import NotFound
from metering.models import BILLABLE_STATUSES, LicenseKey, Subscription, SubscriptionStatus
from metering.selectors.billing import subscription_list
from metering.selectors.payments import invoice_for_payment, payment_list, refund_list
from metering.selectors.usage import meters_usage
from portal.models import PortalLink, PortalSession
from wallets.selectors import ledger_entry_list, wallet_list

ENDED = (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED)


def portal_link_peek(*, token_digest: str, now: datetime | None = None) -> PortalLink | None:
    """The link if it could be opened now (unknown, used or expired: None). Reads only."""
    now = now or timezone.now()
    return (
        PortalLink.objects.select_related("customer__business")
        .filter(token_digest=token_digest, used_at__isnull=True, expires_at__gt=now)
        .first()
    )


def portal_session_get(*, session_id: str, now: datetime | None = None) -> PortalSession | None:
    """The session if it is live: not signed out, before its absolute end, not idle too long."""
    now = now or timezone.now()
    idle_since = now - timedelta(seconds=settings.PORTAL_SESSION_IDLE_AGE)
    return (
        PortalSession.objects.select_related("customer__business", "link")
        .filter(id=session_id, ended_at__isnull=True, expires_at__gt=now, last_seen_at__gt=idle_since)
        .first()
    )


# --- pages ----------------------------------------------------------------------------------------


def portal_wallets(*, customer):
    return wallet_list(customer=customer)


def portal_low_balance_wallets(*, wallets) -> list:
    """Wallets below their low-balance threshold (wallets without one are never low)."""
    return [
        wallet
        for wallet in wallets
        if wallet.low_balance_threshold is not None and wallet.balance < wallet.low_balance_threshold
    ]


def portal_subscription_list(*, customer, include_ended: bool = True):
    queryset = subscription_list(business=customer.business, filters={"customer_id": customer.id})
    if not include_ended:
        queryset = queryset.exclude(status__in=ENDED)
    return queryset


def portal_subscription_get(*, customer, subscription_id: str) -> Subscription:
    subscription = portal_subscription_list(customer=customer).filter(id=subscription_id).first()
    if subscription is None:
        raise NotFound("Subscription not found", extra={"subscription_id": subscription_id})
    return subscription


@dataclass(frozen=True)
class MeterUsage:
    name: str
    unit: str
    consumed: object  # Decimal
    free_threshold: int


def portal_subscription_usage(*, subscription: Subscription) -> list[MeterUsage]:
    """Usage of each priced meter in the subscription's current period (what billing will read)."""
    if subscription.status not in BILLABLE_STATUSES:
        return []
    priced = list(subscription.subscription_meters.all())
    if not priced:
        return []
    usage = meters_usage(
        meters=[p.meter for p in priced],
        customer=subscription.customer,
        start=subscription.previous_billing_date,
        end=subscription.next_billing_date,
    )
    return [
        MeterUsage(
            name=p.meter.name,
            unit=p.meter.measurement_unit,
            consumed=usage.get(p.meter_id, 0),
            free_threshold=p.free_threshold,
        )
        for p in priced
    ]


def portal_payment_list(*, customer):
    return payment_list(business=customer.business, filters={"customer_id": customer.id})


def portal_refund_list(*, customer):
    return refund_list(business=customer.business, filters={"customer_id": customer.id})


def portal_invoice_get(*, customer, payment_id: str):
    """The invoice of one of the customer's payments; another customer's is NOT_FOUND."""
    invoice = invoice_for_payment(business=customer.business, payment_id=payment_id)
    if invoice.customer_id != customer.id:
        raise NotFound("Payment not found", extra={"payment_id": payment_id})
    return invoice


def portal_license_key_list(*, customer):
    return (
        LicenseKey.objects.filter(customer=customer)
        .select_related("product", "payment")
        .order_by("-created_at", "-id")
    )


def portal_license_key_get(*, customer, license_key_id: str) -> LicenseKey:
    key = portal_license_key_list(customer=customer).filter(id=license_key_id).first()
    if key is None:
        raise NotFound("License key not found", extra={"license_key_id": license_key_id})
    return key


def portal_ledger_entries(*, customer, currency: str | None = None):
    return ledger_entry_list(customer=customer, filters={"currency": currency} if currency else None)
