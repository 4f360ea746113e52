"""Provider networks on physical networks: which host interface joins a network's bridge.

A ``flat`` network (``provider:network_type=flat``, ``provider:physical_network=physnet1``) is
the physical segment itself: on each host that maps that physical network to an interface (the
agent's ``--physical-network physnet1=eth1``, registered as ``capabilities.physical_networks``),
the interface is enslaved to the network's bridge, and the workloads are on the wire with
whatever else is there (an upstream router). Nothing is encapsulated; a host without the
mapping keeps the network on its own bridge (its ports cannot be bound: ``services.bindings``).

A ``vlan`` network (segmentation id = the 802.1Q id) is a tagged slice of the same wire: the
host's interface stays out of the bridge, and the agent's sub-interface of it with that id
(``NetworkSpec.vlan``) joins the bridge instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from v6fabric.compiler.index import Index
from v6fabric.hoststate.model import NetworkSpec

PHYSICAL_TYPES = frozenset({"flat", "vlan"})


def host_mappings(physical_interfaces: Iterable[tuple[str, str, str]], host: str) -> dict[str, str]:
    """``host``'s physical network -> interface, from ``(host, physnet, iface)`` triples."""
    return {physnet: iface for name, physnet, iface in physical_interfaces if name == host}


def attach_physical(
    index: Index, networks: list[NetworkSpec], mappings: dict[str, str]
) -> list[NetworkSpec]:
    """``networks`` with the host's interface of each flat or vlan network's physical network
    (and a vlan network's id)."""
    if not mappings:
        return networks
    found = []
    for spec in networks:
        view = index.networks.get(spec.network_id)
        iface = (
            mappings.get(view.physical_network or "")
            if view is not None and view.network_type in PHYSICAL_TYPES
            else None
        )
        if iface and view is not None and view.network_type == "vlan":
            vid = view.segmentation_id
            found.append(replace(spec, physical_interface=iface, vlan=vid) if vid else spec)
            continue
        found.append(replace(spec, physical_interface=iface) if iface else spec)
    return found
