"""The fabric side of the store: hosts, what they report, and the consistent snapshot that the
compiler turns into each host's ``HostState``."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, or_, select, update

from v6fabric.domain.errors import HostNotFound, invalid_attribute
from v6fabric.identity.context import RequestContext
from v6fabric.services import common, dhcp_scheduler, ha_routers, l3_scheduler
from v6fabric.services.query import ListQuery
from v6fabric.services.router_placement import instance_pairs
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import fabric_revision, hosts, ports, router_hosts, workloads

if TYPE_CHECKING:
    from v6fabric.services.registry import Services

ROLES = ("compute", "network")
UNDERLAY_FAMILIES = {4: "ipv4", 6: "ipv6"}  # capabilities["underlay"] keys by IP version
PORT_STATUSES = ("ACTIVE", "DOWN", "BUILD", "ERROR")
HA_STATES = ("active", "standby")  # an HA router instance's VRRP state, as the agent reports it
MAX_IFNAME = 15  # IFNAMSIZ - 1


def _host_wire(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "roles": row.roles,
        "capabilities": row.capabilities,
        "registered_at": common.timestamp(row.registered_at),
        "seen_at": common.timestamp(row.seen_at),
        "applied": row.applied_hash,
    }


class FabricService:
    def __init__(self, db: Database, settings: Settings, services: Services) -> None:
        self.db = db
        self.settings = settings
        self.services = services

    # --- hosts ----------------------------------------------------------------------------

    def register_host(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        roles = body.get("roles") or ["compute", "network"]
        if not isinstance(roles, list) or not set(roles) <= set(ROLES):
            raise invalid_attribute("roles", f"'{roles}' is not a subset of {list(ROLES)}")
        capabilities = body.get("capabilities") or {}
        if not isinstance(capabilities, dict):
            raise invalid_attribute("capabilities", "must be an object")
        if "underlay" in capabilities:
            capabilities = {**capabilities, "underlay": _underlay(capabilities["underlay"])}
        if "physical_networks" in capabilities:
            mappings = _physical_networks(capabilities["physical_networks"])
            capabilities = {**capabilities, "physical_networks": mappings}

        def operation(txn: WriteTxn) -> dict[str, Any]:
            now = common.utcnow()
            found = txn.conn.execute(select(hosts.c.name).where(hosts.c.name == name)).first()
            if found is None:
                txn.conn.execute(
                    hosts.insert().values(
                        name=name,
                        roles=roles,
                        capabilities=capabilities,
                        registered_at=now,
                        seen_at=now,
                    )
                )
            else:
                txn.conn.execute(
                    update(hosts)
                    .where(hosts.c.name == name)
                    .values(roles=roles, capabilities=capabilities, seen_at=now)
                )
            if "network" in roles:  # routers and DHCP placed while no host was live get one now
                l3_scheduler.place_unplaced(txn.conn, self.settings)
                dhcp_scheduler.place_unplaced(txn.conn, self.settings)
            return _host_wire(txn.conn.execute(select(hosts).where(hosts.c.name == name)).one())

        return self.db.write(operation)

    def list_hosts(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [_host_wire(r) for r in conn.execute(select(hosts).order_by(hosts.c.name))]

    def get_host(self, name: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(hosts).where(hosts.c.name == name)).first()
        if row is None:
            raise HostNotFound(host=name)
        return _host_wire(row)

    def report_status(self, name: str, body: Mapping[str, Any]) -> None:
        """What the host's agent has put in place. Operational state, not intent: it does not
        bump the global revision, so it wakes no agent.

        ``ports`` and ``workloads`` may name every port and workload of the host or only those
        whose status changed since the agent's last report: only rows whose status differs
        are written either way. ``routers`` maps HA routers to their instance's state here
        (``HA_STATES``); an instance not on this host is ignored."""
        statuses = body.get("ports") or {}
        workload_statuses = body.get("workloads") or {}
        ha = body.get("routers") or {}
        for value in [*statuses.values(), *workload_statuses.values()]:
            if value not in PORT_STATUSES:
                raise invalid_attribute("status", f"'{value}' is not in {list(PORT_STATUSES)}")
        if not isinstance(ha, dict):
            raise invalid_attribute("routers", "must map router ids to HA states")
        for value in ha.values():
            if value not in HA_STATES:
                raise invalid_attribute("routers", f"'{value}' is not in {list(HA_STATES)}")

        def operation(txn: WriteTxn) -> None:
            conn = txn.conn
            seen = conn.execute(
                update(hosts)
                .where(hosts.c.name == name)
                .values(seen_at=common.utcnow(), applied_hash=body.get("applied"))
            )
            if seen.rowcount == 0:
                raise HostNotFound(host=name)
            for status, ids in _by_status(statuses).items():
                conn.execute(
                    update(ports)
                    .where(ports.c.id.in_(ids), ports.c.status != status)
                    .values(status=status)
                )
            for status, ids in _by_status(workload_statuses).items():
                conn.execute(
                    update(workloads)
                    .where(
                        workloads.c.id.in_(ids),
                        workloads.c.host == name,
                        workloads.c.status != status,
                    )
                    .values(status=status)
                )
            for state, ids in _by_status(ha).items():
                conn.execute(
                    update(router_hosts)
                    .where(
                        router_hosts.c.router_id.in_(ids),
                        router_hosts.c.host == name,
                        or_(router_hosts.c.ha_state.is_(None), router_hosts.c.ha_state != state),
                    )
                    .values(ha_state=state)
                )

        self.db.write(operation, bump_revision=False)

    # --- the snapshot ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything the compiler needs, read in one consistent transaction, as an admin sees
        it through the API (the compiler consumes Neutron's own wire shapes)."""
        with self.db.snapshot() as conn:
            return {
                "revision": read_revision(conn),
                **{kind: self.read_kind(conn, kind) for kind in SNAPSHOT_KINDS},
                "network_hosts": self.network_hosts(conn),
                "dns_domain": self.settings.dns_domain,
                "tunnel_endpoints": self.tunnel_endpoints(conn),
                "physical_interfaces": self.physical_interfaces(conn),
                "router_hosts": instance_pairs(conn),
                "ipv6_gateway": self.settings.ipv6_gateway,
                "dhcp_hosts": dhcp_scheduler.placements(conn),
                "ha_vrids": ha_routers.vrids(conn),
                "ha_advert_interval": self.settings.ha_advert_interval,
            }

    def read_kind(
        self, conn: Connection, kind: str, ids: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """One kind of the snapshot's records, all or only ``ids``, inside ``conn``'s
        transaction."""
        ctx = RequestContext.admin()
        if kind == "workloads":
            return self.services.workloads.list_in(conn, ctx, ids)
        query = ListQuery() if ids is None else ListQuery(filters={"id": list(ids)})
        service = getattr(self.services, kind)
        return service.list_in(conn, ctx, query)  # type: ignore[no-any-return]

    @staticmethod
    def network_hosts(conn: Connection) -> list[str]:
        """Hosts with the network role, oldest first (the first one runs DHCP and routers when
        no scheduler placed them: a ``Snapshot`` without ``router_hosts``/``dhcp_hosts``)."""
        return [
            row.name
            for row in conn.execute(select(hosts).order_by(hosts.c.registered_at, hosts.c.name))
            if "network" in row.roles
        ]

    def tunnel_endpoints(self, conn: Connection) -> dict[str, str]:
        """Each host's underlay address in the overlay's family, as its agent registered it."""
        return self.endpoints_of(conn, UNDERLAY_FAMILIES[self.settings.overlay_ip_version])

    @staticmethod
    def physical_interfaces(conn: Connection) -> tuple[tuple[str, str, str], ...]:
        """``(host, physnet, iface)`` of every host's registered physical network mappings."""
        found = []
        for row in conn.execute(select(hosts.c.name, hosts.c.capabilities)):
            mappings = (row.capabilities or {}).get("physical_networks") or {}
            found += [(row.name, physnet, iface) for physnet, iface in mappings.items()]
        return tuple(sorted(found))

    @staticmethod
    def endpoints_of(conn: Connection, family: str) -> dict[str, str]:
        found = {}
        for row in conn.execute(select(hosts.c.name, hosts.c.capabilities)):
            address = ((row.capabilities or {}).get("underlay") or {}).get(family)
            if address:
                found[row.name] = address
        return found


def _underlay(value: Any) -> dict[str, str]:
    """The host's tunnel endpoints ``{"ipv4": ..., "ipv6": ...}``, each a unicast address of
    its family that another host can reach (not loopback, link-local or multicast)."""
    if not isinstance(value, dict) or not set(value) <= set(UNDERLAY_FAMILIES.values()):
        raise invalid_attribute("capabilities", "'underlay' must map 'ipv4'/'ipv6' to addresses")
    found = {}
    for family, text in value.items():
        try:
            address = ipaddress.ip_address(text) if isinstance(text, str) else None
        except ValueError:
            address = None
        if (
            address is None
            or UNDERLAY_FAMILIES[address.version] != family
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_unspecified
        ):
            raise invalid_attribute(
                "capabilities", f"'{text}' is not a usable {family} underlay address"
            )
        found[family] = str(address)
    return found


def _physical_networks(value: Any) -> dict[str, str]:
    """``{"physnet1": "eth1"}``: names of physical networks to the host's interface names (a
    Linux name: 1-15 characters, no ``/``, no white space, not ``.`` or ``..``)."""
    if not isinstance(value, dict):
        raise invalid_attribute("capabilities", "'physical_networks' must map names to interfaces")
    for physnet, iface in value.items():
        if not (isinstance(physnet, str) and 0 < len(physnet) <= 64 and physnet.isprintable()):
            raise invalid_attribute("capabilities", f"'{physnet}' is not a physical network name")
        if (
            not isinstance(iface, str)
            or not 0 < len(iface) <= MAX_IFNAME
            or iface in (".", "..")
            or any(c == "/" or c.isspace() or not c.isprintable() for c in iface)
        ):
            raise invalid_attribute(
                "capabilities", f"'{iface}' is not an interface name (for {physnet})"
            )
    if len(set(value.values())) != len(value):
        raise invalid_attribute("capabilities", "two physical networks on one interface")
    return dict(sorted(value.items()))


def _by_status(statuses: Mapping[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for item, status in statuses.items():
        grouped.setdefault(status, []).append(item)
    return grouped


SNAPSHOT_KINDS = ("networks", "subnets", "ports", "routers", "workloads", "security_groups")


def read_revision(conn: Connection) -> int:
    return int(conn.execute(select(fabric_revision.c.value)).scalar_one())
