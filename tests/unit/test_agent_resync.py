"""When the agent reads the whole host: first pass, idle passes whose resync is due, after a
failure, and in front of a change only when a resync is overdue by a whole period (a change
must not wait ~0.1 s behind a routine full read)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_reconcile import new_host
from v6fabric.agent import loop
from v6fabric.hoststate.model import HostState

PERIOD = loop.FULL_OBSERVE_SECONDS


@pytest.fixture
def full_reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per observe: True for a full read (no previous view to build on)."""
    seen: list[bool] = []
    real = loop.observe

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("previous") is None)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "observe", recording)
    return seen


def test_full_reads_happen_when_idle_not_in_front_of_a_change(
    monkeypatch: pytest.MonkeyPatch, full_reads: list[bool]
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(loop.time, "monotonic", lambda: clock[0])
    _fake, agent = new_host()
    state = HostState(host="h1", revision=1)

    agent.run_once(state)  # the first pass reads everything
    assert full_reads[0] is True
    assert agent.resync_due() == PERIOD

    clock[0] += PERIOD + 1  # due, but a change came: not in front of it
    full_reads.clear()
    agent.run_once(state)
    assert True not in full_reads
    assert agent.resync_due() == 0.0

    full_reads.clear()
    agent.run_once(state, resync=True)  # the idle pass reads everything
    assert full_reads[:1] == [True]
    assert agent.resync_due() == PERIOD

    clock[0] += 2 * PERIOD + 1  # constant churn: overdue by a period, a change waits for it
    full_reads.clear()
    agent.run_once(state)
    assert full_reads[:1] == [True]
