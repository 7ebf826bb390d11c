"""Public object ids: a type prefix and 21 random alphanumerics, e.g. ``cus_8VbC6JDZzPEqfBPUdpj0K``.

62**21 ≈ 2**125 possible ids per prefix, drawn from the OS's CSPRNG, so ids are unguessable and
collisions are not a practical concern (the primary key would reject one anyway).
"""

import secrets
import string

from django.utils.deconstruct import deconstructible

ALPHABET = string.ascii_letters + string.digits
RANDOM_LENGTH = 21
MAX_LENGTH = 32


def new_public_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))


@deconstructible
class PublicId:
    """A model field default that mints a new id with a fixed prefix (serialisable in migrations)."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self) -> str:
        return new_public_id(self.prefix)

    def __eq__(self, other):
        return isinstance(other, PublicId) and other.prefix == self.prefix

    def __hash__(self):
        return hash(self.prefix)
