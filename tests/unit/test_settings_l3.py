"""``Settings.l3_agent_down_seconds`` from ``V6FABRIC_L3_AGENT_DOWN_SECONDS``."""

from __future__ import annotations

import pytest

from v6fabric.settings import Settings


def test_the_down_time_defaults_to_neutrons_and_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("V6FABRIC_L3_AGENT_DOWN_SECONDS", raising=False)
    assert Settings.from_env().l3_agent_down_seconds == 75.0
    monkeypatch.setenv("V6FABRIC_L3_AGENT_DOWN_SECONDS", "4.5")
    assert Settings.from_env().l3_agent_down_seconds == 4.5
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("V6FABRIC_L3_AGENT_DOWN_SECONDS", bad)
        with pytest.raises(ValueError, match="V6FABRIC_L3_AGENT_DOWN_SECONDS"):
            Settings.from_env()


def test_router_distributed_defaults_to_neutrons_and_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("V6FABRIC_ROUTER_DISTRIBUTED", raising=False)
    assert Settings.from_env().router_distributed is False
    for text, value in (("true", True), ("1", True), ("off", False)):
        monkeypatch.setenv("V6FABRIC_ROUTER_DISTRIBUTED", text)
        assert Settings.from_env().router_distributed is value
    monkeypatch.setenv("V6FABRIC_ROUTER_DISTRIBUTED", "maybe")
    with pytest.raises(ValueError, match="V6FABRIC_ROUTER_DISTRIBUTED"):
        Settings.from_env()
