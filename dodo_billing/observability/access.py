"""Who may read the operator endpoints: a bearer token from the settings, or an internal address."""

import hmac
import ipaddress
from functools import cache

from django.conf import settings


@cache
def _networks(spec: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def from_internal_network(request) -> bool:
    """The client's address (REMOTE_ADDR, as the WSGI server saw it) is in OPS_INTERNAL_NETWORKS."""
    networks = _networks(tuple(settings.OPS_INTERNAL_NETWORKS))
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in networks)


def bearer_matches(request, token: str) -> bool:
    """``Authorization: Bearer <token>`` with ``token`` set and equal (compared in constant time)."""
    if not token:
        return False
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def allowed(request, token: str) -> bool:
    return bearer_matches(request, token) or from_internal_network(request)
