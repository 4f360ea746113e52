"""R12: metadata for IPv6-only workloads at ``http://[fe80::a9fe:a9fe%eth0]/``.

IPv6-only workloads, one on a routed network and one on an isolated one, each fetch their own
meta_data.json, network_data.json and user_data at boot (the guest's cloud-init-like step,
which knows only the well-known address), and install their own SSH key. A second workload on
the same network gets its own data, never the first's; a workload that forges another's
address gets nothing. On a routed network two namespaces serve (the router's and the DHCP
namespace's, both holding the address without DAD): with either one gone, fetches go on.

Everything is judged from what the workloads fetched over the network and what their kernels
hold; the proxy's answers come from the workload records the API was given.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.lab import SLAAC, Lab
from tests.e2e.lab_api import fetch_metadata
from v6fabric.drivers.commands import run
from v6fabric.hoststate.model import dhcp_namespace, router_namespace
from v6fabric.workloads.paths import WorkloadPaths

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl (setup.sh installs it)"),
]

KEY_ONE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNvbnN0YW50LWtleS1mb3ItcjEyLW9uZS0wMDAwMDAw r12-one"
KEY_TWO = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNvbnN0YW50LWtleS1mb3ItcjEyLXR3by0wMDAwMDAw r12-two"


def booted(lab: Lab, workload: dict) -> dict[str, Any]:
    """The guest's cloud-init record once it says it fetched everything."""
    paths = WorkloadPaths.of(lab.run_dir, workload["namespace"])

    def done() -> dict[str, Any] | None:
        try:
            status = json.loads(paths.cloudinit_status.read_text())
        except (OSError, ValueError):
            return None
        return status if status.get("ok") else None

    status = wait_for(f"{workload['name']}: metadata fetched at boot", done, timeout=40)
    status["meta"] = json.loads(paths.metadata_file("meta_data.json").read_text())
    status["network"] = json.loads(paths.metadata_file("network_data.json").read_text())
    user_data = paths.metadata_file("user_data")
    status["user_data"] = user_data.read_text() if user_data.exists() else None
    status["keys"] = paths.authorized_keys.read_text() if paths.authorized_keys.exists() else ""
    return status


def served_on(netns: str) -> bool:
    done = run(["ip", "-n", netns, "-j", "addr"], check=False)
    return done.returncode == 0 and "fe80::a9fe:a9fe" in done.stdout


def test_ipv6_only_workloads_fetch_their_own_metadata(clean: Lab) -> None:
    lab = clean
    routed = lab.network(name="r12-routed")
    routed_subnet = lab.subnet(routed, "2001:db8:12:1::/64", **SLAAC)
    lab.router(routed_subnet, name="r12")
    isolated = lab.network(name="r12-isolated")
    lab.subnet(isolated, "2001:db8:12:2::/64", **SLAAC)  # RAs from its DHCP namespace
    ports = [lab.port(routed), lab.port(routed), lab.port(isolated)]
    given = [
        {"user_data": "#cloud-config\nhostname: one\n", "keys": [("one", KEY_ONE)], "role": "a"},
        {"user_data": "#!/bin/sh\necho two\n", "keys": [("two", KEY_TWO)], "role": "b"},
        {"user_data": "isolated\n", "keys": [], "role": "c"},
    ]
    workloads = [
        lab.workload(
            f"r12-{i}",
            port,
            user_data=g["user_data"],
            public_keys=[{"name": n, "key": k} for n, k in g["keys"]],
            properties={"role": g["role"]},
        )
        for i, (port, g) in enumerate(zip(ports, given, strict=True))
    ]
    for workload, port, g in zip(workloads, ports, given, strict=True):
        got = booted(lab, workload)
        assert got["source"] == "http://[fe80::a9fe:a9fe%eth0]", got["source"]
        meta = got["meta"]
        assert (meta["uuid"], meta["name"]) == (workload["id"], workload["name"])
        assert meta["meta"] == {"role": g["role"]}
        assert meta["public_keys"] == dict(g["keys"])
        assert got["user_data"] == g["user_data"]
        for _name, key in g["keys"]:
            assert key in got["keys"]
        links = got["network"]["links"]
        assert [link["ethernet_mac_address"] for link in links] == [port["mac_address"]]
        (net,) = got["network"]["networks"]
        assert (net["type"], net["ip_address"]) == (
            "ipv6_slaac",
            port["fixed_ips"][0]["ip_address"],
        )
    # the two on one network never got each other's keys
    assert KEY_TWO not in booted(lab, workloads[0])["keys"]
    assert KEY_ONE not in booted(lab, workloads[1])["keys"]

    # Forged: the second workload takes the first's global address as its own and asks from
    # it. Anti-spoofing drops its packets before they reach the service: no answer at all.
    first_global = port_address(ports[0])
    run(
        ["ip", "addr", "add", f"{first_global}/128", "dev", "eth0", "nodad"],
        netns=workloads[1]["namespace"],
    )
    assert fetch_metadata(workloads[1], source=first_global) is None
    assert fetch_metadata(workloads[1])["uuid"] == workloads[1]["id"]  # its own address still works
    # and so does asking from its own global address the same way (the control: binding a
    # source is not what failed above)
    own = fetch_metadata(workloads[1], source=port_address(ports[1]))
    assert own is not None and own["uuid"] == workloads[1]["id"]


