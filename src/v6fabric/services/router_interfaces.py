"""Router interfaces: the ports that carry a router's gateway addresses, and their checks.

Their device_owner is the router's mode's, as Neutron's (clients filter ports by it): a
distributed router's ``network:router_interface_distributed``, an HA router's
``network:ha_router_replicated_interface``, any other's ``network:router_interface``
(``interface_owner``). Everything that looks for interfaces takes all three
(``ROUTER_INTERFACE_OWNERS``); a mode change re-owns them (``reown_interfaces``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.addresses import parse_cidr, parse_ip
from v6fabric.domain.constants import (
    DEVICE_OWNER_DVR_INTERFACE,
    DEVICE_OWNER_ROUTER_GATEWAY,
    DEVICE_OWNER_ROUTER_HA_INTERFACE,
    DEVICE_OWNER_ROUTER_INTERFACE,
    ROUTER_INTERFACE_OWNERS,
    ROUTER_PORT_OWNERS,
)
from v6fabric.domain.errors import (
    RouterInterfaceInUseByRoute,
    ServicePortInUse,
    router_error,
)
from v6fabric.services import common, fixed_ips
from v6fabric.services.network_ports import insert_network_port
from v6fabric.store.tables import ip_allocations, ports, routers, subnets

a = ip_allocations.c


def interface_owner(distributed: bool, ha: bool) -> str:
    """The device_owner of a router's interfaces in this mode (Neutron's ``_get_device_owner``:
    distributed wins, should a router ever be both)."""
    if distributed:
        return DEVICE_OWNER_DVR_INTERFACE
    if ha:
        return DEVICE_OWNER_ROUTER_HA_INTERFACE
    return DEVICE_OWNER_ROUTER_INTERFACE


def reown_interfaces(conn: Connection, router_id: str, owner: str) -> None:
    """After a mode change: the router's interfaces take ``owner`` (Neutron's
    ``_migrate_router_ports``), each a new revision."""
    found = list(
        conn.execute(
            select(ports.c.id).where(
                ports.c.device_id == router_id,
                ports.c.device_owner.in_(ROUTER_INTERFACE_OWNERS),
                ports.c.device_owner != owner,
            )
        ).scalars()
    )
    if found:
        conn.execute(update(ports).where(ports.c.id.in_(found)).values(device_owner=owner))
        common.touch_rows(conn, ports, found)


@dataclass(frozen=True)
class Interface:
    """One interface port of a router with its (subnet row, address) pairs in port order."""

    port: Any
    fixed: list[tuple[Any, str]]

    @property
    def has_ipv6(self) -> bool:
        return any(subnet.ip_version == 6 for subnet, _ in self.fixed)

    @property
    def subnet_ids(self) -> list[str]:
        return list(dict.fromkeys(subnet.id for subnet, _ in self.fixed))

    def requested(self) -> list[dict[str, str]]:
        return [{"subnet_id": s.id, "ip_address": ip} for s, ip in self.fixed]


def fixed_of(conn: Connection, port_ids: Sequence[str]) -> dict[str, list[tuple[Any, str]]]:
    out: dict[str, list[tuple[Any, str]]] = {port_id: [] for port_id in port_ids}
    if not port_ids:
        return out
    allocated = conn.execute(
        select(a.port_id, a.subnet_id, a.ip_address)
        .where(a.port_id.in_(list(port_ids)))
        .order_by(a.port_id, a.position)
    ).all()
    wanted = {row.subnet_id for row in allocated}
    by_id = {s.id: s for s in conn.execute(select(subnets).where(subnets.c.id.in_(wanted)))}
    for row in allocated:
        out[row.port_id].append((by_id[row.subnet_id], row.ip_address))
    return out


def interfaces(
    conn: Connection, router_id: str, network_id: str | None = None, with_gateway: bool = False
) -> list[Interface]:
    """The router's interface ports (and its gateway port, last, if ``with_gateway``: routes
    may go via the external subnets, and no interface may overlap them)."""
    owners = sorted(ROUTER_INTERFACE_OWNERS)
    if with_gateway:
        owners.append(DEVICE_OWNER_ROUTER_GATEWAY)
    stmt = select(ports).where(ports.c.device_id == router_id, ports.c.device_owner.in_(owners))
    if network_id is not None:
        stmt = stmt.where(ports.c.network_id == network_id)
    rows = conn.execute(stmt.order_by(ports.c.created_at, ports.c.id)).all()
    rows.sort(key=lambda row: row.device_owner == DEVICE_OWNER_ROUTER_GATEWAY)
    fixed = fixed_of(conn, [r.id for r in rows])
    return [Interface(r, fixed[r.id]) for r in rows]


def interface_info(
    router_id: str, port: Any, subnet_id: str | None, subnet_ids: list[str]
) -> dict[str, Any]:
    return {
        "id": router_id,
        "tenant_id": port.project_id,
        "project_id": port.project_id,
        "port_id": port.id,
        "network_id": port.network_id,
        "subnet_id": subnet_id,
        "subnet_ids": subnet_ids,
    }


def by_port(body: Mapping[str, Any], for_removal: bool) -> bool:
    """Neutron's _validate_interface_info: True for a port, False for a subnet."""
    by_port, by_subnet = "port_id" in body, "subnet_id" in body
    if not (by_port or by_subnet):
        raise router_error("Either subnet_id or port_id must be specified")
    for key in ("port_id", "subnet_id"):
        if key in body and not common.is_uuid(body[key]):
            raise router_error(f"'{body[key]}' is not a valid UUID")
    if by_port and by_subnet and not for_removal:
        raise router_error("Cannot specify both subnet-id and port-id")
    return by_port


