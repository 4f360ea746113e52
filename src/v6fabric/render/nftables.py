"""nftables for a host's ports from a ``FirewallSpec``: one ``nft -f`` script, one transaction.

Why this shape (measured on this kernel, notes/dataplane.md §5 and §11):

* The bridge family has no conntrack here (no NF_CONNTRACK_BRIDGE) and no ``meta ibrname``, so
  ``table bridge v6fabric`` holds only the stateless guards, on frames entering from a guarded
  workload tap (bridge prerouting, -200): source MAC; IPv6/IPv4 source (fixed IPs, allowed
  address pairs, the EUI-64 link-local of each allowed MAC, ``::`` only for DAD and MLD); no
  RA or redirect; ND (an NA only for a target the port owns, NS/NA with at most one option,
  whose link-layer address is one of the port's MACs; nft 1.0.6 has no ``icmpv6 taddr``, so
  the target is the raw ``@th,64,128``); no DHCPv6/DHCPv4 server (nothing to the client ports
  udp 546 / 68, whatever its source port, nor from the server ports 547 / 67); ARP;
  nothing but IPv6, IPv4 and ARP. An RA reaches a guarded workload (bridge forward) only from
  a router/DHCP tap or, from outside the host, from the network's ``ra_sources`` (R16): a port
  with port security off cannot play router for the guarded ones either (``nft_guards``).
* Security groups are stateful, so they run in ``table inet v6fabric``: br_netfilter is built
  in and on, bridged IPv4/IPv6 traverse the inet hooks and conntrack works there. There
  ``iifname`` is the bridge, hence marks: bridge prerouting sets ``meta mark`` to the sending
  port's profile (inet prerouting runs that profile's egress rules), bridge forward at -200 to
  the receiving port's (inet forward at 0 runs its ingress rules). Two hooks, so each stage can
  ``accept`` on its own. 0 is "not ours".
* Each bridge sets its network's conntrack zone (inet prerouting -300, before conntrack), so
  overlapping tenant prefixes never share state.
* Profile chains: established/related (stateful ports only), Neutron's provider rules (ND, RA,
  MLD, DHCP client traffic and server replies), invalid dropped, a jump per group, drop.
  Stateless groups get no ``ct``: replies need rules (as Neutron). Ports with port security
  off get no guard, no mark and no chain. Nothing in them is the port's own, so the guarded
  ports with the same groups share them (a *profile*: the groups, named by their digest), and
  a port joining a profile that exists is set elements only. Why not a chain per port: nft
  reads every chain and set of the ruleset (the per-port chains' anonymous sets too) before
  each update, and the kernel re-validates every jump of the table when a transaction adds a
  verdict-map element; both grew each load with the ports on the host (bench/nft_load.py).
* What changes with addresses or membership is in named sets: the agent applies a change with
  ``render_update`` (set elements and the chains that changed; ``render_set_updates`` is its
  elements-only form); ``render_ruleset`` (our two tables deleted and defined again in one
  transaction) is for a first load or a new renderer. Established flows survive both:
  conntrack outlives tables.
* A remote group's members are diffed bucket by bucket, never as a whole (``nft_members``).
  Everything else is modelled without members (``without_members``), so the model of an
  update costs what the ports and rules cost.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from dataclasses import dataclass, replace

from v6fabric.hoststate.firewall import (
    DIRECTIONS,
    ETHERTYPES,
    ROLES,
    FirewallPort,
    FirewallSpec,
    SecurityGroup,
    SecurityGroupRule,
    stable_numbers,
    without_members,
)
from v6fabric.hoststate.memo import IdentityMemo
from v6fabric.render import nft_script
from v6fabric.render._common import check_ifname, check_mac, header, ip_prefix, prefix_text
from v6fabric.render.nft_guards import BRIDGE_SETS, bridge_chains, guard_elements
from v6fabric.render.nft_members import VERSIONS, group_elements, member_changes, member_sets
from v6fabric.render.nft_script import TABLE, Chain, NftSet, Ruleset
from v6fabric.render.nft_uplinks import UPLINK_SETS, uplink_chains, uplink_elements

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

_INET_SETS = {
    "zones": ("typeof iifname : ct zone",),  # bridge -> its network's conntrack zone
    "from_ports": ("type mark : verdict",),  # mark -> jump to the port's egress chain
    "to_ports": ("type mark : verdict",),  # mark -> jump to the port's ingress chain
}
MARK_SPACE = 0x7FFFFFFF


def render_ruleset(spec: FirewallSpec) -> str:
    """The ``nft -f`` script that atomically replaces our two tables and touches nothing else.

    Raises ``ValueError`` for anything nft would refuse or read otherwise than meant.
    """
    return header("nftables: port security and security groups") + nft_script.script(_model(spec))


def render_removal() -> str:
    """Our two tables gone (declared first, so it works whether or not they exist)."""
    lines = [f"add table {f} {TABLE}\ndelete table {f} {TABLE}\n" for f in ("bridge", "inet")]
    return "".join(lines)


def sets_only_changed(old: FirewallSpec, new: FirewallSpec) -> bool:
    """True when ``new`` differs from ``old`` in set elements only (or not at all)."""
    before, after = _frame(old), _frame(new)
    declared = {k: v.declaration for k, v in before.sets.items()}
    return before.chains == after.chains and declared == {
        k: v.declaration for k, v in after.sets.items()
    }


def render_set_updates(old: FirewallSpec, new: FirewallSpec) -> str:
    """``delete element`` then ``add element`` lines taking the sets of ``old`` to ``new``.

    Empty when nothing changed. Raises ``ValueError`` when rules or chains changed too: then
    ``render_update`` (or ``render_ruleset``) applies it.
    """
    if not sets_only_changed(old, new):
        raise ValueError("more than set elements changed: load render_ruleset instead")
    return render_update(old, new)


def render_update(old: FirewallSpec, new: FirewallSpec) -> str:
    """One transaction taking the loaded ``old`` to ``new`` without replacing the tables: set
    and map elements, new sets, and the chains that appeared, changed or went (a port's own
    chains, a group's). Empty when nothing changed.

    Raises ``ValueError`` when a base chain or the declaration of an existing set changed
    (a new renderer): then ``render_ruleset(new)`` replaces everything.
    """
    return nft_script.update(_frame(old), _frame(new), member_changes(old, new))


# --- the script -----------------------------------------------------------------------------


def _model(spec: FirewallSpec) -> Ruleset:
    """The whole ruleset: the frame with every member in its group's sets."""
    frame = _frame(spec)
    sets = dict(frame.sets)
    for group in spec.remote_groups:
        for version in VERSIONS:
            hosts, nets = member_sets(group.group_id, version)
            host_elements, net_elements = group_elements(group, version)
            sets[hosts] = replace(sets[hosts], elements=host_elements)
            sets[nets] = replace(sets[nets], elements=net_elements)
    return Ruleset(sets=sets, chains=frame.chains)


# the loaded spec and the new one, asked on every plan: stripping members and hashing a frame
# to look it up by value cost more than the answer (4 ms a pass at 150 ports)
_FRAMED = IdentityMemo(4)


def _frame(spec: FirewallSpec) -> Ruleset:
    return _FRAMED.get(spec, lambda: _frame_model(without_members(spec)))


@functools.lru_cache(maxsize=4)  # the loaded spec and the new one, asked for again and again
def _frame_model(spec: FirewallSpec) -> Ruleset:
    """Every chain and set, the member sets declared but empty (``spec`` has no members)."""
    guarded = _guarded(spec)
    profiles = port_profiles(spec, guarded)
    sets = _sets(spec, guarded, profiles)
    chains = [
        *(Chain("bridge", n, h, r) for n, h, r in bridge_chains()),
        *(Chain("bridge", n, h, r) for n, h, r in uplink_chains()),
        *(Chain("inet", n, h, r) for n, h, r in _inet_chains(spec, profiles)),
    ]
    return Ruleset(
        sets={(v.family, v.name): v for v in sets},
        chains={(c.family, c.name): c for c in chains},
    )


@dataclass(frozen=True)
class Profile:
    """What a guarded port's own chains hold: whether it is stateful, and its groups."""

    stateful: bool
    groups: tuple[str, ...]

    @functools.cached_property
    def name(self) -> str:  # p<48 bits of digest>: stable, and short enough for nft's names
        text = f"{'stateful' if self.stateful else 'stateless'} {' '.join(self.groups)}"
        return "p" + hashlib.sha256(text.encode()).hexdigest()[:12]


def port_profiles(
    spec: FirewallSpec, guarded: list[FirewallPort]
) -> dict[str, tuple[Profile, int]]:
    """Each guarded tap's profile and the profile's mark. A mark is stable per profile: a
    profile keeps it (and its map elements) while others come and go."""
    groups = {g.group_id: g for g in spec.security_groups}
    profiles = {p.tap: Profile(_port_stateful(p, groups), p.security_groups) for p in guarded}
    marks = stable_numbers((p.name for p in profiles.values()), MARK_SPACE)
    return {tap: (profile, marks[profile.name]) for tap, profile in profiles.items()}


def _inet_chains(
    spec: FirewallSpec, profiles: dict[str, tuple[Profile, int]]
) -> list[tuple[str, str | None, tuple[str, ...]]]:
    chains: list[tuple[str, str | None, tuple[str, ...]]] = [
        ("zones", "prerouting priority -300", ("ct zone set iifname map @zones",)),
        ("from_ports", "prerouting priority 0", ("meta mark vmap @from_ports",)),
        ("to_ports", "forward priority 0", ("meta mark vmap @to_ports",)),
    ]
    for profile in sorted({p for p, _mark in profiles.values()}, key=lambda p: p.name):
        for prefix, direction in (("from", "egress"), ("to", "ingress")):
            rules = ["ct state established,related accept"] if profile.stateful else []
            rules += _PROVIDER[direction]
            rules += ["ct state invalid drop"] if profile.stateful else []
            rules += [f"jump sg_{g}_{direction}" for g in profile.groups]
            rules.append(f'counter drop comment "no {direction} rule allows"')
            chains.append((f"{prefix}_{profile.name}", None, tuple(rules)))
    for group in spec.security_groups:
        rendered = [(r.direction, text) for r in group.rules for text in _rule(r, spec)]
        for direction in DIRECTIONS:
            rules = tuple(text for way, text in rendered if way == direction)
            chains.append((f"sg_{group.group_id}_{direction}", None, rules))
    return chains


def _port_stateful(port: FirewallPort, groups: dict[str, SecurityGroup]) -> bool:
    flags = {groups[g].stateful for g in port.security_groups}
    if len(flags) > 1:
        raise ValueError(f"port {port.port_id} mixes stateful and stateless groups")
    return flags != {False}


def _rule(rule: SecurityGroupRule, spec: FirewallSpec) -> tuple[str, ...]:
    """One Neutron rule as nft rules (in a group's ingress or egress chain): one, or for a
    remote group two, its members' addresses (a hash set) and their prefixes (an interval set:
    nft reads an interval set back before every update, seconds at 100,000 elements)."""
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
        matches = [f"{family} {field} {prefix_text(net)}"]
    elif rule.remote_group is not None:
        if rule.remote_group not in {g.group_id for g in spec.remote_groups}:
            raise ValueError(f"remote group {rule.remote_group} has no member list")
        name = f"rg{6 if v6 else 4}"
        matches = [f"{family} {field} @{name}{kind}_{rule.remote_group}" for kind in ("", "n")]
    else:
        matches = [f"meta nfproto {'ipv6' if v6 else 'ipv4'}"]
    rest = [*_protocol_match(rule), "accept"]
    if rule.rule_id:
        rest.append(f'comment "rule {_check_id(rule.rule_id)}"')
    return tuple(" ".join([match, *rest]) for match in matches)


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


def _sets(
    spec: FirewallSpec, guarded: list[FirewallPort], profiles: dict[str, tuple[Profile, int]]
) -> list[NftSet]:
    found: dict[str, set[str]] = {name: set() for name in (*BRIDGE_SETS, *_INET_SETS)}
    for port in guarded:
        tap, (profile, mark) = f'"{port.tap}"', profiles[port.tap]
        found["guarded_taps"].add(tap)
        found["port_marks"].add(f"{tap} : {mark:#x}")
        found["from_ports"].add(f"{mark:#x} : jump from_{profile.name}")
        found["to_ports"].add(f"{mark:#x} : jump to_{profile.name}")
    for port in spec.ports:
        found["all_taps"].add(f'"{port.tap}"')
        if port.role != "workload":
            found["ra_taps"].add(f'"{port.tap}"')
    found["zones"].update(f'"{n.bridge}" : {n.zone}' for n in spec.networks)
    nets = {n.network_id: n for n in spec.networks}
    for port in guarded:
        for name, elements in guard_elements(port, nets[port.network_id].ra_sources):
            found[name].update(elements)
    sets = [NftSet("bridge", n, d, frozenset(found[n])) for n, d in BRIDGE_SETS.items()]
    uplinks = uplink_elements(spec.networks)  # the uplink guard's (``nft_uplinks``)
    sets += [NftSet("bridge", n, d, uplinks[n]) for n, d in UPLINK_SETS.items()]
    sets += [NftSet("inet", n, d, frozenset(found[n])) for n, d in _INET_SETS.items()]
    for group in spec.remote_groups:
        for version in VERSIONS:
            kind = f"type ipv{version}_addr"
            (_, hosts), (_, nets) = member_sets(group.group_id, version)
            sets.append(NftSet("inet", hosts, (kind,), frozenset()))
            sets.append(NftSet("inet", nets, (kind, "flags interval"), frozenset()))
    return sets
