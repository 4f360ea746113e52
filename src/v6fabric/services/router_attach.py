"""Attaching a subnet or a port to a router as an interface, and detaching it: Neutron's rules.

Its own module because these are the rules of one operation each (``RouterService``'s
``add_interface`` and ``remove_interface`` run them inside their transaction), apart from the
router's CRUD; the interface ports themselves and their checks are ``router_interfaces``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, update

from v6fabric.domain.errors import (
    PortInUse,
    RouterInterfaceNotFound,
    RouterInterfaceNotFoundForSubnet,
    SubnetMismatchForPort,
    router_error,
)
from v6fabric.identity.context import RequestContext
from v6fabric.services import common
from v6fabric.services import subnets as subnet_service
from v6fabric.services.ports import ACCESS as PORT_ACCESS
from v6fabric.services.router_interfaces import (
    Interface,
    check_address_mode,
    check_new_subnets,
    check_not_used_by_routes,
    create_interface_port,
    delete_port,
    fixed_of,
    in_pools,
    interface_info,
    interface_owner,
    interfaces,
    readdress,
)
from v6fabric.store.tables import ip_allocations, ports

a = ip_allocations.c


def attach_subnet(
    conn: Connection, ctx: RequestContext, router: Any, existing: list[Interface], sid: str
) -> tuple[Any, list[str]]:
    subnet = subnet_service.ACCESS.fetch_visible(conn, ctx, sid)
    if not subnet.gateway_ip:
        raise router_error("Subnet for router interface must have a gateway IP")
    if not ctx.is_admin and subnet.project_id != ctx.project_id:
        # Neutron (LP-1757482): not even a subnet of a shared network
        raise router_error(
            f"Cannot add interface to router because subnet {subnet.id} is not owned by "
            "project making the request"
        )
    check_address_mode(subnet)
    check_new_subnets(existing, [subnet])
    gateway = {"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}
    if subnet.ip_version == 6:
        for iface in existing:
            if iface.port.network_id == subnet.network_id and iface.has_ipv6:
                readdress(conn, iface.port, [*iface.requested(), gateway])
                return iface.port, [subnet.id]
    return create_interface_port(conn, router, subnet.network_id, gateway), [subnet.id]


def attach_port(
    conn: Connection, ctx: RequestContext, router: Any, existing: list[Interface], pid: str
) -> tuple[Any, list[str]]:
    port = PORT_ACCESS.fetch_owned(conn, ctx, pid, "add_router_interface")
    if port.device_id:
        raise PortInUse(port_id=port.id, net_id=port.network_id, device_id=port.device_id)
    fixed = fixed_of(conn, [port.id])[port.id]
    if not fixed:
        raise router_error("Router port must have at least one fixed IP")
    for subnet, _ in fixed:
        check_address_mode(subnet)
    candidate = Interface(port, fixed)
    if candidate.has_ipv6:
        for iface in existing:
            if iface.port.network_id == port.network_id and iface.has_ipv6:
                raise router_error(
                    f"Router already contains IPv6 port {iface.port.id} belonging to "
                    f"network id {port.network_id}. Only one IPv6 port from the same "
                    "network subnet can be connected to a router"
                )
    check_new_subnets(existing, list({s.id: s for s, _ in fixed}.values()))
    if sum(1 for subnet, _ in fixed if subnet.ip_version == 4) > 1:
        raise router_error("Cannot have multiple IPv4 subnets on router port")
    if not ctx.is_admin:
        for subnet, ip in fixed:
            if subnet.project_id != ctx.project_id and not in_pools(subnet, ip):
                raise router_error(
                    f"Cannot add interface to router because specified port {port.id} has "
                    f"an IP address out of the allocation pool of subnet {subnet.id}, which "
                    "is not owned by the project making the request"
                )
    values = common.touched(port)
    values.update(device_id=router.id, device_owner=interface_owner(router.distributed, router.ha))
    conn.execute(update(ports).where(ports.c.id == port.id).values(**values))
    return port, candidate.subnet_ids


def detach_port(conn: Connection, router: Any, port_id: str, subnet_id: str | None) -> dict:
    iface = next((i for i in interfaces(conn, router.id) if i.port.id == port_id), None)
    if iface is None:
        raise RouterInterfaceNotFound(router_id=router.id, port_id=port_id)
    subnet_ids = iface.subnet_ids
    if subnet_id and subnet_id not in subnet_ids:
        raise SubnetMismatchForPort(port_id=port_id, subnet_id=subnet_id)
    for subnet in {s.id: s for s, _ in iface.fixed}.values():
        check_not_used_by_routes(router, subnet)
    delete_port(conn, iface.port.id)
    return interface_info(router.id, iface.port, subnet_ids[0] if subnet_ids else None, subnet_ids)


def detach_subnet(conn: Connection, ctx: RequestContext, router: Any, sid: str) -> dict:
    subnet = subnet_service.ACCESS.fetch_visible(conn, ctx, sid)
    ifaces = interfaces(conn, router.id, subnet.network_id)
    if ifaces:
        check_not_used_by_routes(router, subnet)
    for iface in ifaces:
        if subnet.id not in iface.subnet_ids:
            continue
        remaining = [r for r in iface.requested() if r["subnet_id"] != subnet.id]
        if remaining:  # a multi-prefix port: only this subnet's address goes
            conn.execute(
                delete(ip_allocations).where(a.port_id == iface.port.id, a.subnet_id == sid)
            )
            common.touch_rows(conn, ports, [iface.port.id])
        else:
            delete_port(conn, iface.port.id)
        return interface_info(router.id, iface.port, subnet.id, [subnet.id])
    raise RouterInterfaceNotFoundForSubnet(router_id=router.id, subnet_id=subnet.id)
