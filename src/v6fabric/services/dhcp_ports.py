"""The DHCP port of a network: where its dnsmasq (and RA for isolated networks) listens.

As Neutron's DHCP agent does, a network with at least one DHCP-enabled subnet has one port
owned by ``network:dhcp`` with an address on each such subnet: dnsmasq can only serve a subnet
from an interface that holds an address in it. The port is kept in step with the subnets
inside the same transaction as the subnet change, so it never lags behind; so is the network's
placement on a DHCP host (``dhcp_scheduler``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select

from v6fabric.domain.constants import DEVICE_OWNER_DHCP
from v6fabric.services import dhcp_scheduler, fixed_ips
from v6fabric.services.network_ports import insert_network_port
from v6fabric.settings import Settings
from v6fabric.store.tables import ip_allocations, networks, ports, subnets


def dhcp_port_ids(conn: Connection, network_id: str) -> list[str]:
    return list(
        conn.execute(
            select(ports.c.id).where(
                ports.c.network_id == network_id, ports.c.device_owner == DEVICE_OWNER_DHCP
            )
        ).scalars()
    )


def release_dhcp_addresses(conn: Connection, subnet_id: str) -> None:
    """A subnet being deleted takes its DHCP-port address with it (it is not 'in use')."""
    dhcp = select(ports.c.id).where(ports.c.device_owner == DEVICE_OWNER_DHCP)
    conn.execute(
        delete(ip_allocations).where(
            ip_allocations.c.subnet_id == subnet_id, ip_allocations.c.port_id.in_(dhcp)
        )
    )


def sync_dhcp_port(conn: Connection, settings: Settings, network_id: str) -> None:
    """One DHCP port while any subnet has DHCP, with an address on each DHCP subnet; the
    network's DHCP placement (``dhcp_scheduler``) follows the port."""
    wanted = list(
        conn.execute(
            select(subnets.c.id)
            .where(subnets.c.network_id == network_id, subnets.c.enable_dhcp.is_(True))
            .order_by(subnets.c.created_at, subnets.c.id)
        ).scalars()
    )
    existing = dhcp_port_ids(conn, network_id)
    dhcp_scheduler.follow_dhcp_port(conn, settings, network_id, bool(wanted))
    if not wanted:
        if existing:
            conn.execute(delete(ports).where(ports.c.id.in_(existing)))
        return
    port = _existing_port(conn, existing[0]) if existing else _new_port(conn, network_id)
    previous = [
        (sub, ip)
        for sub, ip in conn.execute(
            select(ip_allocations.c.subnet_id, ip_allocations.c.ip_address).where(
                ip_allocations.c.port_id == port.id
            )
        )
    ]
    if sorted(sub for sub, _ in previous) == sorted(wanted):
        return
    conn.execute(delete(ip_allocations).where(ip_allocations.c.port_id == port.id))
    fixed_ips.assign(conn, port, [{"subnet_id": s} for s in wanted], previous)


def _existing_port(conn: Connection, port_id: str) -> fixed_ips.PortIdentity:
    row = conn.execute(select(ports).where(ports.c.id == port_id)).one()
    return fixed_ips.PortIdentity(row.id, row.network_id, row.mac_address, row.device_owner)


def _new_port(conn: Connection, network_id: str) -> fixed_ips.PortIdentity:
    network: Any = conn.execute(select(networks).where(networks.c.id == network_id)).one()
    return insert_network_port(
        conn,
        network_id=network_id,
        project_id=network.project_id,
        device_owner=DEVICE_OWNER_DHCP,
        device_id=f"dhcp-{network_id}",
    )