def check_address_mode(subnet: Any) -> None:
    if subnet.ip_version == 6 and subnet.ipv6_ra_mode is None and subnet.ipv6_address_mode:
        raise router_error(
            f"IPv6 subnet {subnet.id} configured to receive RAs from an external router "
            "cannot be added to Neutron Router"
        )


def check_new_subnets(existing: Sequence[Interface], new: Sequence[Any]) -> None:
    """No subnet twice on one router, and no two overlapping subnets on it."""
    new_ids = {s.id for s in new}
    attached = [subnet for iface in existing for subnet, _ in iface.fixed]
    for subnet in attached:
        if subnet.id in new_ids:
            raise router_error(f"Router already has a port on subnet {subnet.id}")
    for subnet in attached:
        for candidate in new:
            if subnet.ip_version == candidate.ip_version and parse_cidr(subnet.cidr).overlaps(  # type: ignore[union-attr]
                parse_cidr(candidate.cidr)  # type: ignore[arg-type]
            ):
                raise router_error(
                    f"Cidr {candidate.cidr} of subnet {candidate.id} overlaps with cidr "
                    f"{subnet.cidr} of subnet {subnet.id}"
                )


def check_not_used_by_routes(router: Any, subnet: Any) -> None:
    cidr = parse_cidr(subnet.cidr)
    for route in router.routes:
        nexthop = parse_ip(route["nexthop"])
        if nexthop is not None and nexthop.version == cidr.version and nexthop in cidr:  # type: ignore[union-attr,operator]
            raise RouterInterfaceInUseByRoute(router_id=router.id, subnet_id=subnet.id)


def in_pools(subnet: Any, ip: str) -> bool:
    address = parse_ip(ip)
    return any(
        parse_ip(p["start"]) <= address <= parse_ip(p["end"])  # type: ignore[operator]
        for p in subnet.allocation_pools
    )


def readdress(conn: Connection, port: Any, requested: list[dict[str, str]]) -> None:
    """Replace a router port's addresses by ``requested`` (chosen addresses, in order)."""
    conn.execute(delete(ip_allocations).where(a.port_id == port.id))
    identity = fixed_ips.PortIdentity(port.id, port.network_id, port.mac_address, port.device_owner)
    fixed_ips.assign(conn, identity, requested)
    common.touch_rows(conn, ports, [port.id])


def prevent_router_port_deletion(conn: Connection, port: Any) -> None:
    """Neutron's prevent_l3_port_deletion: a live router's port goes only through the router API.

    ``port`` is the ports row about to be deleted via DELETE /v2.0/ports/{id}.
    """
    if port.device_owner not in ROUTER_PORT_OWNERS or not port.device_id:
        return
    if conn.execute(select(routers.c.id).where(routers.c.id == port.device_id)).first() is None:
        return  # the router is gone: a stale port may be removed
    raise ServicePortInUse(port_id=port.id, reason=f"has device owner {port.device_owner}")


def delete_port(conn: Connection, port_id: str) -> None:
    conn.execute(delete(ip_allocations).where(a.port_id == port_id))
    conn.execute(delete(ports).where(ports.c.id == port_id))


def create_interface_port(
    conn: Connection, router: Any, network_id: str, gateway: dict[str, str]
) -> Any:
    identity = insert_network_port(
        conn,
        network_id=network_id,
        project_id=router.project_id,
        device_owner=interface_owner(router.distributed, router.ha),
        device_id=router.id,
    )
    fixed_ips.assign(conn, identity, [gateway])
    return conn.execute(select(ports).where(ports.c.id == identity.id)).one()
