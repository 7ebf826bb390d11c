"""Where webhook deliveries may connect: public internet addresses only, unless the operator allows
private targets (``WEBHOOK_ALLOW_PRIVATE_TARGETS``, off by default).

A merchant (or anyone holding a write API key) chooses a webhook URL, and the worker POSTs to it
with the merchant's own headers. Without this check that is a server-side request forgery: the
worker would reach the cloud's metadata service (``169.254.169.254``), PostgreSQL on
``[::1]:5432`` or any service on the private network. So:

* At registration (API, admin), :func:`url_refusal` refuses a URL whose host is an IP address
  that is not public, in any notation (``0x7f000001``, ``2130706433``, ``0177.0.0.1``, ``127.1``,
  ``[::ffff:127.0.0.1]``…), and host names that only resolve inside a network (``localhost``,
  ``*.internal`` such as ``metadata.google.internal``, ``*.local``, a name without a dot).
* At delivery, :func:`pinned_target` resolves the host, refuses if *any* of its addresses is not
  public, and hands back the URL with the host replaced by the checked address, so the
  connection goes to exactly that address (a DNS answer that changes between the check and the
  connection, "DNS rebinding", cannot redirect it). TLS still verifies the certificate for the
  original host name (sent as SNI), and the ``Host`` header keeps the name.

Python's ``ipaddress`` decides what is public; on top of it, addresses that carry an IPv4
address inside an IPv6 one (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, 6to4
``2002::/16``, NAT64 ``64:ff9b::/96``) are judged by the IPv4 address they carry, and the shared
address space of carrier-grade NAT (``100.64.0.0/10``) and ``192.0.0.0/24`` are refused.
"""

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SPECIAL_NETWORKS = [
    (ipaddress.ip_network("100.64.0.0/10"), "a carrier-grade NAT (shared) address"),
    (ipaddress.ip_network("192.0.0.0/24"), "an IETF special-purpose address"),
    (ipaddress.ip_network("64:ff9b:1::/48"), "a local-use NAT64 address"),
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_KINDS = [
    ("is_unspecified", "an unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_private", "a private address"),
    ("is_reserved", "a reserved address"),
]
# The legacy IPv4 notations that inet_aton (and so the resolver) accepts: 1 to 4 parts, each
# decimal, octal (leading 0) or hexadecimal (0x).
_LEGACY_IPV4 = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)
# Names that resolve only inside a network: RFC 6761 localhost, ICANN's private-use .internal
# (metadata.google.internal), mDNS .local, home networks' .home.arpa.
_INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".home.arpa", ".localdomain")


class TargetRefused(Exception):
    """The URL's host is, or resolves to, an address deliveries may not connect to."""


class HostNotResolved(Exception):
    """The URL's host name could not be resolved (retried like a connection error)."""


def private_targets_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_TARGETS", False))


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why deliveries may not connect to ``address`` ("a loopback address"…), or None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = address_refusal(embedded)
        if reason is not None:
            return f"{reason} ({embedded}, inside {address})"
    for attribute, reason in _KINDS:
        if getattr(address, attribute):
            return reason
    for network, reason in _SPECIAL_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    if not address.is_global:
        return "not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The IP address that ``host`` (as in a URL) spells, in any notation the resolver accepts,
    or None for a host name."""
    host = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            return None
    return None


def name_refusal(host: str) -> str | None:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(_INTERNAL_SUFFIXES):
        return f"{host} is a name of the local or internal network"
    if "." not in name:
        return f"{host} has no domain, so it resolves only on the local network"
    return None


def url_refusal(url: str) -> str | None:
    """Why a webhook may not be registered at ``url`` (a well-formed http(s) URL), or None.

    Host names are resolved at delivery, not here: :func:`pinned_target` checks their addresses."""
    if private_targets_allowed():
        return None
    host = urlsplit(url).hostname or ""
    address = literal_address(host)
    if address is not None:
        reason = address_refusal(address)
        return None if reason is None else f"{host} is {reason}"
    return name_refusal(host)


@dataclass(frozen=True)
class PinnedTarget:
    url: str  # the URL with its host replaced by the checked address
    host_header: str  # the original host[:port], for the Host header
    sni_hostname: str | None  # the original host name, for TLS (None when it was an address)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:  # a lookup failure: retried like a connection error
        raise HostNotResolved(f"The host {host} could not be resolved: {exc}.") from exc
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))


def pinned_target(url: str) -> PinnedTarget:
    """Resolve ``url``'s host, check every address, and return the URL pinned to the first one.

    Raises TargetRefused (for good: the delivery fails) or HostNotResolved (a lookup failure)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    literal = literal_address(host)
    if literal is None:
        reason = name_refusal(host)
        if reason is not None:
            raise TargetRefused(f"Refused to connect: {reason}.")
        addresses = _resolve(host, port)
    else:
        addresses = [literal]
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            shown = host if literal is not None else f"{host} resolves to {address}, which"
            raise TargetRefused(
                f"Refused to connect: {shown} is {reason}. Webhooks go to public addresses only "
                "(WEBHOOK_ALLOW_PRIVATE_TARGETS allows private ones)."
            )
    chosen = addresses[0]
    netloc_host = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = netloc_host if parts.port is None else f"{netloc_host}:{parts.port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return PinnedTarget(
        url=parts._replace(netloc=netloc).geturl(),
        host_header=host_header,
        sni_hostname=host if literal is None else None,
    )
