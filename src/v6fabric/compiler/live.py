"""The compiler's input kept current record by record, for a server that compiles after every
write.

Reading, parsing and compiling the whole store per revision grows with the store (5.8 s at
88,000 ports), while a write changes a few records and a host needs few of them. So the server
keeps every record here, replaces only what each write changed (``update``), and compiles a
host from ``snapshot_for(host)``: the records that can matter to that host, and remote groups'
members maintained incrementally in buckets. ``compile_host(snapshot_for(h), h)`` equals
``compile_host(snapshot(), h)`` (the tests check it over random histories).

A host needs the ports bound to it (or NICs of its workloads); a DHCP host (``dhcp_hosts``)
needs every port of the networks whose DHCP it runs, and the workloads' ports as below; without
the schedulers (no ``dhcp_hosts`` or ``router_hosts``) the first network host needs every
network-owned port, every port of a network with a subnet dnsmasq serves (a reservation
per port), every port of a network with a DHCP or router leg (the metadata proxy answers them)
and every port of the workloads owning those (their network_data.json names all their NICs).
An L3 host needs every port of the networks its routers (``router_hosts``) have interfaces on,
and every port of the workloads owning those (the metadata proxy again), and its routers'
gateway ports (an external network has no listener: its other ports matter only to the
overlay, below), and every ``ha-`` port of its HA routers (the other instances are its VRRP
peers).
A distributed router's instance host (a workload bound to it on one of the router's networks)
needs every port of every network of the router (its neighbours, and where its other instances
are) and the router's gateway port (whether it has a central instance to route to).
A host with a tunnel endpoint also needs every port of its networks (``compiler.overlay``: the
MACs behind the other hosts), and of every network of each distributed router on one of those
(the hosts of its instances, each with its own leg MACs); a host without one, the interfaces
of the distributed routers on its networks (their addresses are the firewall's ``local_only``).
Everything else (networks, subnets, routers, groups, workloads) is small and passed whole.

Not thread-safe: the caller serialises ``update`` and ``snapshot_for``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from v6fabric.compiler.dhcp import range_mode
from v6fabric.compiler.firewall import member_cidrs
from v6fabric.compiler.index import NETWORK_OWNER_PREFIX, parse_subnet
from v6fabric.compiler.snapshot import Snapshot, Wire
from v6fabric.domain.constants import (
    DEVICE_OWNER_DHCP,
    DEVICE_OWNER_ROUTER_GATEWAY,
    DEVICE_OWNER_ROUTER_HA_PORT,
    ROUTER_INTERFACE_OWNERS,
)
from v6fabric.hoststate.firewall import MemberBucket, RemoteGroup, member_bucket
from v6fabric.hoststate.vrrp import VRRP_ADVERT_INTERVAL

KINDS = ("networks", "subnets", "ports", "routers", "workloads", "security_groups")
LEG_OWNERS = ROUTER_INTERFACE_OWNERS | {DEVICE_OWNER_DHCP}  # metadata listeners


@dataclass
class _Memberships:
    """Remote groups' members, by group and bucket, with a count per address (two ports of a
    group may share one through allowed address pairs). Changed buckets are rebuilt on demand;
    unchanged ones stay the same objects, so the layers after the compiler can skip them."""

    by_port: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    counts: dict[str, dict[int, dict[str, int]]] = field(default_factory=dict)
    buckets: dict[tuple[str, int], MemberBucket] = field(default_factory=dict)
    groups: dict[str, RemoteGroup] = field(default_factory=dict)

    def set_port(self, port_id: str, wire: Wire | None) -> None:
        old = self.by_port.pop(port_id, ((), ()))
        new = ((), ())
        if wire is not None and wire.get("security_groups"):
            new = (tuple(wire["security_groups"]), tuple(member_cidrs(wire)))
        if old == new:
            if new[0]:
                self.by_port[port_id] = new
            return
        self._count(old, -1)
        self._count(new, +1)
        if new[0]:
            self.by_port[port_id] = new

    def _count(self, contribution: tuple[tuple[str, ...], tuple[str, ...]], step: int) -> None:
        groups, cidrs = contribution
        for group_id in groups:
            self.groups.pop(group_id, None)
            buckets = self.counts.setdefault(group_id, {})
            for cidr in cidrs:
                key = member_bucket(cidr)
                self.buckets.pop((group_id, key), None)
                counts = buckets.setdefault(key, {})
                counts[cidr] = counts.get(cidr, 0) + step
                if counts[cidr] <= 0:
                    del counts[cidr]
                    if not counts:
                        del buckets[key]

    def group(self, group_id: str) -> RemoteGroup:
        found = self.groups.get(group_id)
        if found is None:
            found = RemoteGroup(
                group_id,
                tuple(self._bucket(group_id, key) for key in self.counts.get(group_id, {})),
            )
            self.groups[group_id] = found
        return found

    def _bucket(self, group_id: str, key: int) -> MemberBucket:
        found = self.buckets.get((group_id, key))
        if found is None:
            cidrs = self.counts[group_id][key]
            found = MemberBucket(
                key,
                ipv6=tuple(c for c in cidrs if ":" in c),
                ipv4=tuple(c for c in cidrs if ":" not in c),
            )
            self.buckets[(group_id, key)] = found
        return found


class LiveInputs:
    def __init__(self) -> None:
        self.revision = 0
        self.records: dict[str, dict[str, Wire]] = {kind: {} for kind in KINDS}
        self.network_hosts: tuple[str, ...] = ()
        self.tunnel_endpoints: dict[str, str] = {}  # host -> endpoint in the overlay's family
        self.physical_interfaces: tuple[tuple[str, str, str], ...] = ()  # (host, physnet, if)
        # the L3 scheduler's (router, host) pairs, one per instance (``Snapshot.router_hosts``)
        self.router_hosts: tuple[tuple[str, str], ...] | None = None
        self.dhcp_hosts: dict[str, str] | None = None  # the DHCP scheduler's (``Snapshot``)
        self.ha_vrids: dict[str, int] = {}  # HA routers' VRIDs (``Snapshot.ha_vrids``)
        self.ha_advert_interval: float = VRRP_ADVERT_INTERVAL
        self.dns_domain: str | None = None
        self.ipv6_gateway: str | None = None  # routers' configured upstream next hop
        self._by_host: dict[str, set[str]] = {}
        self._by_network: dict[str, set[str]] = {}
        self._network_owned: set[str] = set()
        self._legs: dict[str, set[str]] = {}  # DHCP and router interface ports by network
        self._router_legs: dict[str, set[str]] = {}  # router interface ports by router
        self._gateway_legs: dict[str, set[str]] = {}  # router gateway ports by router
        self._ha_legs: dict[str, set[str]] = {}  # HA routers' ``ha-`` ports by router
        self._members = _Memberships()
        self._served: set[str] | None = None  # networks with a subnet dnsmasq serves

    # --- changes ----------------------------------------------------------------------------

    def update(self, kind: str, changed: Mapping[str, Wire | None]) -> None:
        """Records of ``kind`` by id, as read now; None for one that is gone."""
        records = self.records[kind]
        for record_id, wire in changed.items():
            old = records.pop(record_id, None)
            if wire is not None:
                records[record_id] = wire
            if kind == "ports":
                self._port_moved(record_id, old, wire)
        if kind == "subnets":
            self._served = None

    def replace_all(self, kind: str, wires: Iterable[Wire]) -> None:
        fresh = {wire["id"]: wire for wire in wires}
        gone = {record_id: None for record_id in self.records[kind] if record_id not in fresh}
        self.update(kind, {**gone, **fresh})

    def dependents(self, kind: str, gone: Iterable[str]) -> dict[str, set[str]]:
        """Records that changed with the deletion of ``gone`` through the database's cascades
        (a subnet's fixed IPs, a group's memberships and the rules naming it as remote)."""
        gone = set(gone)
        found: dict[str, set[str]] = {}
        if not gone:
            return found
        if kind == "networks":
            found["ports"] = {p for n in gone for p in self._by_network.get(n, ())}
            found["subnets"] = {
                s for s, wire in self.records["subnets"].items() if wire["network_id"] in gone
            }
        elif kind == "subnets":
            found["ports"] = {
                p
                for p, wire in self.records["ports"].items()
                if any(ip.get("subnet_id") in gone for ip in wire.get("fixed_ips") or ())
            }
        elif kind == "security_groups":
            found["ports"] = {
                p
                for p, wire in self.records["ports"].items()
                if gone.intersection(wire.get("security_groups") or ())
            }
            found["security_groups"] = {
                g
                for g, wire in self.records["security_groups"].items()
                if any(
                    rule.get("remote_group_id") in gone
                    for rule in wire.get("security_group_rules") or ()
                )
            }
        return found

    def _port_moved(self, port_id: str, old: Wire | None, new: Wire | None) -> None:
        for wire, step in ((old, False), (new, True)):
            if wire is None:
                continue
            host = wire.get("binding:host_id") or ""
            network = wire["network_id"]
            owner = wire.get("device_owner") or ""
            if step:
                self._by_host.setdefault(host, set()).add(port_id)
                self._by_network.setdefault(network, set()).add(port_id)
                if owner.startswith(NETWORK_OWNER_PREFIX):
                    self._network_owned.add(port_id)
                if owner in LEG_OWNERS:
                    self._legs.setdefault(network, set()).add(port_id)
                if owner in ROUTER_INTERFACE_OWNERS:
                    self._router_legs.setdefault(wire.get("device_id") or "", set()).add(port_id)
                if owner == DEVICE_OWNER_ROUTER_GATEWAY:
                    self._gateway_legs.setdefault(wire.get("device_id") or "", set()).add(port_id)
                if owner == DEVICE_OWNER_ROUTER_HA_PORT:
                    self._ha_legs.setdefault(wire.get("device_id") or "", set()).add(port_id)
            else:
                _discard(self._by_host, host, port_id)
                _discard(self._by_network, network, port_id)
                _discard(self._legs, network, port_id)
                _discard(self._router_legs, wire.get("device_id") or "", port_id)
                _discard(self._gateway_legs, wire.get("device_id") or "", port_id)
                _discard(self._ha_legs, wire.get("device_id") or "", port_id)
                self._network_owned.discard(port_id)
        self._members.set_port(port_id, new)

    # --- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Everything: what a compile from a fresh read of the store would get."""
        return self._snapshot(self.records["ports"].values(), None)

    def snapshot_for(self, host: str) -> Snapshot:
        """What ``host``'s compile reads: its ports, and its remote groups' members."""
        ports = self.records["ports"]
        wanted = set(self._by_host.get(host, ()))
        for workload in self.records["workloads"].values():
            if workload.get("host") == host:
                wanted.update(workload.get("port_ids") or ())
        namespaces_here = False
        unscheduled = self.dhcp_hosts is None or self.router_hosts is None
        if unscheduled and host and self.network_hosts and host == self.network_hosts[0]:
            wanted |= self._network_owned
            for network_id in self._served_networks() | set(self._legs):
                wanted |= self._by_network.get(network_id, set())
            namespaces_here = True
        if host and self.dhcp_hosts is not None:  # its networks' DHCP: every port of them
            placed = [n for n, where in self.dhcp_hosts.items() if where == host]
            for network_id in placed:
                wanted |= self._by_network.get(network_id, set())
            namespaces_here = namespaces_here or bool(placed)
        if host and self.router_hosts is not None:  # its routers' legs, and their networks
            here = {router_id for router_id, where in self.router_hosts if where == host}
            legs = {p for r in here for p in self._router_legs.get(r, ())}
            for network_id in {ports[p]["network_id"] for p in legs if p in ports}:
                wanted |= self._by_network.get(network_id, set())
            gateways = {p for r in here for p in self._gateway_legs.get(r, ())}
            wanted |= gateways
            wanted |= {p for r in here for p in self._ha_legs.get(r, ())}  # VRRP peers
            namespaces_here = namespaces_here or bool(legs) or bool(gateways)
        distributed = self._distributed_networks()
        if host and distributed:  # its distributed routers' instances
            own = {
                ports[p]["network_id"]
                for p in self._by_host.get(host, ())
                if p in ports and p not in self._network_owned
            }
            here = [r for r, networks in distributed.items() if networks & own]
            wanted |= self._distributed_ports(here, distributed)
            namespaces_here = namespaces_here or bool(here)
        if namespaces_here:
            wanted |= self._owners_ports(wanted)
        networks = {ports[p]["network_id"] for p in wanted if p in ports}
        on_them = [r for r, found in distributed.items() if found & networks]
        if host in self.tunnel_endpoints:  # the overlay: every port of the host's networks
            for network_id in networks:
                wanted |= self._by_network.get(network_id, set())
            wanted |= self._distributed_ports(on_them, distributed)
        else:  # their gateway addresses stay on the host (the firewall's ``local_only``)
            wanted |= {p for r in on_them for p in self._router_legs.get(r, ())}
        chosen = [ports[p] for p in wanted if p in ports]
        return self._snapshot(chosen, self._remote_groups(chosen))

    def _distributed_networks(self) -> dict[str, set[str]]:
        """Each distributed router's interface networks."""
        ports = self.records["ports"]
        return {
            router_id: {ports[p]["network_id"] for p in self._router_legs.get(router_id, ())}
            for router_id, wire in self.records["routers"].items()
            if wire.get("distributed")
        }

    def _distributed_ports(
        self, router_ids: Iterable[str], networks: dict[str, set[str]]
    ) -> set[str]:
        """Every port of the routers' networks, and their gateway ports."""
        found: set[str] = set()
        for router_id in router_ids:
            for network_id in networks[router_id]:
                found |= self._by_network.get(network_id, set())
            found |= self._gateway_legs.get(router_id, set())
        return found

    def _owners_ports(self, port_ids: set[str]) -> set[str]:
        """Every port of the workloads that are the device of one of ``port_ids``."""
        ports, workloads = self.records["ports"], self.records["workloads"]
        devices = {ports[p].get("device_id") for p in port_ids if p in ports}
        return {
            port_id
            for device in devices
            if (workload := workloads.get(device)) is not None
            for port_id in workload.get("port_ids") or ()
        }

    def _snapshot(
        self, ports: Iterable[Wire], members: Mapping[str, RemoteGroup] | None
    ) -> Snapshot:
        records = self.records
        return Snapshot.build(
            revision=self.revision,
            networks=records["networks"].values(),
            subnets=records["subnets"].values(),
            ports=ports,
            routers=records["routers"].values(),
            workloads=records["workloads"].values(),
            network_hosts=self.network_hosts,
            dns_domain=self.dns_domain,
            security_groups=records["security_groups"].values(),
            remote_members=members,
            tunnel_endpoints=self.tunnel_endpoints,
            physical_interfaces=self.physical_interfaces,
            router_hosts=self.router_hosts,
            ipv6_gateway=self.ipv6_gateway,
            dhcp_hosts=self.dhcp_hosts,
            ha_vrids=self.ha_vrids,
            ha_advert_interval=self.ha_advert_interval,
        )

    def _remote_groups(self, ports: Iterable[Wire]) -> dict[str, RemoteGroup]:
        """Every group a rule of these ports' groups names as remote (a superset of what the
        compile uses), built now: the compile may run after the next ``update``."""
        groups = self.records["security_groups"]
        used = {g for wire in ports for g in wire.get("security_groups") or ()}
        remote = {
            rule["remote_group_id"]
            for g in used
            if g in groups
            for rule in groups[g].get("security_group_rules") or ()
            if rule.get("remote_group_id")
        }
        return {g: self._members.group(g) for g in remote}

    def _served_networks(self) -> set[str]:
        if self._served is None:
            self._served = set()
            for wire in self.records["subnets"].values():
                subnet = parse_subnet(wire)
                if subnet is not None and range_mode(subnet) is not None:
                    self._served.add(subnet.network_id)
        return self._served


def _discard(index: dict[str, set[str]], key: str, item: str) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(item)
        if not members:
            del index[key]
