"""Whether a host can realize a port's network: checked when a port is bound to a host.

Neutron accepts any binding and marks a port it cannot bind ``binding_failed`` later; an
operator then finds a port that never goes ACTIVE. Here a bind to a registered host whose
agent said it cannot realize the network's segment fails at once, with the reason, and
changes nothing: a kernel without the segment's device type (``capabilities.kernel``, probed
by the agent), or, for an overlay, no tunnel endpoint of the overlay's family while other
hosts of the network have one (its workloads could reach none of theirs), or, for a flat
provider network, no interface on its physical network while the host reported its mappings.
A host that never probed (an older agent, a test) is not refused: only a capability reported
missing counts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from v6fabric.compiler.overlay import OVERLAY_TYPES, ROUTER_LEGS
from v6fabric.compiler.physical import PHYSICAL_TYPES
from v6fabric.domain.constants import (
    DEVICE_OWNER_DHCP,
    DEVICE_OWNER_ROUTER_HA_PORT,
)
from v6fabric.domain.errors import PortBindingFailed
from v6fabric.services.fabric import UNDERLAY_FAMILIES, FabricService
from v6fabric.services.router_placement import instances
from v6fabric.settings import Settings
from v6fabric.store.tables import hosts, network_dhcp_hosts, networks, ports

KERNEL_FEATURE = {"vxlan": "vxlan", "vlan": "vlan", "gre": "gre"}  # network type -> probe
OVERLAYS = OVERLAY_TYPES  # realized with tunnel endpoints (compiler.overlay): vxlan, gre


def check_binding(
    conn: Connection, settings: Settings, port_id: str, network_id: str, host: str
) -> None:
    """Raise ``PortBindingFailed`` when ``host`` cannot realize the network of the port."""
    refused = refusal(conn, settings, network_id, host)
    if refused is not None:
        network_type, reason = refused
        raise PortBindingFailed(
            port_id=port_id,
            host=host,
            network_id=network_id,
            network_type=network_type,
            reason=reason,
        )


def refusal(
    conn: Connection, settings: Settings, network_id: str, host: str
) -> tuple[str, str] | None:
    """(network type, why) when ``host`` cannot carry the network; None when it can, or when
    either is unknown (an unregistered host may register later; the network check is the
    caller's)."""
    if not host:
        return None
    row = conn.execute(select(hosts.c.capabilities).where(hosts.c.name == host)).first()
    network = conn.execute(
        select(networks.c.network_type, networks.c.physical_network).where(
            networks.c.id == network_id
        )
    ).first()
    if row is None or network is None:
        return None
    capabilities = row.capabilities or {}
    reason = _physical_reason(capabilities, network.network_type, network.physical_network)
    if reason is None:
        reason = _reason(conn, settings, capabilities, network.network_type, network_id, host)
    return None if reason is None else (network.network_type, reason)


def _physical_reason(
    capabilities: dict[str, Any], network_type: str, physical_network: str | None
) -> str | None:
    """A flat network needs the host's interface on its physical network (a host that
    reported no ``physical_networks`` at all is not refused)."""
    mappings = capabilities.get("physical_networks")
    if network_type not in PHYSICAL_TYPES or not physical_network or mappings is None:
        return None
    if physical_network in mappings:
        return None
    return f"it has no interface on physical network {physical_network}"


def _reason(
    conn: Connection,
    settings: Settings,
    capabilities: dict[str, Any],
    network_type: str,
    network_id: str,
    host: str,
) -> str | None:
    feature = KERNEL_FEATURE.get(network_type)
    if network_type == "gre":  # only the device of the fabric's underlay family is needed
        feature = "ip6gretap" if settings.overlay_ip_version == 6 else "gretap"
    kernel = capabilities.get("kernel") or {}
    if feature is not None and kernel.get(feature, kernel.get(network_type)) is False:
        return f"its kernel has no {feature if network_type == 'gre' else network_type} devices"
    if network_type not in OVERLAYS:
        return None
    family = UNDERLAY_FAMILIES[settings.overlay_ip_version]
    if (capabilities.get("underlay") or {}).get(family):
        return None
    others = _hosts_of_network(conn, network_id) - {host}
    endpoints = FabricService.endpoints_of(conn, family)
    if any(other in endpoints for other in others):
        return f"it has no {family} tunnel endpoint, and other hosts of the network have one"
    return None


def _hosts_of_network(conn: Connection, network_id: str) -> set[str]:
    """Hosts with an interface on the network: bound ports, its DHCP host (the DHCP
    scheduler's) for its DHCP ports, and each router's hosts (the L3 scheduler's: several for an
    HA router) for its interfaces and gateway (an HA router's ``ha-`` ports are bound ports)."""
    found: set[str] = set()
    rows = conn.execute(
        select(ports.c.binding_host_id, ports.c.device_owner, ports.c.device_id).where(
            ports.c.network_id == network_id
        )
    )
    dhcp = False
    placed: dict[str, tuple[str, ...]] | None = None
    for row in rows:
        if row.device_owner == DEVICE_OWNER_DHCP:
            dhcp = True
        elif row.device_owner in ROUTER_LEGS:
            placed = instances(conn) if placed is None else placed
            found.update(placed.get(row.device_id, ()))
        elif row.binding_host_id and (
            row.device_owner == DEVICE_OWNER_ROUTER_HA_PORT
            or not row.device_owner.startswith("network:")
        ):
            found.add(row.binding_host_id)
    if dhcp:
        dhcp_host = conn.execute(
            select(network_dhcp_hosts.c.host).where(network_dhcp_hosts.c.network_id == network_id)
        ).scalar()
        if dhcp_host is not None:
            found.add(dhcp_host)
    return found
