"""The ``FirewallSpec`` of a host: what its ports may send, and what their groups let in and out.

From Neutron's wire shapes: a port's ``port_security_enabled`` (default True),
``security_groups`` and ``allowed_address_pairs`` (a pair without a MAC uses the port's);
network-owned ports (router, DHCP) are never filtered, as in Neutron. A router's gateway leg
(``qg-``) is a "router" port too: it forwards the tenants' traffic (their source addresses, not
its own) and receives the upstream's RAs from the physical interface or the overlay, so no
guard may sit on it; being in ``ra_taps`` only means its frames would pass the workloads' RA
guard, and nothing sends RAs on it (the compiler gives it no radvd). Rules are translated from
Neutron's encoding (protocol names, ICMP type and code in ``port_range_min``/``max``) into
``SecurityGroupRule``'s. A group named as a rule's remote becomes a set of its members'
addresses, from every port in the group on any host: a peer on another host is a member too.

Every network lists its uplinks (the bridge's ports off the host), and, where a distributed
router has an interface, the addresses whose neighbour discovery must not cross them
(``compiler.dvr.local_only``, ``hoststate.dvr``). A distributed router's legs are "router"
ports with their per-host MACs, as they are plumbed.

Conntrack zones are per network and stable: a hash of the network id, probed past collisions
in id order, so a network keeps its zone (and its flows their state) while others come and go.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from v6fabric.compiler.dvr_view import any_distributed, local_only, uplinks
from v6fabric.compiler.index import IdentityMemo, Index, PortView, SubnetView
from v6fabric.compiler.overlay import remote_ra_sources
from v6fabric.compiler.snapshot import Snapshot, Wire
from v6fabric.domain.security_rules import protocol_number
from v6fabric.hoststate.firewall import (
    AllowedAddress,
    FirewallNetwork,
    FirewallPort,
    FirewallSpec,
    RemoteGroup,
    SecurityGroup,
    SecurityGroupRule,
    stable_numbers,
)
from v6fabric.hoststate.model import NetworkSpec, PortSpec

ZONES = 65535
ICMP_PROTOCOLS = (1, 58)


def firewall_spec(
    snapshot: Snapshot,
    index: Index,
    ports: Sequence[PortSpec],
    networks: Sequence[NetworkSpec],
) -> FirewallSpec:
    """The firewall of the host whose ``ports`` and ``networks`` (bridges) these are."""
    wires = {wire["id"]: wire for wire in snapshot.ports}
    local = [
        _memo_port(spec, index.ports_by_id.get(spec.port_id), wires.get(spec.port_id, {}))
        for spec in ports
    ]
    guarded = [port for port in local if port.port_security]
    groups = {wire["id"]: wire for wire in snapshot.security_groups}
    used = sorted({g for port in guarded for g in port.security_groups if g in groups})
    security_groups = [_group(groups[g]) for g in used]
    remote_ids = {
        rule.remote_group for group in security_groups for rule in group.rules if rule.remote_group
    }
    zones = zone_numbers(net.network_id for net in networks)
    distributed = any_distributed(index)
    return FirewallSpec(
        networks=tuple(
            FirewallNetwork(
                network_id=net.network_id,
                bridge=net.bridge,
                zone=zones[net.network_id],
                ra_sources=(
                    *_ra_sources(index.subnets_by_network.get(net.network_id, ())),
                    *remote_ra_sources(index, net),
                ),
                uplinks=uplinks(net),
                local_only=local_only(index, net.network_id) if distributed else (),
            )
            for net in networks
        ),
        ports=tuple(local),
        security_groups=tuple(security_groups),
        remote_groups=(
            tuple(snapshot.remote_members[g] for g in sorted(remote_ids))
            if snapshot.remote_members is not None
            else _remote_groups(snapshot.ports, remote_ids)
        ),
    )


def zone_numbers(network_ids: Iterable[str]) -> dict[str, int]:
    return stable_numbers(network_ids, ZONES)


_PORTS = IdentityMemo()


def _memo_port(spec: PortSpec, view: PortView | None, wire: Wire) -> FirewallPort:
    """Per wire dict (the live inputs keep it while the port is unchanged) and its PortSpec."""
    made = _PORTS.get(wire, dict)
    if spec not in made:
        made[spec] = _port(spec, view, wire)
    return made[spec]  # type: ignore[no-any-return]


def _port(spec: PortSpec, view: PortView | None, wire: Wire) -> FirewallPort:
    owned = spec.kind != "workload" or (view is not None and view.network_owned)
    return FirewallPort(
        port_id=spec.port_id,
        tap=spec.tap,
        network_id=spec.network_id,
        mac=spec.mac.lower(),
        role=spec.kind,
        port_security=not owned and bool(wire.get("port_security_enabled", True)),
        allowed=tuple(_allowed(wire)),
        security_groups=() if owned else tuple(wire.get("security_groups") or ()),
    )


def member_cidrs(wire: Wire) -> list[str]:
    """The addresses a port stands for as a member of its groups (rules' remote groups)."""
    return [allowed.cidr for allowed in _allowed(wire)]


def _allowed(wire: Wire) -> list[AllowedAddress]:
    """Fixed IPs (the API's normalised text) and allowed address pairs, with their MACs."""
    mac = str(wire.get("mac_address") or "").lower()
    allowed = [
        AllowedAddress(_host_prefix(fixed["ip_address"]), mac)
        for fixed in wire.get("fixed_ips") or ()
        if fixed.get("ip_address")
    ]
    for pair in wire.get("allowed_address_pairs") or ():
        prefix = _prefix(pair.get("ip_address"))
        if prefix is not None:
            allowed.append(AllowedAddress(prefix, str(pair.get("mac_address") or mac).lower()))
    return allowed


def _host_prefix(address: str) -> str:
    return f"{address}/128" if ":" in address else f"{address}/32"


def _prefix(text: object) -> str | None:
    try:
        return ipaddress.ip_network(str(text), strict=False).with_prefixlen
    except ValueError:
        return None


def _ra_sources(subnets: Iterable[SubnetView]) -> tuple[str, ...]:
    """Upstream routers of provider subnets: a link-local ``gateway_ip`` (R3, R16)."""
    return tuple(
        str(s.gateway_ip)
        for s in subnets
        if s.ip_version == 6 and s.gateway_ip is not None and s.gateway_ip.is_link_local
    )


def _group(wire: Wire) -> SecurityGroup:
    return SecurityGroup(
        group_id=wire["id"],
        stateful=bool(wire.get("stateful", True)),
        rules=tuple(_rule(rule) for rule in wire.get("security_group_rules") or ()),
    )


def _rule(wire: Mapping[str, Any]) -> SecurityGroupRule:
    ethertype = wire.get("ethertype") or "IPv4"
    protocol = wire.get("protocol")
    number = protocol_number(str(protocol)) if protocol not in (None, "", "any") else None
    if number == 1 and ethertype == "IPv6":
        number = 58  # Neutron accepts "icmp" in an IPv6 rule and means ICMPv6
    low, high = wire.get("port_range_min"), wire.get("port_range_max")
    icmp = number in ICMP_PROTOCOLS
    return SecurityGroupRule(
        direction=wire["direction"],
        ethertype=ethertype,
        protocol=number,
        port_min=None if icmp else low,
        port_max=None if icmp else (high if high is not None else low),
        icmp_type=low if icmp else None,
        icmp_code=high if icmp else None,
        remote_prefix=_prefix(wire["remote_ip_prefix"]) if wire.get("remote_ip_prefix") else None,
        remote_group=wire.get("remote_group_id") or None,
        rule_id=wire.get("id") or "",
    )


def _remote_groups(ports: Iterable[Wire], group_ids: set[str]) -> tuple[RemoteGroup, ...]:
    """Every port of each group, on any host: one pass over the ports for all groups."""
    members: dict[str, tuple[list[str], list[str]]] = {g: ([], []) for g in group_ids}
    for wire in ports:
        groups = [g for g in wire.get("security_groups") or () if g in members]
        if not groups:
            continue
        cidrs = member_cidrs(wire)
        for group_id in groups:
            ipv6, ipv4 = members[group_id]
            for cidr in cidrs:
                (ipv6 if ":" in cidr else ipv4).append(cidr)
    return tuple(
        RemoteGroup.of(g, ipv6=tuple(members[g][0]), ipv4=tuple(members[g][1]))
        for g in sorted(group_ids)
    )
