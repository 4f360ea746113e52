"""Routes of our namespaces (``NamespaceSpec.routes``), kept exactly (pure; called from
``reconcile.plan``).

A wanted route is compared with the kernel's as the kernel reports it (``normalise_route``);
one given without a device matches that route on any device. Missing routes are replaced in,
routes nobody wants are deleted. Kept apart as ``neighbors`` is: the same per-namespace diff,
whose adds and deletes ``reconcile`` puts in its route phases.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from v6fabric.agent.actions import DeleteRoute, ReplaceRoute
from v6fabric.agent.observe import Observed
from v6fabric.drivers.netlink import Route, is_ipv6, normalise_destination
from v6fabric.hoststate.model import NamespaceSpec, RouteSpec


def normalise_route(spec: RouteSpec) -> Route:
    ipv6 = is_ipv6(spec.destination) or bool(spec.gateway and is_ipv6(spec.gateway))
    return Route(
        destination=normalise_destination(spec.destination, ipv6=ipv6),
        gateway=str(ipaddress.ip_address(spec.gateway)) if spec.gateway else None,
        device=spec.device,
    )


def _matches(have: Route, wanted: Route) -> bool:
    return (
        have.destination == wanted.destination
        and have.gateway == wanted.gateway
        and (wanted.device is None or have.device == wanted.device)
    )


def plan(
    namespaces: Mapping[str, NamespaceSpec], observed: Observed
) -> tuple[list[ReplaceRoute], list[DeleteRoute]]:
    """The replaces (with the routes' phase: after the links and addresses) and the deletes."""
    replaces: list[ReplaceRoute] = []
    deletes: list[DeleteRoute] = []
    for name, spec in namespaces.items():
        have = observed.view(name).routes if name in observed.namespaces else ()
        wanted = [normalise_route(r) for r in spec.routes]
        for route in wanted:
            if not any(_matches(h, route) for h in have):
                replaces.append(ReplaceRoute(name, route))
        for route in have:
            if not any(_matches(route, w) for w in wanted):
                deletes.append(DeleteRoute(name, route))
    return replaces, deletes
