"""``table bridge v6fabric``: the stateless guards on frames from a guarded workload tap.

What a guarded port may send (its MACs, its addresses, ND about its own addresses) is in named
sets keyed by the tap, so a port coming or going is set elements only. A port's exact addresses
(fixed IPs, /128 and /32 address pairs, the EUI-64 link-locals) are in hash sets (``src6``,
``src4``, ``nd_targets``); only prefixes wider than one address (address pairs such as a /64)
go to interval sets beside them (``*_nets``). A frame passes a guard when its key is in either.
Why two: a concatenated interval set is a pipapo set in the kernel, which copies its whole
lookup table for every transaction that adds to it and walks it to remove one element (100 ms
per removed port at 500 ports, measured with bench/nft_load.py); a hash set costs the same
whatever its size.
"""

from __future__ import annotations

import functools
import ipaddress

from v6fabric.hoststate.firewall import FirewallPort
from v6fabric.render._common import (
    IpNetwork,
    check_mac,
    eui64_link_local,
    ip_prefix,
    prefix_text,
    without_nested,
)

# the ND target of an NA or NS (nft 1.0.6 has no ``icmpv6 taddr``) and its link-layer option
_TARGET = "iifname . @th,64,128"
_SRC6 = "iifname . ether saddr . ip6 saddr"
_SRC4 = "iifname . ether saddr . ip saddr"
_ARP4 = "iifname . arp saddr ether . arp saddr ip"

# The per-port guards, shared by all guarded ports: what differs per port is in the sets.
GUARDS = {
    "port_guard": (
        'iifname . ether saddr != @macs counter drop comment "MAC guard"',
        "ether type vmap { ip6 : goto ip6_guard, ip : goto ip4_guard, arp : goto arp_guard }",
        'counter drop comment "only IPv6, IPv4 and ARP"',
    ),
    "ip6_guard": (
        "ip6 saddr :: goto ip6_unspecified",
        f'{_SRC6} != @src6 {_SRC6} != @src6_nets counter drop comment "IPv6 source guard"',
        "icmpv6 type { nd-router-advert, nd-redirect, router-renumbering } counter drop"
        ' comment "RA guard"',
        f"icmpv6 type nd-neighbor-advert {_TARGET} != @nd_targets {_TARGET} != @nd_target_nets"
        ' counter drop comment "ND guard: target"',
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 length > 32 counter drop"
        ' comment "ND guard: one option at most"',
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 length 32"
        ' iifname . @th,208,48 != @nd_lla counter drop comment "ND guard: link-layer option"',
        'udp dport 546 counter drop comment "DHCPv6 guard"',  # a rogue server need not use 547
        'udp sport 547 counter drop comment "DHCPv6 guard: server port"',
    ),
    "ip6_unspecified": (
        *(
            f"icmpv6 type nd-neighbor-solicit ip6 daddr ff02::1:ff00:0/104 {_TARGET} @{s} return"
            for s in ("nd_targets", "nd_target_nets")
        ),
        "icmpv6 type { mld-listener-report, mld2-listener-report } return",
        'counter drop comment "from :: only DAD and MLD"',
    ),
    "ip4_guard": (
        "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return",
        f'{_SRC4} != @src4 {_SRC4} != @src4_nets counter drop comment "IPv4 source guard"',
        'udp dport 68 counter drop comment "DHCPv4 guard"',
        'udp sport 67 counter drop comment "DHCPv4 guard: server port"',
    ),
    "arp_guard": (
        'arp htype != 1 counter drop comment "ARP guard: Ethernet only"',
        'arp ptype != ip counter drop comment "ARP guard: IPv4 only"',
        "arp saddr ip 0.0.0.0 iifname . arp saddr ether @macs return",
        f'{_ARP4} != @src4 {_ARP4} != @src4_nets counter drop comment "ARP guard"',
    ),
}

_SRC6_TYPE = "type ifname . ether_addr . ipv6_addr"
_SRC4_TYPE = "type ifname . ether_addr . ipv4_addr"
_TARGET_TYPE = f"typeof {_TARGET}"

