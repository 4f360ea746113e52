"""The agent's kernel probe tells what the kernel can do: in the UML guest VLAN and GRE are
there; on any host it agrees with the kernel's own configuration."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from v6fabric.agent.capabilities import probe_kernel

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a scratch namespace)")


@root_only
@pytest.mark.uml
def test_the_probe_finds_vlan_and_gre_inside_uml() -> None:
    found = probe_kernel()
    assert found["vlan"] is True and found["gre"] is True, found
    assert found["gretap"] is True and found["ip6gretap"] is True, found
    assert found["bridge"] and found["veth"] and found["vxlan"], found


def _config() -> dict[str, str]:
    path = Path("/proc/config.gz")
    if not path.exists():
        pytest.skip("the kernel does not publish its configuration (/proc/config.gz)")
    options = {}
    for line in gzip.decompress(path.read_bytes()).decode().splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, value = line.split("=", 1)
            options[key] = value
    return options


@root_only
def test_the_probe_agrees_with_the_kernel_configuration() -> None:
    """On this project's machine: both false (no 802.1Q, no ip6_gre); elsewhere maybe true."""
    config = _config()
    modules = config.get("CONFIG_MODULES") == "y"

    def built(option: str) -> bool:
        return config.get(option) == "y" or (modules and config.get(option) == "m")

    found = probe_kernel()
    assert found["vlan"] == built("CONFIG_VLAN_8021Q"), found
    assert found["gretap"] == built("CONFIG_NET_IPGRE"), found
    assert found["ip6gretap"] == built("CONFIG_IPV6_GRE"), found
    assert found["gre"] == (found["gretap"] and found["ip6gretap"]), found
