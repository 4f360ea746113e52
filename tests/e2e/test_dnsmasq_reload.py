"""Port changes reach dnsmasq by SIGHUP and never restart it (issue 3), on a DHCPv6-stateless
network too: there dnsmasq 2.90 crashed on the reload after it had served a host whose line
set a tag (``render.dnsmasq``). Each new workload is answered over DHCPv6 (its
Information-Request in dnsmasq's log) while the same dnsmasq process serves them all."""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.lab import Lab
from v6fabric.drivers.commands import pid_alive
from v6fabric.hoststate.model import dhcp_namespace

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

STATELESS = {"ipv6_ra_mode": "dhcpv6-stateless", "ipv6_address_mode": "dhcpv6-stateless"}


def test_stateless_dnsmasq_is_reloaded_not_restarted(clean: Lab) -> None:
    lab = clean
    net = lab.network(name="reload")
    subnet = lab.subnet(net, "2001:db8:5e::/64", **STATELESS)
    lab.router(subnet, name="reload")
    pid_file = lab.run_dir / "netns" / dhcp_namespace(net["id"]) / "dnsmasq.pid"
    pids = set()
    for i in range(4):
        port = lab.port(net)
        lab.workload(f"reload-{i}", port)
        lab.wait_active(port)
        mac = port["mac_address"]

        def answered(mac: str = mac) -> bool:  # its Information-Request, in dnsmasq's log
            log = pid_file.with_suffix(".log")
            return log.exists() and f"client MAC address: {mac}" in log.read_text()

        wait_for(f"reload-{i}: DHCPv6 options served", answered, timeout=20)
        time.sleep(0.5)  # the reload that crashed came with the next port
        pid = int(pid_file.read_text())
        assert pid_alive(pid)
        pids.add(pid)
    assert len(pids) == 1, f"dnsmasq restarted: {sorted(pids)}"
