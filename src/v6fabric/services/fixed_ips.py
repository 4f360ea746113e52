"""Which addresses a port gets: Neutron's fixed_ips rules, plus R8 (chosen SLAAC addresses).

On every auto-address (SLAAC or DHCPv6-stateless) subnet a non-router port gets its EUI-64
address unless the request names another address on that subnet, which v6fabric accepts and
reports (Neutron refuses it). Without ``fixed_ips`` a port also gets one address from one IPv4
subnet and one from one stateful IPv6 subnet, allocated from the pools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from v6fabric.domain.addresses import parse_cidr, parse_ip
from v6fabric.domain.errors import (
    InvalidInput,
    InvalidIpForNetwork,
    InvalidIpForSubnet,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
    invalid_attribute,
)
from v6fabric.services import allocations
from v6fabric.store.tables import ip_allocations, subnets


@dataclass(frozen=True)
class PortIdentity:
    id: str
    network_id: str
    mac_address: str
    device_owner: str


def network_subnets(conn: Connection, network_id: str) -> list[Any]:
    return list(
        conn.execute(
            select(subnets)
            .where(subnets.c.network_id == network_id)
            .order_by(subnets.c.created_at, subnets.c.id)
        )
    )


def _check_ip_for_subnet(ip: Any, subnet: Any, is_router: bool) -> None:
    cidr = parse_cidr(subnet.cidr)
    if ip.version != cidr.version or ip not in cidr:  # type: ignore[union-attr,operator]
        raise InvalidIpForSubnet(ip_address=ip)
    edges = (cidr.network_address, cidr.broadcast_address)  # type: ignore[union-attr]
    if cidr.version == 4 and cidr.prefixlen < 31 and ip in edges:  # type: ignore[union-attr]
        raise InvalidIpForSubnet(ip_address=ip)
    if cidr.version == 6 and ip == cidr.network_address and not is_router:  # type: ignore[union-attr]
        raise InvalidIpForSubnet(ip_address=ip)


class _Assigner:
    """Inserts allocations one by one so later choices in one request see earlier ones."""

    def __init__(self, conn: Connection, port: PortIdentity) -> None:
        self.conn = conn
        self.port = port
        self.is_router = allocations.is_router_owner(port.device_owner)
        self.rows: list[dict[str, Any]] = []

    def take(self, subnet: Any, ip: str) -> None:
        if any(r["ip_address"] == ip and r["subnet_id"] == subnet.id for r in self.rows):
            raise InvalidInput(f"Duplicate IP address '{ip}'")
        if allocations.is_taken(self.conn, subnet.id, ip):
            raise IpAddressAlreadyAllocated(ip=ip, subnet_id=subnet.id)
        row = {
            "subnet_id": subnet.id,
            "ip_address": ip,
            "port_id": self.port.id,
            "network_id": self.port.network_id,
            "position": len(self.rows),
        }
        self.conn.execute(ip_allocations.insert().values(**row))
        self.rows.append(row)

    def generate(self, subnet: Any) -> None:
        if allocations.is_auto(subnet) and not self.is_router:
            self.take(subnet, allocations.eui64_for(subnet, self.port.mac_address))
        else:
            self.take(subnet, allocations.allocate_from_pools(self.conn, subnet))

    def covers(self, subnet: Any) -> bool:
        return any(r["subnet_id"] == subnet.id for r in self.rows)


def assign(
    conn: Connection,
    port: PortIdentity,
    requested: Sequence[dict] | None,
    previous: Sequence[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """Insert the port's allocations; ``previous`` (subnet, ip) pairs are kept where Neutron would."""
    candidates = network_subnets(conn, port.network_id)
    by_id = {s.id: s for s in candidates}
    assigner = _Assigner(conn, port)
    reusable = list(previous)

    def reuse_on(subnet: Any) -> bool:
        for pair in reusable:
            if pair[0] == subnet.id:
                reusable.remove(pair)
                assigner.take(subnet, pair[1])
                return True
        return False

    if requested is None:
        for version in (4, 6):
            pooled = [
                s for s in candidates if s.ip_version == version and not allocations.is_auto(s)
            ]
            _allocate_first_free(assigner, pooled)
    else:
        for entry in requested:
            _assign_entry(conn, assigner, by_id, entry, reuse_on)
    for subnet in candidates:
        wants_eui64 = allocations.is_auto(subnet) and not assigner.is_router
        if wants_eui64 and not assigner.covers(subnet) and not reuse_on(subnet):
            assigner.generate(subnet)
    return assigner.rows


def _allocate_first_free(assigner: _Assigner, pooled: Sequence[Any]) -> None:
    for subnet in pooled:
        try:
            assigner.generate(subnet)
            return
        except IpAddressGenerationFailure:
            continue
    if pooled:
        raise IpAddressGenerationFailure(net_id=assigner.port.network_id)


def _assign_entry(
    conn: Connection, assigner: _Assigner, by_id: dict, entry: Any, reuse_on: Any
) -> None:
    if not isinstance(entry, dict) or not entry or set(entry) - {"subnet_id", "ip_address"}:
        raise invalid_attribute("fixed_ips", f"Invalid data format for fixed IP: '{entry}'")
    subnet = None
    if entry.get("subnet_id") is not None:
        subnet = by_id.get(entry["subnet_id"])
        if subnet is None:
            raise InvalidInput(
                f"Failed to create port on network {assigner.port.network_id}, because "
                f"fixed_ips included invalid subnet {entry['subnet_id']}"
            )
    if entry.get("ip_address") is None:
        if subnet is None:
            raise invalid_attribute("fixed_ips", f"Invalid data format for fixed IP: '{entry}'")
        if not reuse_on(subnet):
            assigner.generate(subnet)
        return
    ip = parse_ip(entry["ip_address"])
    if ip is None:
        raise invalid_attribute("fixed_ips", f"'{entry['ip_address']}' is not a valid IP address")
    if subnet is None:
        subnet = next(
            (s for s in by_id.values() if ip.version == s.ip_version and ip in parse_cidr(s.cidr)),  # type: ignore[operator]
            None,
        )
        if subnet is None:
            raise InvalidIpForNetwork(ip_address=ip)
    _check_ip_for_subnet(ip, subnet, assigner.is_router)
    assigner.take(subnet, str(ip))
