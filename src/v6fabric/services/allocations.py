"""Address allocation against the store: the IPAM decisions of ``ipam/`` applied to rows."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from v6fabric.domain.addresses import eui64_address, parse_cidr
from v6fabric.domain.constants import ROUTER_INTERFACE_OWNERS
from v6fabric.domain.errors import IpAddressGenerationFailure
from v6fabric.domain.subnet_rules import is_auto_address
from v6fabric.ipam.allocator import choose_address
from v6fabric.ipam.pools import pools_from_wire
from v6fabric.store.tables import ip_allocations, ports

_rng = random.SystemRandom()


def is_auto(subnet: Any) -> bool:
    return is_auto_address(subnet.ipv6_ra_mode, subnet.ipv6_address_mode)


def is_router_owner(device_owner: str) -> bool:
    return device_owner in ROUTER_INTERFACE_OWNERS


# Built once: constructing a statement costs more than running it on SQLite.
_TAKEN = select(ip_allocations.c.port_id).where(
    ip_allocations.c.subnet_id == bindparam("subnet_id"),
    ip_allocations.c.ip_address == bindparam("ip"),
)


def is_taken(conn: Connection, subnet_id: str, ip: str) -> bool:
    return conn.execute(_TAKEN, {"subnet_id": subnet_id, "ip": ip}).first() is not None


def eui64_for(subnet: Any, mac: str) -> str:
    return str(eui64_address(parse_cidr(subnet.cidr), mac))  # type: ignore[arg-type]


def allocate_from_pools(conn: Connection, subnet: Any) -> str:
    """A free address from the subnet's pools (stateful IPv6 and IPv4)."""
    cls = type(parse_cidr(subnet.cidr).network_address)  # type: ignore[union-attr]

    def taken(candidate: int) -> bool:
        return is_taken(conn, subnet.id, str(cls(candidate)))

    def used() -> set[int]:
        rows = conn.execute(
            select(ip_allocations.c.ip_address).where(ip_allocations.c.subnet_id == subnet.id)
        ).scalars()
        return {int(cls(ip)) for ip in rows}

    chosen = choose_address(pools_from_wire(subnet.allocation_pools), taken, used, _rng)
    if chosen is None:
        raise IpAddressGenerationFailure(net_id=subnet.network_id)
    return str(cls(chosen))


def add_eui64_to_network_ports(conn: Connection, subnet: Any) -> None:
    """A new auto-address subnet gives every existing non-router port its EUI-64 address."""
    rows = conn.execute(
        select(ports.c.id, ports.c.mac_address, ports.c.device_owner).where(
            ports.c.network_id == subnet.network_id
        )
    ).all()
    values = [
        {
            "subnet_id": subnet.id,
            "ip_address": eui64_for(subnet, row.mac_address),
            "port_id": row.id,
            "network_id": subnet.network_id,
            "position": 100,
        }
        for row in rows
        if not is_router_owner(row.device_owner)
    ]
    if values:
        conn.execute(ip_allocations.insert(), values)


def release_user_allocations(conn: Connection, subnet_id: str) -> None:
    """Deleting an auto-address subnet silently drops the addresses of ordinary ports."""
    router_ports = select(ports.c.id).where(ports.c.device_owner.in_(ROUTER_INTERFACE_OWNERS))
    conn.execute(
        delete(ip_allocations).where(
            ip_allocations.c.subnet_id == subnet_id,
            ip_allocations.c.port_id.not_in(router_ports),
        )
    )
