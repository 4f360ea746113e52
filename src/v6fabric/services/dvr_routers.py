"""Distributed routers (R20) on the server: the rules of Neutron's ``distributed`` attribute.

``distributed`` is admin only (``routers.ADMIN_ATTRIBUTES``); without it a new router takes
``Settings.router_distributed``. It changes only while the router is (or is being set)
administratively down, both ways, as ``ha`` does. Distributed HA routers are refused (our
choice): a request naming both is refused, and an attribute given wins over the other's
default. A distributed router is scheduled like any other (``l3_scheduler``): its host runs the
central (north/south) instance; the compiler puts an instance on every host with a workload on
one of its networks (``compiler.dvr``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from v6fabric.domain.errors import router_error
from v6fabric.settings import Settings

DISTRIBUTED_HA = "Distributed HA routers are not supported yet"
ACTIVE_DVR_CHANGE = (
    "Cannot upgrade active router to distributed. Please set router admin_state_up to False "
    "prior to upgrade"
)


def new_modes(settings: Settings, body: Mapping[str, Any]) -> tuple[bool, bool]:
    """``(distributed, ha)`` of a router created from ``body``. Both settings on and neither
    attribute given: distributed (a default must not make every creation fail)."""
    distributed_given = body.get("distributed") is not None
    ha_given = body.get("ha") is not None
    distributed = bool(body["distributed"]) if distributed_given else settings.router_distributed
    ha = bool(body["ha"]) if ha_given else settings.l3_ha
    if distributed and ha:
        if distributed_given and ha_given:
            raise router_error(DISTRIBUTED_HA)
        if ha_given:
            return False, True
        return True, False
    return distributed, ha


def changes_distributed(row: Any, body: Mapping[str, Any]) -> bool:
    """Whether an update of ``row`` by ``body`` flips ``distributed`` (then allowed only with
    the router down); refuses what would make a distributed HA router."""
    distributed = row.distributed if body.get("distributed") is None else bool(body["distributed"])
    ha = row.ha if body.get("ha") is None else bool(body["ha"])
    if distributed and ha:
        raise router_error(DISTRIBUTED_HA)
    if distributed == row.distributed:
        return False
    admin_up = row.admin_state_up if body.get("admin_state_up") is None else body["admin_state_up"]
    if admin_up:
        raise router_error(ACTIVE_DVR_CHANGE)
    return True
