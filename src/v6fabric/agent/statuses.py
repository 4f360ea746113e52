"""What the agent reports after a pass: each port's and workload's status, and the actions
it applied by type.

Read from the host as observed, never from the plan: a port is ACTIVE when its dataplane is
really in place. Kept apart from ``reconcile`` (which only diffs) because the loop and the
benchmarks ask for these, not for a plan.
"""

from __future__ import annotations

from collections.abc import Iterable

from v6fabric.agent import desired as want
from v6fabric.agent.actions import Action
from v6fabric.agent.observe import Observed
from v6fabric.hoststate.model import HostState


def port_statuses(desired: HostState, observed: Observed) -> dict[str, str]:
    """ACTIVE when the port's dataplane is in place: bridge up, tap enslaved and up, and for
    router/DHCP ports the namespace side up with its MAC; DOWN otherwise."""
    statuses = {}
    host = observed.host.links
    for port in desired.ports:
        bridge = host.get(want.bridge_of(desired, port))
        tap = host.get(port.tap)
        ok = bool(
            port.admin_up and bridge and bridge.up and tap and tap.up and tap.master == bridge.name
        )
        if ok and port.kind != "workload" and port.namespace and port.ifname:
            inside = observed.view(port.namespace).links.get(port.ifname)
            up = port.vrrp_managed or bool(inside and inside.up)  # an HA leg: up on the master
            ok = bool(inside and up and inside.mac == port.mac.lower())
        statuses[port.port_id] = "ACTIVE" if ok else "DOWN"
    return statuses


def workload_statuses(desired: HostState, observed: Observed) -> dict[str, str]:
    """ACTIVE once the workload is plugged with its current spec, DOWN otherwise."""
    return {
        w.workload_id: (
            "ACTIVE" if observed.workloads.get(w.namespace) == want.workload_digest(w) else "DOWN"
        )
        for w in desired.workloads
    }


def summarise(actions: Iterable[Action]) -> dict[str, int]:
    """Actions per type, for logs and reports."""
    counts: dict[str, int] = {}
    for action in actions:
        counts[type(action).__name__] = counts.get(type(action).__name__, 0) + 1
    return counts
