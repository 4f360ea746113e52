"""The guest's dhclient supervision: a crash loop backs off, a client that ran for a while and
then exited is restarted promptly (its back-off starts afresh)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from v6fabric.workloads import dhcp
from v6fabric.workloads.paths import WorkloadPaths


class ExitedProcess:
    """A dhclient that has exited with ``code`` (what ``ensure`` sees on its next call)."""

    pid = 4242

    def __init__(self, code: int) -> None:
        self.returncode = code

    def poll(self) -> int:
        return self.returncode


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dhcp.DhcpClient:
    monkeypatch.setattr(dhcp, "spawn", lambda *args, **kwargs: ExitedProcess(1))
    return dhcp.DhcpClient(WorkloadPaths(tmp_path), "eth0", 6, dhcp.STATEFUL, 100)


def _delays(client: dhcp.DhcpClient, starts: list[float], lifetime: float) -> list[Any]:
    """Start at each time, let it die ``lifetime`` later: the back-off ``ensure`` chose."""
    delays = []
    for at in starts:
        client.not_before = 0.0
        client.ensure(at)  # started
        client.ensure(at + lifetime)  # seen exited
        delays.append(client.not_before - (at + lifetime))
    return delays


def test_a_crash_loop_backs_off(client: dhcp.DhcpClient) -> None:
    assert _delays(client, [0.0, 10.0, 20.0, 30.0], lifetime=0.1) == [1.0, 2.0, 4.0, 8.0]


def test_a_client_that_worked_for_a_while_is_restarted_promptly(client: dhcp.DhcpClient) -> None:
    _delays(client, [0.0, 10.0, 20.0, 30.0], lifetime=0.1)  # a bad start: 8 s by now
    stable = dhcp.STABLE_SECONDS
    assert _delays(client, [100.0, 1000.0], lifetime=stable) == [1.0, 1.0]