# The bridge table's sets: per-port data of the guards, keyed by the tap.
BRIDGE_SETS = {
    "macs": ("type ifname . ether_addr",),  # own MAC and allowed pairs' MACs
    "src6": (_SRC6_TYPE,),  # MAC . address the port may send from (exact)
    "src6_nets": (_SRC6_TYPE, "flags interval"),  # ... and its prefixes wider than /128
    "src4": (_SRC4_TYPE,),
    "src4_nets": (_SRC4_TYPE, "flags interval"),
    "nd_targets": (_TARGET_TYPE,),  # NA/DAD targets owned (exact)
    "nd_target_nets": (_TARGET_TYPE, "flags interval"),  # ... as ranges for wider prefixes
    "nd_lla": ("typeof iifname . @th,208,48",),  # the MACs again, as the ND option's bits
    "ra_upstream": ("type ifname . ipv6_addr",),  # guarded tap . upstream router link-local
    # Dispatch, so that a port coming or going is a few elements, never a rewrite of shared
    # rules: the guarded taps, their marks, the router/DHCP taps, every tap.
    "guarded_taps": ("type ifname",),
    "port_marks": ("type ifname : mark",),
    "ra_taps": ("type ifname",),
    "all_taps": ("type ifname",),
}


def bridge_chains() -> list[tuple[str, str | None, tuple[str, ...]]]:
    """The same for every host: what differs per port is in the sets and maps."""
    ra_guard = (
        "iifname @ra_taps return",
        # from outside the host (not one of our taps): the network's upstream routers
        "iifname != @all_taps oifname . ip6 saddr @ra_upstream return",
        'counter drop comment "RA guard: not from this network\'s router"',
    )
    return [
        (
            "prerouting",
            "prerouting priority -200",
            (
                "meta mark set 0x0",
                "iifname @guarded_taps jump port_guard",
                "meta mark set iifname map @port_marks",
            ),
        ),
        *((name, None, rules) for name, rules in GUARDS.items()),
        (
            "forward",
            "forward priority -200",
            (
                "meta mark set 0x0",
                "meta mark set oifname map @port_marks",
                "oifname @guarded_taps icmpv6 type nd-router-advert jump ra_guard",
            ),
        ),
        ("ra_guard", None, ra_guard),
    ]


@functools.lru_cache(maxsize=1 << 14)  # a port's elements, computed once while it is unchanged
def guard_elements(
    port: FirewallPort, upstream: tuple[str, ...]
) -> tuple[tuple[str, frozenset[str]], ...]:
    """The bridge sets' elements of one guarded port: what it may send from, and as."""
    tap = f'"{port.tap}"'
    found: dict[str, set[str]] = {name: set() for name in BRIDGE_SETS}
    by_mac: dict[str, list[IpNetwork]] = {check_mac(port.mac): []}
    for allowed in port.allowed:
        by_mac.setdefault(check_mac(allowed.mac), []).append(ip_prefix(allowed.cidr))
    owned6: list[IpNetwork] = []
    for mac, nets_of_mac in by_mac.items():
        found["macs"].add(f"{tap} . {mac}")
        found["nd_lla"].add(f"{tap} . 0x{mac.replace(':', '')}")
        v6 = [n for n in nets_of_mac if n.version == 6]
        v6.append(ipaddress.IPv6Network(eui64_link_local(mac)))
        owned6 += v6
        for name, nets in (("src6", v6), ("src4", [n for n in nets_of_mac if n.version == 4])):
            for net in without_nested(nets):
                found[_exact_or_nets(name, net)].add(f"{tap} . {mac} . {prefix_text(net)}")
    for net in without_nested(owned6):
        found[_exact_or_nets("nd_targets", net)].add(f"{tap} . {_hex_range(net)}")
    found["ra_upstream"] = {f"{tap} . {ipaddress.IPv6Address(s)}" for s in upstream}
    return tuple((name, frozenset(found[name])) for name in BRIDGE_SETS if found[name])


def _exact_or_nets(name: str, net: IpNetwork) -> str:
    """The hash set for one address, the interval set beside it for a wider prefix."""
    if net.prefixlen == net.max_prefixlen:
        return name
    return "nd_target_nets" if name == "nd_targets" else f"{name}_nets"


def _hex_range(net: IpNetwork) -> str:
    first, last = int(net.network_address), int(net.broadcast_address)
    return f"{first:#034x}" if first == last else f"{first:#034x}-{last:#034x}"
