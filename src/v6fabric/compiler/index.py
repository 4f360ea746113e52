"""A parsed, indexed view of a ``Snapshot``: text is parsed once and lookups are by id.

Optional attributes fall back to Neutron's defaults, so a dict that omits them means what the
API would have returned for a resource created without them. Records that cannot be parsed (a
subnet without a CIDR, a fixed IP that is not an address) are left out rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from v6fabric.compiler.snapshot import Snapshot, Wire
from v6fabric.domain.addresses import IPAddress, IPNetwork, parse_cidr, parse_ip
from v6fabric.hoststate.memo import IdentityMemo

NETWORK_OWNER_PREFIX = "network:"
DEFAULT_MTU = 1500


def address_key(address: IPAddress) -> tuple[int, int]:
    """IPv4 before IPv6, then numeric: the order of every list of addresses we emit."""
    return (address.version, int(address))


def network_key(cidr: IPNetwork) -> tuple[int, int, int]:
    return (cidr.version, int(cidr.network_address), cidr.prefixlen)


@dataclass(frozen=True)
class NetworkView:
    id: str
    mtu: int
    admin_up: bool
    network_type: str | None = None  # provider:network_type ("vxlan", "flat", ...)
    segmentation_id: int | None = None
    physical_network: str | None = None  # provider:physical_network (flat, vlan)


@dataclass(frozen=True)
class SubnetView:
    id: str
    network_id: str
    cidr: IPNetwork
    gateway_ip: IPAddress | None
    enable_dhcp: bool
    ra_mode: str | None
    address_mode: str | None
    dns_nameservers: tuple[IPAddress, ...]  # in the subnet's order, unspecified ones dropped
    host_routes: tuple[tuple[IPNetwork, IPAddress], ...]

    @property
    def ip_version(self) -> int:
        return self.cidr.version

    @property
    def tag(self) -> str:
        return f"subnet-{self.id}"

    def sort_key(self) -> tuple[int, int, int, str]:
        return (*network_key(self.cidr), self.id)


@dataclass(frozen=True)
class FixedIp:
    subnet_id: str
    address: IPAddress


@dataclass(frozen=True)
class PortView:
    id: str
    network_id: str
    mac: str
    device_owner: str
    device_id: str
    admin_up: bool
    host: str
    fixed_ips: tuple[FixedIp, ...]
    project_id: str = ""
    pair_hosts: tuple[IPAddress, ...] = ()  # allowed address pairs that are one address

    @property
    def network_owned(self) -> bool:
        """DHCP, router and floating IP ports: never a workload's NIC, never a DHCP client."""
        return self.device_owner.startswith(NETWORK_OWNER_PREFIX)


@dataclass(frozen=True)
class RouterView:
    id: str
    admin_up: bool
    routes: tuple[tuple[IPNetwork, IPAddress], ...]
    gateway_network: str | None = None  # ``external_gateway_info.network_id``; None: no gateway
    ha: bool = False  # an HA router (issue 7): on several hosts, VRRP between them
    distributed: bool = False  # a distributed router (R20): an instance per workload host


@dataclass(frozen=True)
class WorkloadView:
    id: str
    name: str
    host: str
    port_ids: tuple[str, ...]
    project_id: str = ""
    user_data: str | None = None
    public_keys: tuple[tuple[str, str], ...] = ()  # (name, key) in the record's order
    properties: tuple[tuple[str, str], ...] = ()  # sorted by key


@dataclass(frozen=True)
class Index:
    networks: dict[str, NetworkView]
    subnets: dict[str, SubnetView]
    ports: tuple[PortView, ...]  # sorted by id
    routers: dict[str, RouterView]
    workloads: tuple[WorkloadView, ...]  # sorted by id
    ports_by_id: dict[str, PortView]
    subnets_by_network: dict[str, tuple[SubnetView, ...]]  # each sorted by prefix
    ports_by_network: dict[str, tuple[PortView, ...]]  # each sorted by id
    dns_domain: str | None

    def port_subnets(self, port: PortView) -> tuple[SubnetView, ...]:
        """The known subnets the port has an address on, each once, sorted by prefix."""
        found = {
            ip.subnet_id: self.subnets[ip.subnet_id]
            for ip in port.fixed_ips
            if ip.subnet_id in self.subnets
        }
        return tuple(sorted(found.values(), key=SubnetView.sort_key))

    def interface_addresses(self, port: PortView) -> tuple[str, ...]:
        """The port's fixed IPs as ``address/prefixlen`` of their subnets, sorted."""
        pairs = [
            (ip.address, self.subnets[ip.subnet_id].cidr.prefixlen)
            for ip in port.fixed_ips
            if ip.subnet_id in self.subnets
        ]
        pairs = sorted(set(pairs), key=lambda pair: (*address_key(pair[0]), pair[1]))
        return tuple(f"{address}/{prefixlen}" for address, prefixlen in pairs)


