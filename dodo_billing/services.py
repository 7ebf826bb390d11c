"""Writes for businesses, staff memberships and API keys."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from dodo_billing.errors import InvalidRequestParameters
from dodo_billing.ids import ALPHABET
from dodo_billing.models import ApiKey, Business, Membership, UserPreference

API_KEY_PREFIX = "dbk_"
_PREFIX_RANDOM = 12
_SECRET_LENGTH = 43  # 43 alphanumerics ≈ 256 bits
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_digest(raw_key: str) -> str:
    # Keys carry 256 random bits, so a fast digest is enough: there is nothing to brute-force.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def business_get_or_create(*, name: str) -> tuple[Business, bool]:
    name = (name or "").strip()
    if not name:
        raise InvalidRequestParameters("A business needs a name.")
    return Business.objects.get_or_create(name=name)


@transaction.atomic
def membership_set(*, user, business: Business) -> Membership:
    membership, _ = Membership.objects.update_or_create(user=user, defaults={"business": business})
    return membership


def api_key_create(*, business: Business, name: str, can_write: bool = True) -> tuple[ApiKey, str]:
    """Mint a key. Returns the model and the secret, which is never available again."""
    name = (name or "").strip()
    if not name:
        raise InvalidRequestParameters("An API key needs a name.")
    prefix = API_KEY_PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(_PREFIX_RANDOM))
    raw_key = f"{prefix}_" + "".join(secrets.choice(ALPHABET) for _ in range(_SECRET_LENGTH))
    api_key = ApiKey.objects.create(
        business=business,
        name=name,
        prefix=prefix,
        secret_hash=api_key_digest(raw_key),
        can_write=can_write,
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=api_key.revoked_at)
    return api_key


def api_key_mark_used(*, api_key: ApiKey) -> None:
    """Record use at most once a minute per key, so reads do not turn into a write each."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def user_preference_set(*, user, path: str, value) -> None:
    """Remember ``value`` at the dotted ``path`` of the user's preferences (``None`` forgets it).

    The row is locked while it changes, so two tabs saving different tables lose neither."""
    keys = path.split(".")
    with transaction.atomic():
        UserPreference.objects.get_or_create(user=user)
        preference = UserPreference.objects.select_for_update().get(user=user)
        node = preference.data
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
        preference.save(update_fields=["data"])
