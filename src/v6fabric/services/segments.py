"""Network segments: validating provider attributes and allocating tenant segmentation ids.

The per-host realisation of each type arrives with the multi-host issue; here a network gets the
segment it will be realised with, and the MTU that segment leaves for workloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from v6fabric.domain.constants import NETWORK_TYPES
from v6fabric.domain.errors import InvalidInput, NoNetworkAvailable, SegmentInUse
from v6fabric.settings import Settings
from v6fabric.store.tables import networks

SEGMENT_RANGES = {"vlan": (1, 4094), "vxlan": (1, 2**24 - 1), "gre": (1, 2**32 - 1)}
# Encapsulation overhead per underlay family (outer IP + UDP/GRE + inner Ethernet).
OVERHEAD = {("vxlan", 4): 50, ("vxlan", 6): 70, ("gre", 4): 42, ("gre", 6): 62}


@dataclass(frozen=True)
class Segment:
    network_type: str
    physical_network: str | None
    segmentation_id: int | None


def max_mtu(settings: Settings, network_type: str) -> int:
    return settings.global_physnet_mtu - OVERHEAD.get(
        (network_type, settings.overlay_ip_version), 0
    )


def requested_segment(body: Mapping[str, Any]) -> Segment | None:
    keys = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")
    if not any(body.get(k) is not None for k in keys):
        return None
    network_type = body.get("provider:network_type")
    if network_type is None:
        raise InvalidInput("provider:network_type required")
    return Segment(
        str(network_type),
        body.get("provider:physical_network"),
        body.get("provider:segmentation_id"),
    )


def validate_segment(settings: Settings, segment: Segment) -> None:
    kind = segment.network_type
    if kind not in NETWORK_TYPES:
        raise InvalidInput(f"Invalid network type {kind}")
    if kind in ("flat", "vlan"):
        if not segment.physical_network:
            raise InvalidInput(f"physical_network required for {kind} provider network")
        if segment.physical_network not in settings.physical_networks:
            raise InvalidInput(
                f"physical_network '{segment.physical_network}' unknown for {kind} provider network"
            )
    elif segment.physical_network:
        raise InvalidInput(f"provider:physical_network specified for {kind} network")
    if kind in ("flat", "local"):
        if segment.segmentation_id is not None:
            raise InvalidInput(f"segmentation_id specified for {kind} network")
        return
    low, high = SEGMENT_RANGES[kind]
    if segment.segmentation_id is None and kind == "vlan":
        raise InvalidInput("segmentation_id required for VLAN provider network")
    if segment.segmentation_id is not None and not low <= segment.segmentation_id <= high:
        raise InvalidInput(f"segmentation_id out of range ({low} through {high})")


def _in_use(conn: Connection, segment: Segment) -> bool:
    stmt = select(networks.c.id).where(networks.c.network_type == segment.network_type)
    if segment.network_type in ("flat", "vlan"):
        stmt = stmt.where(networks.c.physical_network == segment.physical_network)
    if segment.network_type != "flat":
        stmt = stmt.where(networks.c.segmentation_id == segment.segmentation_id)
    return conn.execute(stmt.limit(1)).first() is not None


def reserve_segment(conn: Connection, settings: Settings, segment: Segment | None) -> Segment:
    """The segment for a new network: the admin's choice if free, else the next tenant id."""
    if segment is not None:
        if segment.network_type in ("vxlan", "gre") and segment.segmentation_id is None:
            return _next_tunnel_id(conn, settings, segment.network_type)
        if segment.network_type != "local" and _in_use(conn, segment):
            raise SegmentInUse(msg=_in_use_message(segment))
        return segment
    kind = settings.tenant_network_type
    if kind in ("vxlan", "gre"):
        return _next_tunnel_id(conn, settings, kind)
    return Segment(kind, None, None)


def _next_tunnel_id(conn: Connection, settings: Settings, kind: str) -> Segment:
    low, high = settings.vxlan_id_range if kind == "vxlan" else settings.gre_id_range
    used = set(
        conn.execute(
            select(networks.c.segmentation_id).where(
                networks.c.network_type == kind,
                networks.c.segmentation_id.between(low, high),
            )
        ).scalars()
    )
    for candidate in range(low, high + 1):
        if candidate not in used:
            return Segment(kind, None, candidate)
    raise NoNetworkAvailable()


def _in_use_message(segment: Segment) -> str:
    if segment.network_type == "flat":
        return (
            "Unable to create the flat network. Physical network "
            f"{segment.physical_network} is in use."
        )
    if segment.network_type == "vlan":
        return (
            f"Unable to create the network. The VLAN {segment.segmentation_id} on physical "
            f"network {segment.physical_network} is in use."
        )
    return f"Unable to create the network. The tunnel ID {segment.segmentation_id} is in use."
