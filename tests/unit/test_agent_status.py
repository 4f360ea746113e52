"""``agent.client.status_changes``: what a status report carries after the last one."""

from __future__ import annotations

from v6fabric.agent.client import status_changes
from v6fabric.hoststate.model import HostState, WorkloadInterface, WorkloadSpec


def _state(*workloads: tuple[str, str]) -> HostState:
    """Workloads as (workload id, its one port id)."""
    return HostState(
        "h1",
        1,
        workloads=tuple(
            WorkloadSpec(
                w,
                w,
                f"v6w-{w}",
                (WorkloadInterface(p, "eth0", f"tap{p}", "fa:16:3e:00:00:01", 1500),),
            )
            for w, p in workloads
        ),
    )


def test_the_first_report_carries_everything() -> None:
    ports, workloads = {"p1": "ACTIVE", "r1": "ACTIVE"}, {"w1": "ACTIVE"}
    assert status_changes(ports, workloads, _state(("w1", "p1")), None) == (ports, workloads)


def test_later_reports_carry_what_changed_or_is_new() -> None:
    last = ({"p1": "ACTIVE", "p2": "DOWN", "r1": "ACTIVE"}, {"w1": "ACTIVE", "w2": "DOWN"})
    ports = {"p1": "ACTIVE", "p2": "ACTIVE", "r1": "ACTIVE", "p3": "DOWN"}
    workloads = {"w1": "ACTIVE", "w2": "ACTIVE", "w3": "DOWN"}
    state = _state(("w1", "p1"), ("w2", "p2"), ("w3", "p3"))
    assert status_changes(ports, workloads, state, last) == (
        {"p2": "ACTIVE", "p3": "DOWN"},
        {"w2": "ACTIVE", "w3": "DOWN"},
    )
    assert status_changes(ports, workloads, state, (ports, workloads)) == ({}, {})


def test_a_port_moved_to_a_new_workload_is_reported_again() -> None:
    """The server set p1 DOWN when w1 went; w2 took it before our next report: its status
    (ACTIVE, as in our last report) must be sent again."""
    last = ({"p1": "ACTIVE"}, {"w1": "ACTIVE"})
    changed = status_changes({"p1": "ACTIVE"}, {"w2": "ACTIVE"}, _state(("w2", "p1")), last)
    assert changed == ({"p1": "ACTIVE"}, {"w2": "ACTIVE"})