def build_index(snapshot: Snapshot) -> Index:
    networks = {view.id: view for view in map(_network, snapshot.networks)}
    subnets = {view.id: view for view in map(_parsed_subnet, snapshot.subnets) if view is not None}
    ports = tuple(sorted(map(_parsed_port, snapshot.ports), key=lambda port: port.id))
    routers = {view.id: view for view in map(_router, snapshot.routers)}
    workloads = tuple(sorted(map(_parsed_workload, snapshot.workloads), key=lambda w: w.id))
    by_network: dict[str, list[SubnetView]] = {}
    for subnet in sorted(subnets.values(), key=SubnetView.sort_key):
        by_network.setdefault(subnet.network_id, []).append(subnet)
    ports_by_network: dict[str, list[PortView]] = {}
    for port in ports:
        ports_by_network.setdefault(port.network_id, []).append(port)
    domain = (snapshot.dns_domain or "").strip().rstrip(".") or None
    return Index(
        networks=networks,
        subnets=subnets,
        ports=ports,
        routers=routers,
        workloads=workloads,
        ports_by_id={port.id: port for port in ports},
        subnets_by_network={key: tuple(value) for key, value in by_network.items()},
        ports_by_network={key: tuple(value) for key, value in ports_by_network.items()},
        dns_domain=domain,
    )


def _network(data: Wire) -> NetworkView:
    mtu = data.get("mtu")
    segment = data.get("provider:segmentation_id")
    return NetworkView(
        id=data["id"],
        mtu=mtu if isinstance(mtu, int) and mtu > 0 else DEFAULT_MTU,
        admin_up=bool(data.get("admin_state_up", True)),
        network_type=data.get("provider:network_type"),
        segmentation_id=segment if isinstance(segment, int) else None,
        physical_network=data.get("provider:physical_network") or None,
    )


def parse_subnet(data: Wire) -> SubnetView | None:
    """None for a subnet without a usable CIDR."""
    cidr = parse_cidr(data.get("cidr"))
    if cidr is None:
        return None
    servers = [parse_ip(text) for text in data.get("dns_nameservers") or ()]
    return SubnetView(
        id=data["id"],
        network_id=data["network_id"],
        cidr=cidr,
        gateway_ip=parse_ip(data.get("gateway_ip")),
        enable_dhcp=bool(data.get("enable_dhcp", True)),
        ra_mode=data.get("ipv6_ra_mode") if cidr.version == 6 else None,
        address_mode=data.get("ipv6_address_mode") if cidr.version == 6 else None,
        dns_nameservers=_unique(
            s
            for s in servers
            if s is not None and s.version == cidr.version and not s.is_unspecified
        ),
        host_routes=_routes(data.get("host_routes"), cidr.version),
    )


_PORTS = IdentityMemo()
_SUBNETS = IdentityMemo(1 << 14)
_WORKLOADS = IdentityMemo(1 << 16)


def _parsed_port(data: Wire) -> PortView:
    return _PORTS.get(data, lambda: _port(data))


def _parsed_subnet(data: Wire) -> SubnetView | None:
    return _SUBNETS.get(data, lambda: parse_subnet(data))


def _parsed_workload(data: Wire) -> WorkloadView:
    return _WORKLOADS.get(data, lambda: _workload(data))


def _port(data: Wire) -> PortView:
    fixed = []
    for item in data.get("fixed_ips") or ():
        address = parse_ip(item.get("ip_address"))
        if address is not None and item.get("subnet_id"):
            fixed.append(FixedIp(item["subnet_id"], address))
    return PortView(
        id=data["id"],
        network_id=data["network_id"],
        mac=str(data.get("mac_address") or "").lower(),
        device_owner=data.get("device_owner") or "",
        device_id=data.get("device_id") or "",
        admin_up=bool(data.get("admin_state_up", True)),
        host=data.get("binding:host_id") or "",
        fixed_ips=tuple(fixed),
        project_id=data.get("project_id") or "",
        pair_hosts=_unique(
            host
            for pair in data.get("allowed_address_pairs") or ()
            if (host := _single_address(pair.get("ip_address"))) is not None
        ),
    )


def _single_address(text: object) -> IPAddress | None:
    """An allowed pair's address when it names one host (``a``, ``a/128`` or ``a/32``)."""
    address = parse_ip(text)
    if address is not None:
        return address
    network = parse_cidr(text)
    if network is None or network.num_addresses != 1:
        return None
    return network.network_address


def _router(data: Wire) -> RouterView:
    gateway = data.get("external_gateway_info") or {}
    return RouterView(
        id=data["id"],
        admin_up=bool(data.get("admin_state_up", True)),
        routes=_routes(data.get("routes"), None),
        gateway_network=gateway.get("network_id") or None,
        ha=bool(data.get("ha", False)),
        distributed=bool(data.get("distributed", False)),
    )


def _workload(data: Wire) -> WorkloadView:
    return WorkloadView(
        id=data["id"],
        name=data.get("name") or "",
        host=data.get("host") or "",
        port_ids=tuple(data.get("port_ids") or ()),
        project_id=data.get("project_id") or "",
        user_data=data.get("user_data"),
        public_keys=tuple(
            (str(key.get("name")), str(key.get("key"))) for key in data.get("public_keys") or ()
        ),
        properties=tuple(
            sorted((str(k), str(v)) for k, v in (data.get("properties") or {}).items())
        ),
    )


def _routes(raw: Any, version: int | None) -> tuple[tuple[IPNetwork, IPAddress], ...]:
    """``[{destination, nexthop}]`` parsed; a route of the wrong family or unparsable is dropped."""
    routes = []
    for item in raw or ():
        destination = parse_cidr(item.get("destination"))
        nexthop = parse_ip(item.get("nexthop"))
        if destination is None or nexthop is None or destination.version != nexthop.version:
            continue
        if version is not None and destination.version != version:
            continue
        routes.append((destination, nexthop))
    return _unique(routes)


def _unique(items: Any) -> tuple:
    return tuple(dict.fromkeys(items))
