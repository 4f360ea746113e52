"""nftables for a host's ports from a ``FirewallSpec``: one ``nft -f`` script, one transaction.

Why this shape (measured on this kernel, notes/dataplane.md §5 and §11):

* The bridge family has no conntrack here (no NF_CONNTRACK_BRIDGE) and no ``meta ibrname``, so
  ``table bridge v6fabric`` holds only the stateless guards, on frames entering from a guarded
  workload tap (bridge prerouting, -200): source MAC; IPv6/IPv4 source (fixed IPs, allowed
  address pairs, the EUI-64 link-local of each allowed MAC, ``::`` only for DAD and MLD); no
  RA or redirect; ND (an NA only for a target the port owns, NS/NA with at most one option,
  whose link-layer address is one of the port's MACs; nft 1.0.6 has no ``icmpv6 taddr``, so
  the target is the raw ``@th,64,128``); no DHCPv6/DHCPv4 server (udp sport 547 / 67); ARP;
  nothing but IPv6, IPv4 and ARP. An RA reaches a guarded workload (bridge forward) only from
  a router/DHCP tap or, from outside the host, from the network's ``ra_sources`` (R16): a port
  with port security off cannot play router for the guarded ones either.
* Security groups are stateful, so they run in ``table inet v6fabric``: br_netfilter is built
  in and on, bridged IPv4/IPv6 traverse the inet hooks and conntrack works there. There
  ``iifname`` is the bridge, hence marks: bridge prerouting sets ``meta mark`` to the sending
  port's id (inet prerouting runs that port's egress rules), bridge forward at -200 to the
  receiving port's id (inet forward at 0 runs its ingress rules). Two hooks, so each stage can
  ``accept`` on its own. Ids are 1.. over the guarded ports sorted by tap; 0 is "not ours".
* Each bridge sets its network's conntrack zone (inet prerouting -300, before conntrack), so
  overlapping tenant prefixes never share state.
* Port chains: established/related (stateful ports only), Neutron's provider rules (ND, RA,
  MLD, DHCP client traffic and server replies), invalid dropped, a jump per group, drop.
  Stateless groups get no ``ct``: replies need rules (as Neutron). Ports with port security
  off get no guard, no mark and no chain.
* What changes with addresses or membership is in named sets: ``render_set_updates`` (element
  lines only) applies it; ``render_ruleset`` (our two tables deleted and defined again in one
  transaction) is for rule changes. Established flows survive both: conntrack outlives tables.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from v6fabric.hoststate.firewall import (
    DIRECTIONS,
    ETHERTYPES,
    ROLES,
    FirewallPort,
    FirewallSpec,
    SecurityGroup,
    SecurityGroupRule,
)
from v6fabric.render._common import (
    IpNetwork,
    check_ifname,
    check_mac,
    eui64_link_local,
    header,
    ip_prefix,
    prefix_text,
    without_nested,
)

TABLE = "v6fabric"
MAX_ZONE = 65535
PORT_PROTOCOLS = {6: "tcp", 17: "udp", 33: "dccp", 132: "sctp", 136: "udplite"}
ICMP = {"IPv4": (1, "icmp"), "IPv6": (58, "icmpv6")}
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

# Neutron's provider rules (notes/neutron-api.md): what a port always sends and receives.
_ND_IN = "nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert"
_ND_OUT = "nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert"
_MLD = "mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report"
_PROVIDER = {
    "ingress": (
        f"icmpv6 type {{ {_ND_IN}, {_MLD} }} accept",
        "meta nfproto ipv6 udp sport 547 udp dport 546 accept",
        "meta nfproto ipv4 udp sport 67 udp dport 68 accept",
    ),
    "egress": (
        f"icmpv6 type {{ {_ND_OUT}, {_MLD} }} accept",
        "meta nfproto ipv6 udp sport 546 udp dport 547 accept",
        "meta nfproto ipv4 udp sport 68 udp dport 67 accept",
    ),
}

# The per-port guards, shared by all guarded ports: what differs per port is in the sets.
_GUARDS = {
    "port_guard": (
        'iifname . ether saddr != @macs counter drop comment "MAC guard"',
        "ether type vmap { ip6 : goto ip6_guard, ip : goto ip4_guard, arp : goto arp_guard }",
        'counter drop comment "only IPv6, IPv4 and ARP"',
    ),
    "ip6_guard": (
        "ip6 saddr :: goto ip6_unspecified",
        'iifname . ether saddr . ip6 saddr != @src6 counter drop comment "IPv6 source guard"',
        'icmpv6 type { nd-router-advert, nd-redirect } counter drop comment "RA guard"',
        "icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @nd_targets counter drop"
        ' comment "ND guard: target"',
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 length > 32 counter drop"
        ' comment "ND guard: one option at most"',
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 length 32"
        ' iifname . @th,208,48 != @nd_lla counter drop comment "ND guard: link-layer option"',
        'udp sport 547 counter drop comment "DHCPv6 guard"',
    ),
    "ip6_unspecified": (
        "icmpv6 type nd-neighbor-solicit ip6 daddr ff02::1:ff00:0/104"
        " iifname . @th,64,128 @nd_targets return",
        "icmpv6 type { mld-listener-report, mld2-listener-report } return",
        'counter drop comment "from :: only DAD and MLD"',
    ),
    "ip4_guard": (
        "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return",
        'iifname . ether saddr . ip saddr != @src4 counter drop comment "IPv4 source guard"',
        'udp sport 67 counter drop comment "DHCPv4 guard"',
    ),
    "arp_guard": (
        'arp htype != 1 counter drop comment "ARP guard: Ethernet only"',
        'arp ptype != ip counter drop comment "ARP guard: IPv4 only"',
        "arp saddr ip 0.0.0.0 iifname . arp saddr ether @macs return",
        'iifname . arp saddr ether . arp saddr ip != @src4 counter drop comment "ARP guard"',
    ),
}


# The bridge table's sets: per-port data of the guards, keyed by the tap.
_BRIDGE_SETS = {
    "macs": ("type ifname . ether_addr",),  # own MAC and allowed pairs' MACs
    "src6": ("type ifname . ether_addr . ipv6_addr", "flags interval"),
    "src4": ("type ifname . ether_addr . ipv4_addr", "flags interval"),
    "nd_targets": ("typeof iifname . @th,64,128", "flags interval"),  # NA/DAD targets owned
    "nd_lla": ("typeof iifname . @th,208,48",),  # the MACs again, as the ND option's bits
    "ra_upstream": ("type ifname . ipv6_addr",),  # guarded tap . upstream router link-local
}


@dataclass(frozen=True)
class _NftSet:
    family: str  # "bridge" | "inet"
    name: str
    declaration: tuple[str, ...]
    elements: frozenset[str]


def render_ruleset(spec: FirewallSpec) -> str:
    """The ``nft -f`` script that atomically replaces our two tables and touches nothing else.

    Raises ``ValueError`` for anything nft would refuse or read otherwise than meant.
    """
    return header("nftables: port security and security groups") + _script(spec, elements=True)


def render_removal() -> str:
    """Our two tables gone (declared first, so it works whether or not they exist)."""
    lines = [f"add table {f} {TABLE}\ndelete table {f} {TABLE}\n" for f in ("bridge", "inet")]
    return "".join(lines)


def sets_only_changed(old: FirewallSpec, new: FirewallSpec) -> bool:
    """True when ``new`` differs from ``old`` in set elements only (or not at all)."""
    return _script(old, elements=False) == _script(new, elements=False)


def render_set_updates(old: FirewallSpec, new: FirewallSpec) -> str:
    """``delete element`` then ``add element`` lines taking the sets of ``old`` to ``new``.

    Empty when nothing changed. Raises ``ValueError`` when rules or chains changed too: then
    the agent loads ``render_ruleset(new)`` instead.
    """
    if not sets_only_changed(old, new):
        raise ValueError("more than set elements changed: load render_ruleset instead")
    before = {(s.family, s.name): s.elements for s in _sets(old)}
    deletes, adds = [], []
    for nft_set in _sets(new):
        gone = before[(nft_set.family, nft_set.name)] - nft_set.elements
        added = nft_set.elements - before[(nft_set.family, nft_set.name)]
        where = f"{nft_set.family} {TABLE} {nft_set.name}"
        if gone:
            deletes.append(f"delete element {where} {{ {', '.join(sorted(gone))} }}\n")
        if added:
            adds.append(f"add element {where} {{ {', '.join(sorted(added))} }}\n")
    return "".join(deletes + adds)


# --- the script -----------------------------------------------------------------------------


def _script(spec: FirewallSpec, *, elements: bool) -> str:
    sets, guarded = _sets(spec), _guarded(spec)
    # Declare, delete, define: one transaction that works whether or not the tables exist.
    out = [f"add table {f} {TABLE}\ndelete table {f} {TABLE}\n" for f in ("bridge", "inet")]
    for family, chains in (("bridge", _bridge_chains), ("inet", _inet_chains)):
        family_sets = [s for s in sets if s.family == family]
        out.append(_table(family, family_sets, elements, chains(spec, guarded)))
    return "".join(out)


def _table(family: str, sets: list[_NftSet], elements: bool, chains: list[str]) -> str:
    blocks = []
    for nft_set in sets:
        lines = [f"\tset {nft_set.name} {{", *(f"\t\t{d}" for d in nft_set.declaration)]
        if elements and nft_set.elements:
            body = ",\n".join(f"\t\t\t{e}" for e in sorted(nft_set.elements))
            lines += ["\t\telements = {", body, "\t\t}"]
        blocks.append("\n".join([*lines, "\t}"]) + "\n")
    return f"table {family} {TABLE} {{\n" + "\n".join(blocks + chains) + "}\n"


def _chain(name: str, rules: Iterable[str], hook: str | None = None) -> str:
    lines = [f"\tchain {name} {{"]
    if hook:
        lines.append(f"\t\ttype filter hook {hook}; policy accept;")
    lines += [f"\t\t{rule}" for rule in rules]
    return "\n".join([*lines, "\t}"]) + "\n"


def _names(items: Iterable[str]) -> str:
    return "{ " + ", ".join(f'"{item}"' for item in items) + " }"


def _bridge_chains(spec: FirewallSpec, guarded: list[FirewallPort]) -> list[str]:
    taps = [p.tap for p in guarded]
    marks = ", ".join(f'"{tap}" : {i:#x}' for i, tap in enumerate(taps, 1))
    pre, fwd = ["meta mark set 0x0"], ["meta mark set 0x0"]
    if taps:
        pre += [
            f"iifname {_names(taps)} jump port_guard",
            f"meta mark set iifname map {{ {marks} }}",
        ]
        fwd += [f"meta mark set oifname map {{ {marks} }}"]
        fwd += [f"oifname {_names(taps)} icmpv6 type nd-router-advert jump ra_guard"]
    ra_taps = sorted(tap for n in spec.networks for tap in spec.ra_taps(n.network_id))
    ra_guard = [f"iifname {_names(ra_taps)} return"] if ra_taps else []
    if taps:  # from outside the host (not one of our taps): the network's upstream routers
        others = _names(p.tap for p in spec.ports)
        ra_guard.append(f"iifname != {others} oifname . ip6 saddr @ra_upstream return")
    ra_guard.append('counter drop comment "RA guard: not from this network\'s router"')
    return [
        _chain("prerouting", pre, "prerouting priority -200"),
        *(_chain(name, rules) for name, rules in _GUARDS.items()),
        _chain("forward", fwd, "forward priority -200"),
        _chain("ra_guard", ra_guard),
    ]


def _inet_chains(spec: FirewallSpec, guarded: list[FirewallPort]) -> list[str]:
    groups = {g.group_id: g for g in spec.security_groups}
    zones = ", ".join(f'"{n.bridge}" : {n.zone}' for n in spec.networks)
    zone_rules = [f"ct zone set iifname map {{ {zones} }}"] if zones else []
    chains = [_chain("zones", zone_rules, "prerouting priority -300")]
    for hook, prefix in (("prerouting priority 0", "from"), ("forward priority 0", "to")):
        vmap = ", ".join(f"{i:#x} : jump {prefix}_{p.tap}" for i, p in enumerate(guarded, 1))
        rules = [f"meta mark vmap {{ {vmap} }}"] if vmap else []
        chains.append(_chain(f"{prefix}_ports", rules, hook))
    for port in guarded:
        stateful = _port_stateful(port, groups)
        for prefix, direction in (("from", "egress"), ("to", "ingress")):
            rules = ["ct state established,related accept"] if stateful else []
            rules += _PROVIDER[direction]
            rules += ["ct state invalid drop"] if stateful else []
            rules += [f"jump sg_{g}_{direction}" for g in port.security_groups]
            rules.append(f'counter drop comment "no {direction} rule allows"')
            chains.append(_chain(f"{prefix}_{port.tap}", rules))
    for group in spec.security_groups:
        rendered = [(r.direction, _rule(r, spec)) for r in group.rules]  # checks every rule
        for direction in DIRECTIONS:
            rules = [text for way, text in rendered if way == direction]
            chains.append(_chain(f"sg_{group.group_id}_{direction}", rules))
    return chains


def _port_stateful(port: FirewallPort, groups: dict[str, SecurityGroup]) -> bool:
    flags = {groups[g].stateful for g in port.security_groups}
    if len(flags) > 1:
        raise ValueError(f"port {port.port_id} mixes stateful and stateless groups")
    return flags != {False}


def _rule(rule: SecurityGroupRule, spec: FirewallSpec) -> str:
    """One Neutron rule as one nft rule (in a group's ingress or egress chain)."""
    if rule.ethertype not in ETHERTYPES or rule.direction not in DIRECTIONS:
        raise ValueError(f"bad direction or ethertype: {rule}")
    v6 = rule.ethertype == "IPv6"
    family, field = ("ip6" if v6 else "ip"), ("saddr" if rule.direction == "ingress" else "daddr")
    if rule.remote_prefix is not None and rule.remote_group is not None:
        raise ValueError(f"a rule has a remote prefix or a remote group, not both: {rule}")
    if rule.remote_prefix is not None:
        net = ip_prefix(rule.remote_prefix)
        if net.version != (6 if v6 else 4):
            raise ValueError(f"remote prefix {net} does not match ethertype {rule.ethertype}")
        parts = [f"{family} {field} {prefix_text(net)}"]
    elif rule.remote_group is not None:
        if rule.remote_group not in {g.group_id for g in spec.remote_groups}:
            raise ValueError(f"remote group {rule.remote_group} has no member list")
        parts = [f"{family} {field} @rg{6 if v6 else 4}_{rule.remote_group}"]
    else:
        parts = [f"meta nfproto {'ipv6' if v6 else 'ipv4'}"]
    parts += [*_protocol_match(rule), "accept"]
    if rule.rule_id:
        parts.append(f'comment "rule {_check_id(rule.rule_id)}"')
    return " ".join(parts)


def _protocol_match(rule: SecurityGroupRule) -> list[str]:
    proto, has_ports = rule.protocol, rule.port_min is not None or rule.port_max is not None
    has_icmp = rule.icmp_type is not None or rule.icmp_code is not None
    if proto is None:
        if has_ports or has_icmp:
            raise ValueError(f"ports or ICMP type need a protocol: {rule}")
        return []
    if not 0 <= proto <= 255:
        raise ValueError(f"bad protocol number {proto}")
    icmp_number, icmp_name = ICMP[rule.ethertype]
    if proto in (1, 58) and proto != icmp_number:
        raise ValueError(f"protocol {proto} does not match ethertype {rule.ethertype}")
    if has_ports:
        if proto not in PORT_PROTOCOLS:
            raise ValueError(f"protocol {proto} has no ports")
        low = rule.port_min if rule.port_min is not None else rule.port_max
        high = rule.port_max if rule.port_max is not None else rule.port_min
        assert low is not None and high is not None
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"bad port range {rule.port_min}-{rule.port_max}")
        return [f"{PORT_PROTOCOLS[proto]} dport {low if low == high else f'{low}-{high}'}"]
    if has_icmp:
        if proto != icmp_number or rule.icmp_type is None:
            raise ValueError(f"ICMP code needs a type, and both an ICMP protocol: {rule}")
        if not all(0 <= v <= 255 for v in (rule.icmp_type, rule.icmp_code or 0)):
            raise ValueError(f"bad ICMP type or code: {rule}")
        code = [f"{icmp_name} code {rule.icmp_code}"] if rule.icmp_code is not None else []
        return [f"{icmp_name} type {rule.icmp_type}", *code]
    return [f"meta l4proto {PORT_PROTOCOLS.get(proto, proto)}"]


