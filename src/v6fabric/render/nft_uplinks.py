"""``table bridge v6fabric``: the uplink guard, which keeps neighbour discovery of the
``local_only`` addresses on the host (``hoststate.dvr``).

A distributed router answers for its gateway addresses on every host at once, each host with
its own leg MAC: an NS for the gateway that crossed the overlay would be answered by every
host, and the workloads' entry for the gateway would flap between them. So on every frame a
bridge forwards to or from one of its uplinks (``FirewallNetwork.uplinks``: ``vx-``, ``gt-``,
a provider interface) this drops ICMPv6 NS and NA whose target is a local-only address (the
raw ``@th,64,128``: nft 1.0.6 has no ``icmpv6 taddr``), NS, NA, RA and redirects sent from
one, and ARP whose sender or target IP is one. Everything else passes untouched.

Its own base chain (bridge forward, -190, after the per-port marks and RA guard at -200), so
the existing guards' chains are left as they are. What it matches is in sets keyed by the
uplink's name, so that an address local to one network is not taken from another that
reuses it (tenants' prefixes overlap), and an address or uplink change is set elements only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from v6fabric.hoststate.firewall import FirewallNetwork
from v6fabric.render._common import check_ifname

_TARGET = "@th,64,128"  # an NS or NA's target address
_ND = "nd-neighbor-solicit, nd-neighbor-advert"
_ND_SENT = f"{_ND}, nd-router-advert, nd-redirect"

UPLINK_SETS = {
    "uplinks": ("type ifname",),  # every uplink of every network
    "local_targets": (f"typeof iifname . {_TARGET}",),  # uplink . local-only IPv6 (raw)
    "local_src6": ("type ifname . ipv6_addr",),  # uplink . local-only IPv6
    "local4": ("type ifname . ipv4_addr",),  # uplink . local-only IPv4
}


def _rules(way: str) -> tuple[str, ...]:
    """The guard for frames entering from (``iifname``) or leaving by (``oifname``) an uplink."""
    return (
        f"icmpv6 type {{ {_ND} }} {way} . {_TARGET} @local_targets"
        ' counter drop comment "uplink guard: ND for a local-only address"',
        f"icmpv6 type {{ {_ND_SENT} }} {way} . ip6 saddr @local_src6"
        ' counter drop comment "uplink guard: ND from a local-only address"',
        f"{way} . arp saddr ip @local4 counter drop"
        ' comment "uplink guard: ARP from a local-only address"',
        f"{way} . arp daddr ip @local4 counter drop"
        ' comment "uplink guard: ARP for a local-only address"',
    )


def uplink_chains() -> list[tuple[str, str | None, tuple[str, ...]]]:
    """The same for every host: what differs is in the sets."""
    return [
        (
            "uplinks",
            "forward priority -190",
            ("iifname @uplinks jump uplink_in", "oifname @uplinks jump uplink_out"),
        ),
        ("uplink_in", None, _rules("iifname")),
        ("uplink_out", None, _rules("oifname")),
    ]


def uplink_elements(networks: Iterable[FirewallNetwork]) -> dict[str, frozenset[str]]:
    """Each set of ``UPLINK_SETS`` and its elements. Raises ``ValueError`` for a bad name or
    address."""
    found: dict[str, set[str]] = {name: set() for name in UPLINK_SETS}
    for net in networks:
        addresses = [ipaddress.ip_address(a) for a in net.local_only]
        for uplink in net.uplinks:
            name = f'"{check_ifname(uplink)}"'
            found["uplinks"].add(name)
            for address in addresses:
                if address.version == 6:
                    found["local_targets"].add(f"{name} . {int(address):#034x}")
                    found["local_src6"].add(f"{name} . {address}")
                else:
                    found["local4"].add(f"{name} . {address}")
    return {name: frozenset(elements) for name, elements in found.items()}
