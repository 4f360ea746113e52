"""In-memory stand-ins for the drivers: a kernel (namespaces, links, addresses, routes, sysctls)
here, files and daemons in ``drivers.fake_daemons``. They follow the real adapters' rules that
matter to the agent (a veth pair dies with either end or its namespace, per-interface sysctls
exist only while the interface does and start from the namespace's ``default`` values, a delete
of something gone is done) so the reconcile tests exercise the agent's logic without root.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
from collections.abc import Mapping, Sequence

from v6fabric.drivers.commands import CommandError
from v6fabric.drivers.fake_links import FakeLink, _segment_fields, _vxlan_fields
from v6fabric.drivers.neighbors import DeleteNeighbor, Neighbor, ReplaceNeighbor
from v6fabric.drivers.netlink import (
    AddAddress,
    AddBridge,
    AddGretap,
    AddVeth,
    AddVlan,
    AddVxlan,
    DeleteAddress,
    DeleteLink,
    DeleteRoute,
    Link,
    LinkOp,
    NetnsView,
    ReplaceRoute,
    Route,
    SetBridgeOptions,
    SetBridgePort,
    SetLink,
    SetVxlanLearning,
    tolerated,
)

SYSCTL_DEFAULTS = {
    "accept_ra": "1",
    "accept_dad": "1",
    "disable_ipv6": "0",
    "forwarding": "0",
    "keep_addr_on_down": "0",
    "ip_forward": "0",
}


class FakeError(Exception):
    pass


class FakeKernel:
    """``Netlink`` and ``Sysctls`` in memory. ``None`` is the root namespace."""

    def __init__(self) -> None:
        self.links: dict[str | None, dict[str, FakeLink]] = {None: {}}
        self.sysctl: dict[str | None, dict[str, str]] = {None: {}}
        self.routes: dict[str | None, set[Route]] = {None: set()}
        self.pids: dict[str | None, set[int]] = {None: set()}
        self.neighbors: dict[str | None, set[Neighbor]] = {None: set()}  # permanent ones
        self._index = itertools.count(2)
        self.writes = 0  # every successful change, to prove a resync changes nothing

    # --- namespaces ----------------------------------------------------------------------

    def namespaces(self) -> set[str]:
        return {name for name in self.links if name is not None}

    def add_namespaces(self, names: Sequence[str]) -> list[str | None]:
        for name in names:
            if name not in self.links:
                self.links[name] = {"lo": FakeLink("lo", 1, None, "00:00:00:00:00:00", 65536)}
                self.sysctl[name], self.routes[name], self.pids[name] = {}, set(), set()
                self.neighbors[name] = set()
                self.writes += 1
        return [None] * len(names)

    def delete_namespace(self, name: str) -> None:
        if name not in self.links:
            return
        for link in list(self.links[name].values()):
            self._delete(name, link.name)
        for table in (self.links, self.sysctl, self.routes, self.pids, self.neighbors):
            table.pop(name, None)
        self.writes += 1

    def namespace_pids(self, name: str) -> list[int]:
        return sorted(self.pids.get(name, set()))

    # --- reading -------------------------------------------------------------------------

    def read(self, netns: str | None) -> NetnsView:
        if netns not in self.links:
            raise CommandError(["ip", "-n", str(netns)], 1, "Cannot open network namespace")
        links = {}
        for fake in self.links[netns].values():
            ipv6 = self._sysctl_of(netns, fake, "disable_ipv6") != "1"
            links[fake.name] = Link(
                name=fake.name,
                ifindex=fake.ifindex,
                kind=fake.kind,
                mac=fake.mac,
                mtu=fake.mtu,
                up=fake.up,
                master=fake.master,
                addresses=tuple(sorted(fake.addresses)),
                link_local_ready=fake.up and ipv6 and fake.name != "lo",
                stp=fake.stp,
                forward_delay=fake.forward_delay,
                **_vxlan_fields(fake),
                **_segment_fields(fake),
            )
        return NetnsView(
            links=links,
            routes=tuple(sorted(self.routes[netns], key=repr)),
            neighbors=tuple(sorted(self.neighbors[netns])),
        )

    def read_links(self, netns: str | None, names: Sequence[str]) -> dict[str, Link]:
        if netns not in self.links:
            return {}
        links = self.read(netns).links
        return {name: links[name] for name in names if name in links}

    # --- link operations -----------------------------------------------------------------

    def apply(self, netns: str | None, ops: Sequence[LinkOp]) -> list[str | None]:
        results: list[str | None] = []
        for op in ops:
            try:
                self._apply(netns, op)
            except FakeError as exc:
                results.append(None if tolerated(op, str(exc)) else str(exc))
            else:
                self.writes += 1
                results.append(None)
        return results

    def _links(self, netns: str | None) -> dict[str, FakeLink]:
        if netns not in self.links:
            raise FakeError(f'Cannot open network namespace "{netns}"')
        return self.links[netns]

    def _get(self, netns: str | None, name: str) -> FakeLink:
        link = self._links(netns).get(name)
        if link is None:
            raise FakeError(f'Cannot find device "{name}"')
        return link

    def _new(self, netns: str | None, name: str, kind: str, mac: str, mtu: int) -> FakeLink:
        index = next(self._index)
        link = FakeLink(
            name, index, kind, mac or f"02:00:00:00:{index >> 8:02x}:{index & 255:02x}", mtu
        )
        defaults = self.sysctl.get(netns, {})
        for key in SYSCTL_DEFAULTS:
            if f"net.ipv6.conf.default.{key}" in defaults:
                link.sysctls[key] = defaults[f"net.ipv6.conf.default.{key}"]
        self.links[netns][name] = link
        return link

    def _apply(self, netns: str | None, op: LinkOp) -> None:
        links = self._links(netns)
        match op:
            case AddBridge():
                if op.name in links:
                    raise FakeError("RTNETLINK answers: File exists")
                link = self._new(netns, op.name, "bridge", "", op.mtu)
                link.stp, link.forward_delay = False, 0
            case AddVxlan():
                if op.name in links:
                    raise FakeError("RTNETLINK answers: File exists")
                link = self._new(netns, op.name, "vxlan", "", op.mtu)
                link.vxlan = (op.vni, op.local, op.dstport)
                link.learning = op.learning
            case SetVxlanLearning():
                found = links.get(op.name)
                if found is None or found.vxlan is None:
                    raise FakeError(f"Cannot find device {op.name}")
                found.learning = op.learning
            case AddGretap():
                if op.name in links:
                    raise FakeError("RTNETLINK answers: File exists")
                kind = "ip6gretap" if ":" in op.local else "gretap"
                link = self._new(netns, op.name, kind, "", op.mtu)
                link.gre = (op.key, op.local, op.remote)
            case AddVlan():
                if op.name in links:
                    raise FakeError("RTNETLINK answers: File exists")
                lower = self._get(netns, op.lower)
                link = self._new(netns, op.name, "vlan", lower.mac, op.mtu)
                link.vlan = (op.lower, op.vid)
            case SetBridgePort():
                link = self._get(netns, op.name)
                if link.master is None:
                    raise FakeError("RTNETLINK answers: Operation not supported")
                link.isolated = op.isolated
            case SetBridgeOptions():
                link = self._get(netns, op.name)
                link.stp, link.forward_delay = False, 0
            case AddVeth():
                peers = self._links(op.peer_netns)
                if (
                    op.name in links
                    or op.peer in peers
                    or (op.peer_netns == netns and op.peer == op.name)
                ):
                    raise FakeError("RTNETLINK answers: File exists")
                tap = self._new(netns, op.name, "veth", "", op.mtu)
                peer = self._new(op.peer_netns, op.peer, "veth", op.peer_mac, op.mtu)
                tap.peer, peer.peer = (op.peer_netns, op.peer), (netns, op.name)
            case SetLink():
                link = self._get(netns, op.name)
                if op.master == "":  # nomaster
                    link.master = None
                elif op.master is not None:
                    master = self._get(netns, op.master)
                    if master.kind != "bridge":
                        raise FakeError("RTNETLINK answers: Operation not supported")
                    if link.master != op.master:  # a new bridge port: flags as the kernel's
                        link.isolated = False
                    link.master = op.master
                link.mac = op.mac or link.mac
                link.mtu = op.mtu or link.mtu
                link.mtu_by_user = link.mtu_by_user or bool(op.mtu and link.kind == "bridge")
                if op.up is False:  # set down: the kernel flushes its neighbours
                    self.neighbors[netns] = {
                        n for n in self.neighbors[netns] if n.ifname != op.name
                    }
                link.up = link.up if op.up is None else op.up
                self._bridge_mtus(netns)
            case DeleteLink():
                self._get(netns, op.name)
                self._delete(netns, op.name)
            case AddAddress():
                self._get(netns, op.ifname).addresses.add(op.cidr)
            case DeleteAddress():
                link = self._get(netns, op.ifname)
                if op.cidr not in link.addresses:
                    raise FakeError("RTNETLINK answers: Cannot assign requested address")
                link.addresses.discard(op.cidr)
                network = ipaddress.ip_interface(op.cidr).network
                if network.version == 4:  # IPv4 flushes routes via gateways it made reachable
                    self.routes[netns] = {
                        r
                        for r in self.routes[netns]
                        if not (r.gateway and ipaddress.ip_address(r.gateway) in network)
                    }
            case ReplaceRoute(route=route):
                if route.device:
                    self._get(netns, route.device)
                elif route.gateway:  # the kernel picks the link the gateway is on
                    route = dataclasses.replace(route, device=self._on_link(netns, route.gateway))
                table = self.routes[netns]
                table -= {r for r in table if r.destination == route.destination}
                table.add(route)
            case DeleteRoute(route=route):
                table = self.routes[netns]
                if route not in table:
                    raise FakeError("RTNETLINK answers: No such process")
                table.discard(route)
            case ReplaceNeighbor(neighbor=neighbor):
                self._get(netns, neighbor.ifname)
                entries = self.neighbors[netns]
                key = (neighbor.ifname, neighbor.address)
                entries -= {n for n in entries if (n.ifname, n.address) == key}
                entries.add(neighbor)
            case DeleteNeighbor():
                entries = self.neighbors[netns]
                found = {n for n in entries if (n.ifname, n.address) == (op.ifname, op.address)}
                if not found:
                    raise FakeError("RTNETLINK answers: No such file or directory")
                entries -= found

    def _on_link(self, netns: str | None, gateway: str) -> str:
        address = ipaddress.ip_address(gateway)
        for link in self.links[netns].values():
            for cidr in link.addresses:
                if address in ipaddress.ip_interface(cidr).network:
                    return link.name
        raise FakeError("RTNETLINK answers: Network is unreachable")

    def _bridge_mtus(self, netns: str | None) -> None:
        """A bridge whose MTU was never set follows its smallest port (1500 without ports)."""
        links = self.links[netns].values()
        for bridge in [b for b in links if b.kind == "bridge" and not b.mtu_by_user]:
            bridge.mtu = min((p.mtu for p in links if p.master == bridge.name), default=1500)

    def _delete(self, netns: str | None, name: str) -> None:
        link = self.links[netns].pop(name)
        for other in self.links[netns].values():
            if other.master == name:
                other.master = None
        self._bridge_mtus(netns)
        self.routes[netns] = {r for r in self.routes[netns] if r.device != name}
        self.neighbors[netns] = {n for n in self.neighbors[netns] if n.ifname != name}
        if link.peer and link.peer[0] in self.links and link.peer[1] in self.links[link.peer[0]]:
            self._delete(*link.peer)

    # --- sysctls -------------------------------------------------------------------------

    def _sysctl_of(self, netns: str | None, link: FakeLink, key: str) -> str:
        return link.sysctls.get(key, SYSCTL_DEFAULTS.get(key, "0"))

    def _split(self, netns: str | None, key: str) -> tuple[FakeLink | None, str] | None:
        """``net.ipv6.conf.IF.x`` -> (link, x); None when IF does not exist."""
        parts = key.split(".")
        if (
            len(parts) == 5
            and parts[:3] == ["net", "ipv6", "conf"]
            and parts[3]
            not in (
                "all",
                "default",
            )
        ):
            link = self.links.get(netns, {}).get(parts[3])
            return None if link is None else (link, parts[4])
        return (None, key)

    def read_sysctls(self, netns: str | None, keys: Sequence[str]) -> dict[str, str]:
        values = {}
        for key in keys:
            split = self._split(netns, key)
            if split is None or netns not in self.links:
                continue
            link, attr = split
            if link is not None:
                values[key] = self._sysctl_of(netns, link, attr)
            else:
                values[key] = self.sysctl[netns].get(
                    key, SYSCTL_DEFAULTS.get(key.split(".")[-1], "0")
                )
        return values

    def write_sysctls(self, netns: str | None, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            split = self._split(netns, key)
            if split is None or netns not in self.links:
                raise CommandError(["sysctl", "-w", key], 255, f"cannot stat {key}")
            link, attr = split
            if link is not None:
                link.sysctls[attr] = value
            else:
                self.sysctl[netns][key] = value
            self.writes += 1

    def sysctls(self) -> FakeSysctls:
        return FakeSysctls(self)


class FakeSysctls:
    """The ``Sysctls`` face of a ``FakeKernel``."""

    def __init__(self, kernel: FakeKernel) -> None:
        self.kernel = kernel

    def read(self, netns: str | None, keys: Sequence[str]) -> dict[str, str]:
        return self.kernel.read_sysctls(netns, keys)

    def write(self, netns: str | None, values: Mapping[str, str]) -> None:
        self.kernel.write_sysctls(netns, values)
