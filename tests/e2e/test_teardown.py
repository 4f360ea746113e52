"""Deleting everything through the API leaves nothing of ours on the host.

A router joins an IPv6-only SLAAC network and a dual-stack network (DHCPv6-stateful and DHCPv4),
a workload on each, traffic checked. Then the lab deletes workloads, router interfaces, router,
ports, subnets and networks through the API, as a user would, and the agent alone must leave
the host clean: no namespace of these ids, no bridge, tap, ``qr-`` or ``ns-`` link, no process
(radvd, dnsmasq, dhclient, guest agent) started from the run directory, and no file under it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import namespaces, wait_for
from tests.e2e.lab import SLAAC, STATEFUL, Lab, one_host_lab
from tests.e2e.traffic import files_under, links, pid_files, processes_mentioning
from v6fabric.drivers.commands import pid_alive
from v6fabric.hoststate.model import (
    BRIDGE_PREFIX,
    DHCP_IF_PREFIX,
    ID_CHARS,
    ROUTER_IF_PREFIX,
    TAP_PREFIX,
    bridge_name,
    dhcp_namespace,
    router_namespace,
    workload_namespace,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

OUR_LINK_PREFIXES = (BRIDGE_PREFIX, ROUTER_IF_PREFIX, DHCP_IF_PREFIX, TAP_PREFIX)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with one_host_lab() as lab:
        yield lab


class Ours:
    """Everything on the host that the resources of this test may have made."""

    def __init__(self, lab: Lab, ports: list[dict]) -> None:
        self.lab = lab
        self.namespaces = (
            {router_namespace(i) for i in lab.tracked["router"]}
            | {dhcp_namespace(i) for i in lab.tracked["network"]}
            | {workload_namespace(i) for i in lab.tracked["workload"]}
        )
        self.link_names = {bridge_name(i) for i in lab.tracked["network"]} | {
            prefix + port["id"][:ID_CHARS]
            for port in ports
            for prefix in (TAP_PREFIX, ROUTER_IF_PREFIX, DHCP_IF_PREFIX)
        }
        self.pids = {pid for pid in pid_files(lab.run_dir).values() if pid}

    def present(self) -> dict[str, object]:
        """What is left, by kind (empty: nothing)."""
        run_dir = self.lab.run_dir
        left: dict[str, object] = {
            "namespaces": sorted(self.namespaces & namespaces()),
            # the lab's "hypervisor" namespace is ours alone: none of our links at all there
            "host links": sorted(
                n for n in links(self.lab.host_netns) if n.startswith(OUR_LINK_PREFIXES)
            ),
            # the root namespace is shared with others: only names derived from our ids
            "root links": sorted(self.link_names & set(links(None))),
            "processes": processes_mentioning(str(run_dir)),
            "pids alive": sorted(pid for pid in self.pids if pid_alive(pid)),
            "files": files_under(run_dir),
        }
        return {kind: what for kind, what in left.items() if what}


def test_deleting_everything_leaves_nothing_behind(lab: Lab) -> None:
    net_v6, net_ds = lab.network(name="v6only"), lab.network(name="dualstack")
    sub_v6 = lab.subnet(net_v6, "2001:db8:41::/64", **SLAAC)
    sub_ds6 = lab.subnet(
        net_ds, "2001:db8:42::/64", dns_nameservers=["2001:db8:42::53"], **STATEFUL
    )
    sub_ds4 = lab.subnet(net_ds, "192.0.2.0/24", enable_dhcp=True)
    lab.router(sub_v6, sub_ds6, sub_ds4, name="r")
    port_v6, port_ds = lab.port(net_v6), lab.port(net_ds)
    vm_v6, vm_ds = lab.workload("v6", port_v6), lab.workload("ds", port_ds)
    lab.wait_active(port_v6, port_ds)
    # one IPv6 (DHCPv6) and one IPv4 (DHCPv4) address
    lab.wait_addresses(vm_ds, *(ip["ip_address"] for ip in port_ds["fixed_ips"]))
    (v6_address,) = [ip["ip_address"] for ip in port_v6["fixed_ips"]]
    lab.wait_addresses(vm_v6, v6_address)
    assert lab.ping(vm_ds, v6_address, count=2)  # through the router

    ports = [
        p
        for net in (net_v6, net_ds)
        for p in lab.call("GET", f"/v2.0/ports?network_id={net['id']}", expect=200)["ports"]
    ]
    assert {p["device_owner"] for p in ports} >= {"network:router_interface", "network:dhcp"}
    ours = Ours(lab, ports)
    before = ours.present()
    # Sanity: the probe sees what is there (namespaces, links, daemons, files).
    assert set(before) == {"namespaces", "host links", "processes", "pids alive", "files"}, before
    assert len(before["namespaces"]) == len(ours.namespaces) == 5, before  # r, 2 x d, 2 x w
    assert any(n.startswith(ROUTER_IF_PREFIX) for n in ours.link_names)
    commands = " ".join(before["processes"].values())
    for daemon in ("radvd", "dnsmasq", "dhclient", "v6fabric.workloads"):
        assert daemon in commands, (daemon, before["processes"])

    assert lab.delete_everything() == [], "every deletion through the API succeeds"
    try:
        wait_for("nothing of ours left on the host", lambda: not ours.present(), 20)
    except AssertionError:
        assert ours.present() == {}