def port_address(port: dict) -> str:
    return str(port["fixed_ips"][0]["ip_address"])


def serving_pair(lab: Lab, name: str, cidr: str) -> tuple[dict, dict, dict, dict]:
    """A routed IPv6-only network whose router's and DHCP namespaces both serve metadata, and
    a workload that fetched its own at boot: (network, subnet, router, workload)."""
    net = lab.network(name=name)
    subnet = lab.subnet(net, cidr, **SLAAC)
    router = lab.router(subnet, name=name)
    workload = lab.workload(f"{name}-vm", lab.port(net))
    booted(lab, workload)
    dhcp_ns, router_ns = dhcp_namespace(net["id"]), router_namespace(router["id"])
    assert served_on(dhcp_ns) and served_on(router_ns)  # both, neither lost it to DAD
    return net, subnet, router, workload


def answered(workload: dict) -> bool:
    got = fetch_metadata(workload)
    return got is not None and got["uuid"] == workload["id"]


def test_metadata_survives_either_of_two_serving_namespaces_going(clean: Lab) -> None:
    lab = clean
    # The DHCP namespace goes (its port deleted, as an admin may): the router serves.
    net, _subnet, _router, workload = serving_pair(lab, "r12-a", "2001:db8:12:3::/64")
    (dhcp_port,) = lab.call("GET", f"/v2.0/ports?network_id={net['id']}&device_owner=network:dhcp")[
        "ports"
    ]
    lab.call("DELETE", f"/v2.0/ports/{dhcp_port['id']}", expect=204)
    wait_for("the DHCP namespace gone", lambda: not served_on(dhcp_namespace(net["id"])), 15)
    wait_for("a fetch answered by the router's namespace", lambda: answered(workload), 15)

    # The router's interface goes (its radvd withdraws the route to it): the DHCP namespace
    # serves, on-link.
    net, subnet, router, workload = serving_pair(lab, "r12-b", "2001:db8:12:4::/64")
    lab.call(
        "PUT",
        f"/v2.0/routers/{router['id']}/remove_router_interface",
        {"subnet_id": subnet["id"]},
        200,
    )
    wait_for("the router's leg gone", lambda: not served_on(router_namespace(router["id"])), 15)
    wait_for("a fetch answered by the DHCP namespace", lambda: answered(workload), 20)
    assert served_on(dhcp_namespace(net["id"]))


def test_ipv4_guests_reach_169_254_169_254_by_the_dhcp_route(clean: Lab) -> None:
    """Dual stack: DHCPv4's option 121 routes 169.254.169.254 to the DHCP namespace, which
    holds it; the workload's own DHCP client installed that route (nothing else did)."""
    lab = clean
    net = lab.network(name="r12-v4")
    v4 = lab.subnet(net, "10.12.5.0/24")
    v6 = lab.subnet(net, "2001:db8:12:5::/64", **SLAAC)
    lab.router(v4, v6, name="r12-v4")
    port = lab.port(net)
    workload = lab.workload("r12-v4-vm", port)
    lab.wait_active(port)
    dhcp_v4 = next(
        ip["ip_address"]
        for p in lab.call("GET", f"/v2.0/ports?network_id={net['id']}&device_owner=network:dhcp")[
            "ports"
        ]
        for ip in p["fixed_ips"]
        if ip["subnet_id"] == v4["id"]
    )

    def routed() -> bool:
        out = run(
            ["ip", "-4", "route", "get", "169.254.169.254"],
            netns=workload["namespace"],
            check=False,
        )
        return f"via {dhcp_v4} " in out.stdout

    wait_for("the DHCP route to 169.254.169.254", routed, timeout=30)
    argv = [
        "curl",
        "-sS",
        "--max-time",
        "3",
        "http://169.254.169.254/openstack/latest/meta_data.json",
    ]
    done = run(argv, netns=workload["namespace"], check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["uuid"] == workload["id"]
