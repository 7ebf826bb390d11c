"""License keys: one per successful payment of a product with ``license_key_enabled``.

Keys are random (``secrets``), grouped for reading (``XXXXX-XXXXX-XXXXX-XXXXX-XXXXX``, 25
characters of a 32-letter alphabet without look-alikes: 125 bits). Issuing is idempotent: a
payment holds at most one key (unique constraint), and a second call returns the first key.
"""

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from metering.models import LicenseKey, Payment, PaymentStatus

KEY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
KEY_GROUPS, KEY_GROUP_LENGTH = 5, 5


def license_key_generate() -> str:
    groups = (
        "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_GROUP_LENGTH)) for _ in range(KEY_GROUPS)
    )
    return "-".join(groups)


def _licensed_product(payment: Payment):
    if payment.product_id and payment.product.license_key_enabled:
        return payment.product
    subscription = payment.subscription
    if subscription is not None and subscription.product.license_key_enabled:
        return subscription.product
    return None


def license_key_issue_for_payment(*, payment: Payment, now=None) -> LicenseKey | None:
    """The payment's license key, issued now if its product has license keys and it has none
    yet; None when the product has none or the payment has not succeeded."""
    if payment.status != PaymentStatus.SUCCEEDED:
        return None
    product = _licensed_product(payment)
    if product is None:
        return None
    existing = LicenseKey.objects.filter(payment=payment).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return LicenseKey.objects.create(
                business_id=payment.business_id,
                customer_id=payment.customer_id,
                payment=payment,
                product=product,
                key=license_key_generate(),
                created_at=now or timezone.now(),
            )
    except IntegrityError:
        # A concurrent call for the same payment won (its key was committed first).
        return LicenseKey.objects.get(payment=payment)
