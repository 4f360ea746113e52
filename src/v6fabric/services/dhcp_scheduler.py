"""The DHCP scheduler: which network host runs each network's DHCP (its ``v6d-`` namespace,
DHCP ports, dnsmasq, the RAs of its isolated subnets and the metadata listener on its leg), and
moving it off a host that stopped reporting.

Neutron's DHCP agent scheduler with one agent per network (``dhcp_agents_per_network = 1``):
a network is placed when it gets its DHCP port (``services.dhcp_ports``: its first
DHCP-enabled subnet) on the live network host running the fewest networks' DHCP, ties broken
by name, among those that can carry the network (``bindings.refusal``: a flat network's
physical network, the segment type, a tunnel endpoint); it loses its placement with its DHCP
port. Liveness, failover and their guarded
writes are the L3 scheduler's (``scheduling.Scheduler``, run by the same ``Rescheduler``
thread): a network whose DHCP host is not live moves to the least-loaded live one, and the
revision bump makes both hosts' agents follow. A network placed while no network host was live
is placed when one registers (``FabricService.register_host``) or by the next pass.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, delete, select

from v6fabric.domain.constants import DEVICE_OWNER_DHCP
from v6fabric.services.scheduling import Scheduler, place_in, placements_in
from v6fabric.settings import Settings
from v6fabric.store.tables import network_dhcp_hosts, ports


def placements(conn: Connection) -> dict[str, str]:
    """Network id -> the host of its DHCP, for every placed network."""
    return placements_in(conn, network_dhcp_hosts)


def unplaced_networks(conn: Connection) -> list[str]:
    """Networks with a DHCP port and no DHCP host."""
    placed = select(network_dhcp_hosts.c.network_id)
    query = (
        select(ports.c.network_id)
        .where(ports.c.device_owner == DEVICE_OWNER_DHCP, ports.c.network_id.not_in(placed))
        .distinct()
    )
    return sorted(conn.execute(query).scalars())


def place_unplaced(conn: Connection, settings: Settings) -> dict[str, str]:
    """Place every network that has a DHCP port and no host (when a network host registers),
    inside the caller's transaction; the ones placed (none while no network host is live)."""
    return place_in(conn, settings, network_dhcp_hosts, unplaced_networks(conn), _itself)


def follow_dhcp_port(
    conn: Connection, settings: Settings, network_id: str, has_dhcp_port: bool
) -> None:
    """Keep the network's placement in step with its DHCP port, in the port's transaction:
    placed when it has one (and is not placed yet), unplaced when it has none."""
    placed = conn.execute(
        select(network_dhcp_hosts.c.host).where(network_dhcp_hosts.c.network_id == network_id)
    ).first()
    if has_dhcp_port and placed is None:
        place_in(conn, settings, network_dhcp_hosts, [network_id], _itself)
    elif not has_dhcp_port and placed is not None:
        conn.execute(
            delete(network_dhcp_hosts).where(network_dhcp_hosts.c.network_id == network_id)
        )


class DhcpScheduler(Scheduler):
    table = network_dhcp_hosts
    what = "DHCP of network"
    hosts_noun = "DHCP"

    def unplaced(self, conn: Connection) -> list[str]:
        return unplaced_networks(conn)

    def carried(self, conn: Connection) -> Callable[[str], str | None]:
        return _itself


def _itself(network_id: str) -> str:
    """A DHCP host must carry the network it serves (``bindings.refusal``: its segment type,
    its physical network, a tunnel endpoint)."""
    return network_id