# --- checks and sets ------------------------------------------------------------------------


def _check_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(f"not an id we put into nft names or comments: {value!r}")
    return value


def _guarded(spec: FirewallSpec) -> list[FirewallPort]:
    """Checks the whole spec once; the guarded ports (workloads with port security), by tap."""
    nets = {n.network_id: n for n in spec.networks}
    distinct = {len({getattr(n, a) for n in spec.networks}) for a in ("bridge", "zone")}
    if distinct | {len(nets)} != {len(spec.networks)}:
        raise ValueError("networks repeat an id, a bridge or a conntrack zone")
    for net in spec.networks:
        check_ifname(net.bridge)
        if not 1 <= net.zone <= MAX_ZONE:
            raise ValueError(f"conntrack zone {net.zone} out of 1..{MAX_ZONE}")
        for source in net.ra_sources:
            if not ipaddress.IPv6Address(source).is_link_local:
                raise ValueError(f"RA source {source} is not an IPv6 link-local address")
    for group in (*spec.security_groups, *spec.remote_groups):
        _check_id(group.group_id)
    if len({p.tap for p in spec.ports}) != len(spec.ports):
        raise ValueError("two ports share a tap")
    for port in spec.ports:
        check_ifname(port.tap)
        check_mac(port.mac)
        if port.role not in ROLES or port.network_id not in nets:
            raise ValueError(f"port {port.port_id}: bad role or unknown network")
        unknown = set(port.security_groups) - {g.group_id for g in spec.security_groups}
        if unknown:
            raise ValueError(f"port {port.port_id} names unknown groups {sorted(unknown)}")
    guarded = [p for p in spec.ports if p.role == "workload" and p.port_security]
    return sorted(guarded, key=lambda p: p.tap)


