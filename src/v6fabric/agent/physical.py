"""The host's interfaces on physical networks (``--physical-network physnet1=eth1``): a flat
provider network's bridge takes its ``NetworkSpec.physical_interface`` as a port, so the
network's workloads are on that segment (an upstream router's, say) with nothing between.

The interface is the host's, not ours: it is never created or deleted, only enslaved and set
up (one ``SetLink``), and released (``nomaster``) when no network wants it any more. An
interface that is not there is left alone until it appears (``unsettled`` looks again).
Only interfaces the agent was told about are ever released: anything else someone cabled
into one of our bridges (a test's uplink) is not ours to touch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from v6fabric.agent.actions import Action, SetLink
from v6fabric.agent.layout import is_our_bridge
from v6fabric.drivers.netlink import Link
from v6fabric.hoststate.model import HostState

NOMASTER = ""  # ``SetLink(master=NOMASTER)``: out of its bridge (``ip link set .. nomaster``)


def wanted(state: HostState) -> dict[str, str]:
    """Physical interface -> the bridge it belongs on (the first flat network naming it; a
    vlan network's sub-interface joins its bridge instead: ``segments``)."""
    found: dict[str, str] = {}
    for net in state.networks:
        if net.physical_interface and net.vlan is None:
            found.setdefault(net.physical_interface, net.bridge)
    return found


def plan(
    state: HostState,
    links: Mapping[str, Link],
    host: str | None,
    created: set[tuple[str | None, str]],
    known: Iterable[str] = (),
) -> list[Action]:
    """``SetLink``s that put each wanted interface (present in ``links``, the host namespace)
    on its bridge and up, and take the ``known`` ones (the agent's mappings) no network wants
    out of our bridges. ``created``: links the plan (re)makes; a new bridge has no ports."""
    want = wanted(state)
    actions: list[Action] = []
    for iface, bridge in sorted(want.items()):
        link = links.get(iface)
        if link is None:
            continue  # the host's to make (a NIC not there yet)
        master = None if (host, bridge) in created else link.master
        changes: dict[str, object] = {}
        if master != bridge:
            changes["master"] = bridge
        if not link.up:
            changes["up"] = True
        if changes:
            actions.append(SetLink(host, iface, **changes))  # type: ignore[arg-type]
    for iface in sorted(set(known) - set(want)):
        link = links.get(iface)
        if link is not None and link.master and is_our_bridge(link.master):
            actions.append(SetLink(host, iface, master=NOMASTER))
    return actions


def unsettled(state: HostState, links: Mapping[str, Link]) -> list[str]:
    """Wanted interfaces not in place when last read: worth reading again (one may appear, or
    be taken out of its bridge by someone else)."""
    return [
        iface
        for iface, bridge in wanted(state).items()
        if (link := links.get(iface)) is None or link.master != bridge or not link.up
    ]
