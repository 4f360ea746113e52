"""A network's VXLAN overlay on this host: its device and its forwarding table (DESIGN.md,
multi-host). What the state asks (``desired``), what the host has (``observe_fdb``; the
device itself is read with the other links) and the actions between them (``plan``, pure,
called from ``reconcile.plan``).

The device (``vx-<network>``, ours by its prefix as bridges are) learns nothing from the wire
unless its network has an HA router's legs (``OverlaySpec.learning``: their MACs move with the
VRRP master); its table is one all-zeros entry per remote endpoint (head-end replication of
broadcast, multicast and unknown unicast) and one entry per remote port's MAC, plus, when it
learns, what it learnt (``drivers.fdb`` reads only the pinned entries). A device whose
VNI, local endpoint or port differ is made again (the kernel cannot change them in place) and
its table with it; MTU, bridge and learning are set in place. Only ``self`` entries with a destination
are ours (``drivers.fdb``): the kernel's own entries on the device are never touched. A device
that goes takes its table with it: no entry is deleted then.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from v6fabric.agent.actions import Action, AddFdb, AddVxlan, DeleteFdb, DeleteLink, SetLink
from v6fabric.agent.host import Drivers
from v6fabric.agent.layout import is_our_vxlan
from v6fabric.drivers.commands import CommandError
from v6fabric.drivers.fdb import ZERO_MAC, FdbEntries, normalise_ip
from v6fabric.drivers.netlink import Link, NetnsView, SetVxlanLearning
from v6fabric.hoststate.memo import IdentityMemo
from v6fabric.hoststate.model import FdbEntry, HostState, NetworkSpec

# The steps of the agent's order (``reconcile``) an overlay action belongs to. Entries are
# added with the links' settings, before the device comes up: its first frame has somewhere
# to go. Entries are deleted with the links (only on devices that stay).
DELETE, CREATE, SETUP = "delete", "create", "setup"


@dataclass(frozen=True)
class Overlay:
    """One device as the state wants it, normalised as the kernel reports it."""

    device: str
    bridge: str
    mtu: int
    vni: int
    local: str
    dstport: int
    learning: bool
    entries: FdbEntries  # (mac, remote): the all-zeros MAC once per remote, then the ports'


_DESIRED = IdentityMemo(4)  # a plan asks on every round of a pass, for the same state object


def desired(state: HostState) -> dict[str, Overlay]:
    """The overlay devices by name (entries for a device no network has are ignored)."""
    return _DESIRED.get(state, lambda: _desired(state.networks, state.fdb))


def _desired(networks: Iterable[NetworkSpec], fdb: Iterable[FdbEntry]) -> dict[str, Overlay]:
    macs: dict[str, dict[str, str]] = {}
    for entry in fdb:
        macs.setdefault(entry.device, {})[entry.mac.lower()] = normalise_ip(entry.remote)
    found: dict[str, Overlay] = {}
    for net in networks:
        spec = net.overlay
        if spec is None or spec.kind != "vxlan" or spec.device in found:  # GRE: ``segments``
            continue
        entries = {(ZERO_MAC, normalise_ip(remote)) for remote in spec.remotes}
        entries.update(macs.get(spec.device, {}).items())
        found[spec.device] = Overlay(
            spec.device,
            net.bridge,
            net.mtu,
            spec.vni,
            normalise_ip(spec.local),
            spec.dstport,
            spec.learning,
            frozenset(entries),
        )
    return found


def _same_device(link: Link, want: Overlay) -> bool:
    """What cannot change in place: kind, VNI, local endpoint and port."""
    return (
        link.kind == "vxlan"
        and link.vni == want.vni
        and link.vxlan_local == want.local
        and link.dstport == want.dstport
    )


def plan(
    state: HostState,
    links: Mapping[str, Link],
    fdb: Mapping[str, FdbEntries],
    host: str | None,
    created: set[tuple[str | None, str]],
) -> tuple[list[tuple[str, Action]], set[tuple[str | None, str]]]:
    """(step, action) pairs that make the host namespace's overlay devices (``links``, their
    tables ``fdb``) match ``state``, and the devices (re)made. ``created``: the links the rest
    of the plan (re)makes; a bridge among them has lost its ports."""
    wanted = desired(state)
    steps: list[tuple[str, Action]] = []
    made: set[tuple[str | None, str]] = set()
    for name in links:
        if is_our_vxlan(name) and name not in wanted:
            steps.append((DELETE, DeleteLink(host, name)))
    for device, want in wanted.items():
        link = links.get(device)
        have = fdb.get(device, frozenset())
        if link is not None and not _same_device(link, want):
            steps.append((DELETE, DeleteLink(host, device)))
            link = None
        if link is None:
            steps.append(
                (
                    CREATE,
                    AddVxlan(
                        host, device, want.mtu, want.vni, want.local, want.dstport, want.learning
                    ),
                )
            )
            made.add((host, device))
            link = Link(device, 0, "vxlan", "", want.mtu, up=False, learning=want.learning)
            have = frozenset()
        if bool(link.learning) != want.learning:
            steps.append((SETUP, SetVxlanLearning(host, device, want.learning)))
        master = None if (host, want.bridge) in created else link.master
        changes = {
            key: value
            for key, value, now in (
                ("master", want.bridge, master),
                ("mtu", want.mtu, link.mtu),
                ("up", True, link.up),
            )
            if now != value
        }
        if changes:
            steps.append((SETUP, SetLink(host, device, **changes)))  # type: ignore[arg-type]
        if have != want.entries:
            steps += fdb_steps(host, device, want.entries, have)
    return steps, made


def fdb_steps(
    host: str | None, device: str, wanted: FdbEntries, have: FdbEntries
) -> list[tuple[str, Action]]:
    """The entry changes of one device. A MAC that moves to another remote is replaced in
    place (no moment without an entry); a MAC with several remotes (not ours) keeps one."""
    adds: set[tuple[str, str]] = set()
    deletes: set[tuple[str, str]] = set()
    have_remotes: dict[str, set[str]] = {}
    for mac, remote in have:
        have_remotes.setdefault(mac, set()).add(remote)
    zero_wanted = {remote for mac, remote in wanted if mac == ZERO_MAC}
    zero_have = have_remotes.pop(ZERO_MAC, set())
    adds |= {(ZERO_MAC, remote) for remote in zero_wanted - zero_have}
    deletes |= {(ZERO_MAC, remote) for remote in zero_have - zero_wanted}
    for mac, remote in wanted:
        if mac == ZERO_MAC:
            continue
        there = have_remotes.pop(mac, set())
        if there == {remote}:
            continue
        if remote in there or len(there) > 1:
            deletes |= {(mac, other) for other in there - {remote}}
        if remote not in there:
            adds.add((mac, remote))  # a replace: moves a single remote in place
    deletes |= {(mac, remote) for mac, remotes in have_remotes.items() for remote in remotes}
    return [(DELETE, DeleteFdb(host, device, mac, remote)) for mac, remote in sorted(deletes)] + [
        (SETUP, AddFdb(host, device, mac, remote)) for mac, remote in sorted(adds)
    ]


def observe_fdb(
    drivers: Drivers,
    host: str | None,
    view: NetnsView,
    previous: Mapping[str, FdbEntries] | None,
    stale: set[str] | None,
) -> dict[str, FdbEntries]:
    """The tables of the overlay devices in ``view`` (the host namespace as just read). With
    ``previous``, only those ``stale`` names are read again (what a pass touched): with
    hundreds of remote ports a table is worth reading once, not every round."""
    devices = [name for name in view.links if is_our_vxlan(name)]
    if previous is not None and stale is not None:
        kept = {name: previous[name] for name in devices if name in previous and name not in stale}
        to_read = [name for name in devices if name not in kept]
    else:
        kept, to_read = {}, devices
    if to_read:
        # unreadable: planned as empty, every entry written again (appends and replaces)
        with contextlib.suppress(CommandError):
            kept.update(drivers.fdb.read(host, to_read))
    return kept
