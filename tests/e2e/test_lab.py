"""The multi-host lab (``v6fabric.lab``, ``multihost.py``) does what the multi-host tests rely
on: every host's agent is a process living in the host's namespace, registered with its roles
and underlay addresses, talking to the server over the underlay only; a host's plumbing works
(a workload on the network host gets its address and reaches its router); and ``down``, or
``v6fabric lab down`` after the lab's process was killed, leaves nothing behind.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import eui64, namespaces, wait_for
from tests.e2e.lab_api import SLAAC, fixed_ip
from tests.e2e.multihost import MultiHostLab, multihost_lab
from v6fabric.lab import cleanup
from v6fabric.lab import up as lab_up
from v6fabric.lab.plan import LAB_ROOT, new_tag

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")


@pytest.fixture(scope="module")
def mh() -> Iterator[MultiHostLab]:
    with multihost_lab(hosts=3, underlay="ipv6") as lab:
        yield lab


def test_agents_register_with_roles_and_underlay_addresses(mh: MultiHostLab) -> None:
    registered = mh.handle.hosts_registered()
    for host in mh.handle.hosts:
        seen = registered[host.name]
        assert tuple(seen["roles"]) == (("compute", "network") if host.index == 1 else ("compute",))
        assert seen["capabilities"]["underlay"] == {"ipv6": host.underlay["ipv6"]}
        assert seen["capabilities"]["kernel"]["bridge"] is True
    assert len({h.underlay["ipv6"] for h in mh.handle.hosts}) == 3


def _connections(netns: str) -> list[tuple[str, str, str]]:
    """(local address, peer address:port, process) of the established TCP connections."""
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "ss", "-tnpH", "state", "established"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [(f[2], f[3], f[4] if len(f) > 4 else "") for f in map(str.split, out.splitlines())]


def test_agents_reach_the_server_over_the_underlay(mh: MultiHostLab) -> None:
    plan = mh.handle.plan
    port = mh.handle.api_url.rsplit(":", 1)[1]
    controller = f"[{plan.controller_ipv6}]:{port}"
    for host in mh.handle.hosts:
        mine = [c for c in _connections(host.netns) if f"pid={host.pid}," in c[2]]
        assert mine, f"no connection of agent {host.pid} in {host.netns}"
        assert {peer for _local, peer, _p in mine} == {controller}
        assert {local.rsplit(":", 1)[0] for local, _peer, _p in mine} == {
            f"[{host.underlay['ipv6']}]"
        }


def test_a_workload_on_the_network_host_gets_its_address_and_pings_its_router(
    mh: MultiHostLab,
) -> None:
    host1 = mh.on(1)
    net = host1.network(name="lab-plumbing")
    subnet = host1.subnet(net, "2001:db8:61::/64", **SLAAC)
    host1.router(subnet, name="lab-router")
    port = host1.port(net)
    vm = host1.workload("vm1", port)
    host1.wait_active(port, timeout=60)
    address = fixed_ip(port)
    assert ipaddress.ip_address(address) == eui64(subnet["cidr"], port["mac_address"])
    host1.wait_addresses(vm, address, default_route=True, timeout=60)
    assert host1.ping(vm, subnet["gateway_ip"], count=3)
    # the guest's namespace is the network host's: its tap is in host 1's namespace
    taps = subprocess.run(
        ["ip", "-n", host1.host_netns, "-o", "link"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert port["id"][:11] in taps
    mh.reset()


def _leftovers(tag: str, lab_dir: Path) -> list[str]:
    """What of lab ``tag`` is still on the machine: namespaces, links, processes, files."""
    found = [f"namespace {n}" for n in namespaces() if tag in n]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if tag in line]
    found += [f"pid {p}" for p in cleanup._processes_naming(f"{lab_dir}/")]
    found += [f"file {p}" for p in (lab_dir, cleanup.record_path(tag)) if p.exists()]
    return found


def test_down_leaves_nothing_behind() -> None:
    handle = lab_up(hosts=2, underlay="dual")
    try:
        registered = handle.hosts_registered()
        for host in handle.hosts:
            assert set(registered[host.name]["capabilities"]["underlay"]) == {"ipv4", "ipv6"}
        assert handle.plan.overlay_ip_version == 6
        pids = [handle.server_pid, *(h.pid for h in handle.hosts)]
        assert _leftovers(handle.tag, handle.lab_dir)  # the check sees a running lab
    finally:
        handle.down()
    assert _leftovers(handle.tag, handle.lab_dir) == []
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")]


def test_cli_lab_up_then_down_after_a_crash() -> None:
    """``lab up`` killed with SIGKILL (no clean-up of its own) leaves namespaces; ``lab down
    --tag`` removes them and everything else."""
    tag = new_tag()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    cli = [sys.executable, "-m", "v6fabric.cli.main", "lab"]
    proc = subprocess.Popen(
        [*cli, "up", "--hosts", "1", "--underlay", "ipv4", "--tag", tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lab_dir = LAB_ROOT / tag
    try:
        assert proc.stdout is not None
        output = []
        for line in proc.stdout:
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(output)
        assert f"source {lab_dir}/server/admin-openrc.sh" in text, text
        assert {f"v6u-{tag}", f"v6h-{tag}1"} <= namespaces()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert f"v6u-{tag}" in namespaces()  # nobody cleaned up
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        down = subprocess.run([*cli, "down", "--tag", tag], capture_output=True, text=True, env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    wait_for("nothing left of the lab", lambda: not _leftovers(tag, lab_dir), 10)
