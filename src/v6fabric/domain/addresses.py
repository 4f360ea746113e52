"""IP and MAC value helpers: parsing once, EUI-64, generated MACs."""

from __future__ import annotations

import ipaddress
import re
import secrets
from typing import TypeGuard

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Used with fullmatch: '$' would also match before a trailing newline, which Neutron refuses.
_MAC_RE = re.compile(r"([0-9a-fA-F]{2})([:-]?)([0-9a-fA-F]{2})(\2[0-9a-fA-F]{2}){4}")
MAC_PREFIX = "fa:16:3e"  # OpenStack's base MAC prefix, so that guests and tools recognise ours


def parse_mac(text: str) -> str | None:
    """Normalised lower-case colon form, or None if ``text`` is not a unicast-capable MAC."""
    if not isinstance(text, str) or not _MAC_RE.fullmatch(text):
        return None
    digits = re.sub(r"[:-]", "", text).lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def is_valid_port_mac(mac: str) -> bool:
    """A port MAC must be unicast and not all-zero."""
    first = int(mac[:2], 16)
    return not (first & 1) and mac != "00:00:00:00:00:00"


def generate_mac(prefix: str = MAC_PREFIX) -> str:
    tail = secrets.token_bytes(3)
    return prefix + "".join(f":{b:02x}" for b in tail)


def eui64_address(prefix: ipaddress.IPv6Network, mac: str) -> ipaddress.IPv6Address:
    """Modified EUI-64 (RFC 4291 appendix A): insert ff:fe, flip the universal/local bit."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    iid = [*octets[:3], 255, 254, *octets[3:]]
    return ipaddress.IPv6Address(int(prefix.network_address) | int.from_bytes(bytes(iid), "big"))


def eui64_link_local(mac: str) -> ipaddress.IPv6Address:
    return eui64_address(ipaddress.IPv6Network("fe80::/64"), mac)


def _is_address_text(text: object) -> TypeGuard[str]:
    """A string without an IPv6 zone id: Python accepts '%eth0', netaddr (so Neutron) does not."""
    return isinstance(text, str) and "%" not in text


def parse_ip(text: object) -> IPAddress | None:
    """An address, or None; a scoped address is never a fixed IP, nameserver or nexthop."""
    if not _is_address_text(text):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_cidr(text: object, strict: bool = False) -> IPNetwork | None:
    """A network; host bits are cleared unless ``strict`` (Neutron normalises subnet CIDRs)."""
    if not _is_address_text(text) or "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=strict)
    except ValueError:
        return None


def parse_ip_or_cidr(text: object) -> IPNetwork | None:
    """An address as a host network, or a CIDR (strict): allowed address pairs take either."""
    if not _is_address_text(text):
        return None
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        return None


def parse_ip_prefix(text: object) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    """An address with an optional prefix length, host bits kept (a security group rule's
    remote_ip_prefix, which Neutron stores as given with the mask added)."""
    if not _is_address_text(text):
        return None
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None