def _sets(spec: FirewallSpec) -> list[_NftSet]:
    guarded = _guarded(spec)
    found: dict[str, set[str]] = {name: set() for name in _BRIDGE_SETS}
    macs, src6, src4 = found["macs"], found["src6"], found["src4"]
    nets = {n.network_id: n for n in spec.networks}
    for port in guarded:
        tap = f'"{port.tap}"'
        by_mac: dict[str, list[IpNetwork]] = {check_mac(port.mac): []}
        for allowed in port.allowed:
            by_mac.setdefault(check_mac(allowed.mac), []).append(ip_prefix(allowed.cidr))
        owned6: list[IpNetwork] = []
        for mac, nets_of_mac in by_mac.items():
            macs.add(f"{tap} . {mac}")
            found["nd_lla"].add(f"{tap} . 0x{mac.replace(':', '')}")
            v6 = [n for n in nets_of_mac if n.version == 6]
            v6.append(ipaddress.IPv6Network(eui64_link_local(mac)))
            owned6 += v6
            src6.update(f"{tap} . {mac} . {prefix_text(n)}" for n in without_nested(v6))
            v4 = [n for n in nets_of_mac if n.version == 4]
            src4.update(f"{tap} . {mac} . {prefix_text(n)}" for n in without_nested(v4))
        found["nd_targets"].update(f"{tap} . {_hex_range(n)}" for n in without_nested(owned6))
        upstream = nets[port.network_id].ra_sources
        found["ra_upstream"].update(f"{tap} . {ipaddress.IPv6Address(s)}" for s in upstream)
    sets = [_NftSet("bridge", n, d, frozenset(found[n])) for n, d in _BRIDGE_SETS.items()]
    for group in spec.remote_groups:
        for version, members in ((6, group.ipv6), (4, group.ipv4)):
            nets_v = [ip_prefix(m) for m in members]
            if any(n.version != version for n in nets_v):
                raise ValueError(f"remote group {group.group_id}: IPv{version} list holds others")
            declaration = (f"type ipv{version}_addr", "flags interval")
            elements = frozenset(prefix_text(n) for n in without_nested(nets_v))
            sets.append(_NftSet("inet", f"rg{version}_{group.group_id}", declaration, elements))
    return sets


def _hex_range(net: IpNetwork) -> str:
    first, last = int(net.network_address), int(net.broadcast_address)
    return f"{first:#034x}" if first == last else f"{first:#034x}-{last:#034x}"
