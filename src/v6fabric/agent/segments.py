"""A GRE network's taps and a VLAN network's sub-interface on this host (DESIGN.md,
multi-host): links of ours on a network's bridge, besides VXLAN's (``overlay``).

GRE has no multipoint device with a forwarding table: a ``gre`` overlay is one tap per remote
host (``gretap``, or ``ip6gretap`` over an IPv6 underlay; ``gre_name``), keyed by the network's
GRE key, each on the bridge as an ``isolated`` port. An isolated port forwards only to ports
that are not isolated (the local taps): a frame that came from one remote host never goes to
another, so the full mesh has no loop, and broadcasts reach every host once (the sender's
bridge floods to all of its tunnels). A tap comes up only once it is isolated.

A ``vlan`` network (``NetworkSpec.vlan``) is a sub-interface ``vl-<network>`` of the host's
interface on its physical network with that 802.1Q id; the sub-interface joins the bridge,
the interface itself is never touched. A lower interface that is not there yet is waited for.

What cannot change in place (kind, key, endpoints; id, lower interface) makes the link again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from v6fabric.agent.actions import Action, AddGretap, AddVlan, DeleteLink, SetBridgePort, SetLink
from v6fabric.agent.layout import is_our_segment_link
from v6fabric.drivers.fdb import normalise_ip
from v6fabric.drivers.netlink import Link
from v6fabric.hoststate.memo import IdentityMemo
from v6fabric.hoststate.model import HostState, gre_name, vlan_name

# The steps of the agent's order (``reconcile``): PORT runs after the links' settings (the
# bridge port exists), so a tap is isolated before it is up.
DELETE, CREATE, SETUP, PORT = "delete", "create", "setup", "port"


@dataclass(frozen=True)
class Segment:
    """One link as the state wants it, normalised as the kernel reports it."""

    device: str
    bridge: str
    mtu: int
    gre: tuple[int, str, str] | None = None  # (key, local, remote)
    vlan: tuple[str, int] | None = None  # (lower interface, id)

    @property
    def kind(self) -> str:
        if self.gre is None:
            return "vlan"
        return "ip6gretap" if ":" in self.gre[1] else "gretap"


_DESIRED = IdentityMemo(4)


def desired(state: HostState) -> dict[str, Segment]:
    """The GRE taps and VLAN sub-interfaces by name."""
    return _DESIRED.get(state, lambda: _desired(state))


def _desired(state: HostState) -> dict[str, Segment]:
    found: dict[str, Segment] = {}
    for net in state.networks:
        spec = net.overlay
        if spec is not None and spec.kind == "gre":
            local = normalise_ip(spec.local)
            for remote in spec.remotes:
                name = gre_name(net.network_id, remote)
                gre = (spec.vni, local, normalise_ip(remote))
                found.setdefault(name, Segment(name, net.bridge, net.mtu, gre=gre))
        if net.vlan is not None and net.physical_interface:
            name = vlan_name(net.network_id)
            vlan = (net.physical_interface, net.vlan)
            found.setdefault(name, Segment(name, net.bridge, net.mtu, vlan=vlan))
    return found


def _same_link(link: Link, want: Segment) -> bool:
    if link.kind != want.kind:
        return False
    if want.gre is not None:
        return (link.gre_key, link.tunnel_local, link.tunnel_remote) == want.gre
    return (link.lower, link.vlan_id) == want.vlan


def plan(
    state: HostState,
    links: Mapping[str, Link],
    host: str | None,
    created: set[tuple[str | None, str]],
) -> tuple[list[tuple[str, Action]], set[tuple[str | None, str]]]:
    """(step, action) pairs that make the host namespace's GRE taps and VLAN sub-interfaces
    (in ``links``) match ``state``, and the links (re)made. ``created``: links the rest of the
    plan (re)makes; a bridge among them has lost its ports."""
    wanted = desired(state)
    steps: list[tuple[str, Action]] = []
    made: set[tuple[str | None, str]] = set()
    for name in links:
        if is_our_segment_link(name) and name not in wanted:
            steps.append((DELETE, DeleteLink(host, name)))
    for device, want in wanted.items():
        link = links.get(device)
        if link is not None and not _same_link(link, want):
            steps.append((DELETE, DeleteLink(host, device)))
            link = None
        if link is None:
            if want.gre is not None:
                key, local, remote = want.gre
                steps.append((CREATE, AddGretap(host, device, want.mtu, key, local, remote)))
            elif want.vlan is not None and want.vlan[0] in links:
                lower, vid = want.vlan
                steps.append((CREATE, AddVlan(host, device, want.mtu, lower, vid)))
            else:
                continue  # the host's interface is not there (yet)
            made.add((host, device))
            link = Link(device, 0, want.kind, "", want.mtu, up=False)
        steps += _settings(host, want, link, (host, want.bridge) in created)
    return steps, made


def _settings(
    host: str | None, want: Segment, link: Link, bridge_new: bool
) -> list[tuple[str, Action]]:
    """Bridge and MTU (SETUP); a GRE tap's isolation, then up (PORT)."""
    master = None if bridge_new else link.master
    isolated = link.isolated if master == want.bridge else False  # a new port is not
    changes = {
        key: value
        for key, value, now in (("master", want.bridge, master), ("mtu", want.mtu, link.mtu))
        if now != value
    }
    steps: list[tuple[str, Action]] = []
    if changes:
        steps.append((SETUP, SetLink(host, want.device, **changes)))  # type: ignore[arg-type]
    wants_isolated = want.gre is not None
    if bool(isolated) != wants_isolated:
        steps.append((PORT, SetBridgePort(host, want.device, wants_isolated)))
    if not link.up:
        steps.append((PORT, SetLink(host, want.device, up=True)))
    return steps


def unsettled(state: HostState, links: Mapping[str, Link]) -> list[str]:
    """Wanted links not in place when last read, and the missing ones' lower interfaces (one
    may have appeared)."""
    found = []
    for name, want in desired(state).items():
        link = links.get(name)
        if link is None or link.master != want.bridge or not link.up:
            found.append(name)
        if want.vlan is not None and (link is None or not _same_link(link, want)):
            found.append(want.vlan[0])
    return found
