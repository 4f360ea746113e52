"""L3 HA on the server (issue 7): an HA router's instances, their ``ha-`` ports, the project's
HA network and the router's VRID.

Each instance of an HA router (a ``router_hosts`` row) has a port on its project's HA network
(device_owner ``network:router_ha_interface``, device_id the router, bound to the instance's
host, no project, no addresses): keepalived speaks VRRP from the port's EUI-64 link-local to
the other instances'. The HA network (``HA network tenant <project>``, no project, the tenant
network type) is made with the project's first HA router and deleted with its last; tenants
never see it nor its ports (they belong to no project). Everything here runs inside the
caller's write, so a refused request leaves none of it behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from v6fabric.domain.constants import DEVICE_OWNER_ROUTER_HA_PORT
from v6fabric.domain.errors import Conflict
from v6fabric.services import common
from v6fabric.services.network_ports import insert_network_port
from v6fabric.services.segments import max_mtu, reserve_segment
from v6fabric.settings import Settings
from v6fabric.store.tables import (
    ha_networks,
    ip_allocations,
    networks,
    ports,
    router_hosts,
    routers,
)

MAX_VRID = 255  # VRRP's virtual router ids are 1..255
HA_NETWORK_NAME = "HA network tenant {project}"  # Neutron's names
HA_PORT_NAME = "HA port tenant {project}"


class NoVRIDAvailable(Conflict):
    template = (
        "No more Virtual Router Identifier (VRID) available when creating router {router_id}. "
        "The limit of number of HA Routers per tenant is 254."
    )


def ha_router_ids(conn: Connection) -> set[str]:
    return set(conn.execute(select(routers.c.id).where(routers.c.ha.is_(True))).scalars())


def vrids(conn: Connection) -> dict[str, int]:
    """Router id -> VRID, of every HA router (the snapshot's ``ha_vrids``)."""
    rows = conn.execute(
        select(routers.c.id, routers.c.ha_vr_id).where(
            routers.c.ha.is_(True), routers.c.ha_vr_id.is_not(None)
        )
    )
    return {row.id: row.ha_vr_id for row in rows}


def network_of(conn: Connection, project_id: str) -> str | None:
    """The project's HA network, if it has one."""
    return conn.execute(
        select(ha_networks.c.network_id).where(ha_networks.c.project_id == project_id)
    ).scalar()


def in_use(conn: Connection, network_id: str) -> bool:
    """An HA network stays while its project has an HA router (even one without instances)."""
    project = conn.execute(
        select(ha_networks.c.project_id).where(ha_networks.c.network_id == network_id)
    ).scalar()
    if project is None:
        return False
    still = select(routers.c.id).where(routers.c.project_id == project, routers.c.ha.is_(True))
    return conn.execute(still.limit(1)).first() is not None


def ensure_network(conn: Connection, settings: Settings, project_id: str) -> str:
    """The project's HA network, made now if it has none: the tenant network type, MTU as any
    tenant network's."""
    found = network_of(conn, project_id)
    if found is not None:
        return found
    segment = reserve_segment(conn, settings, None)
    network_id = common.new_id()
    conn.execute(
        networks.insert().values(
            **common.new_standard_values(
                network_id, "", {"name": HA_NETWORK_NAME.format(project=project_id)}
            ),
            admin_state_up=True,
            status="ACTIVE",
            shared=False,
            external=False,
            mtu=max_mtu(settings, segment.network_type),
            port_security_enabled=False,
            network_type=segment.network_type,
            physical_network=segment.physical_network,
            segmentation_id=segment.segmentation_id,
        )
    )
    conn.execute(ha_networks.insert().values(project_id=project_id, network_id=network_id))
    return network_id


def release_network(conn: Connection, project_id: str) -> None:
    """Delete the project's HA network once none of its routers is HA."""
    network_id = network_of(conn, project_id)
    if network_id is None:
        return
    still = select(routers.c.id).where(routers.c.project_id == project_id, routers.c.ha.is_(True))
    if conn.execute(still.limit(1)).first() is not None:
        return
    left = list(conn.execute(select(ports.c.id).where(ports.c.network_id == network_id)).scalars())
    _delete_ports(conn, left)
    conn.execute(delete(ha_networks).where(ha_networks.c.project_id == project_id))
    conn.execute(delete(networks).where(networks.c.id == network_id))


def allocate_vrid(conn: Connection, router: Any) -> int:
    """The lowest VRID none of the project's HA routers has."""
    used = set(
        conn.execute(
            select(routers.c.ha_vr_id).where(
                routers.c.project_id == router.project_id,
                routers.c.ha_vr_id.is_not(None),
                routers.c.id != router.id,
            )
        ).scalars()
    )
    for vrid in range(1, MAX_VRID + 1):
        if vrid not in used:
            return vrid
    raise NoVRIDAvailable(router_id=router.id)


def make_ha(conn: Connection, settings: Settings, router: Any) -> None:
    """Turn ``router`` HA: a VRID, and an ``ha-`` port for each instance it has (the caller
    then brings it to its number of instances, ``l3_scheduler.top_up``)."""
    conn.execute(
        update(routers)
        .where(routers.c.id == router.id)
        .values(ha=True, ha_vr_id=allocate_vrid(conn, router))
    )
    ensure_network(conn, settings, router.project_id)
    hosts = conn.execute(
        select(router_hosts.c.host).where(router_hosts.c.router_id == router.id)
    ).scalars()
    for host in sorted(hosts):
        add_port(conn, settings, router.id, router.project_id, host)


def make_plain(conn: Connection, router: Any) -> None:
    """Turn ``router`` back into a router on one host: its first instance stays (by host name),
    the others go with every ``ha-`` port, the VRID, and the HA network if it was the last."""
    hosts = sorted(
        conn.execute(
            select(router_hosts.c.host).where(router_hosts.c.router_id == router.id)
        ).scalars()
    )
    if len(hosts) > 1:
        conn.execute(
            delete(router_hosts).where(
                router_hosts.c.router_id == router.id, router_hosts.c.host.in_(hosts[1:])
            )
        )
    if hosts:
        conn.execute(
            update(router_hosts)
            .where(router_hosts.c.router_id == router.id, router_hosts.c.host == hosts[0])
            .values(ha_state=None)
        )
    _delete_ports(conn, port_ids(conn, router.id))
    conn.execute(update(routers).where(routers.c.id == router.id).values(ha=False, ha_vr_id=None))
    release_network(conn, router.project_id)


def forget(conn: Connection, router: Any) -> None:
    """Before an HA router is deleted: its ``ha-`` ports (its instances go with its row)."""
    _delete_ports(conn, port_ids(conn, router.id))


def add_instance(
    conn: Connection, settings: Settings, router_id: str, host: str, now: datetime
) -> None:
    """One more instance of the HA router, on ``host``, with its ``ha-`` port."""
    conn.execute(router_hosts.insert().values(router_id=router_id, host=host, scheduled_at=now))
    project = conn.execute(select(routers.c.project_id).where(routers.c.id == router_id)).scalar()
    add_port(conn, settings, router_id, project or "", host)


def move_instance(conn: Connection, router_id: str, old: str, new: str, now: datetime) -> bool:
    """Move the instance on ``old`` to ``new`` (if it still is on ``old``); its ``ha-`` port
    follows, keeping its MAC, so the other instances' peer address stays the same."""
    moved = conn.execute(
        update(router_hosts)
        .where(router_hosts.c.router_id == router_id, router_hosts.c.host == old)
        .values(host=new, scheduled_at=now, ha_state=None)
    )
    if not moved.rowcount:
        return False
    found = port_ids(conn, router_id, old)
    if found:
        conn.execute(update(ports).where(ports.c.id.in_(found)).values(binding_host_id=new))
        common.touch_rows(conn, ports, found)
    return True


def remove_instance(conn: Connection, router_id: str, host: str) -> None:
    conn.execute(
        delete(router_hosts).where(
            router_hosts.c.router_id == router_id, router_hosts.c.host == host
        )
    )
    _delete_ports(conn, port_ids(conn, router_id, host))


def add_port(conn: Connection, settings: Settings, router_id: str, project: str, host: str) -> str:
    network_id = ensure_network(conn, settings, project)
    identity = insert_network_port(
        conn,
        network_id=network_id,
        project_id="",
        device_owner=DEVICE_OWNER_ROUTER_HA_PORT,
        device_id=router_id,
    )
    conn.execute(
        update(ports)
        .where(ports.c.id == identity.id)
        .values(binding_host_id=host, name=HA_PORT_NAME.format(project=project))
    )
    return identity.id


def port_ids(conn: Connection, router_id: str, host: str | None = None) -> list[str]:
    """The router's ``ha-`` ports (those bound to ``host`` only, when given)."""
    stmt = select(ports.c.id).where(
        ports.c.device_id == router_id, ports.c.device_owner == DEVICE_OWNER_ROUTER_HA_PORT
    )
    if host is not None:
        stmt = stmt.where(ports.c.binding_host_id == host)
    return sorted(conn.execute(stmt).scalars())


def _delete_ports(conn: Connection, ids: Iterable[str]) -> None:
    ids = list(ids)
    if ids:
        conn.execute(delete(ip_allocations).where(ip_allocations.c.port_id.in_(ids)))
        conn.execute(delete(ports).where(ports.c.id.in_(ids)))
