"""The metadata proxy daemon on real namespaces (root only): the ``v6fabric metadata-proxy``
command as the agent will run it (root namespace, config file, pid file, SIGHUP, SIGTERM).

Lab: a "hypervisor" namespace ``t7-<tag>-h`` with a bridge; a serving namespace
``t7-<tag>-d`` (``fe80::a9fe:a9fe/64 nodad`` and ``169.254.169.254/32`` on ``md-<tag>``, as
a DHCP namespace has them); workloads ``t7-<tag>-w1`` / ``-w2`` with known MACs and their
EUI-64 link-locals, each plugged into the bridge by a veth. Only w1's port is in the config at
first. Guests fetch with curl and a zone id, as a cloud image does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import eui64, wait_for
from v6fabric.drivers.commands import read_pid, run
from v6fabric.hoststate.metadata import (
    MetadataInstance,
    MetadataListener,
    MetadataPort,
    MetadataSpec,
)
from v6fabric.metadata.config import write_config

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces"),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("ip", "curl")), reason="needs iproute2 and curl"
    ),
]

SRC = Path(__file__).resolve().parents[2] / "src"
META = "/openstack/latest/meta_data.json"
V4_NET = "10.254.0"


@dataclass(frozen=True)
class Workload:
    namespace: str
    mac: str

    @property
    def link_local(self) -> str:
        return str(eui64("fe80::/64", self.mac))


@dataclass
class MetadataLab:
    tag: str
    run_dir: Path
    host: str
    serving: str
    ifname: str
    w1: Workload
    w2: Workload
    daemon: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.run_dir / "metadata" / "proxy.json"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "metadata" / "proxy.pid"

    @property
    def status_file(self) -> Path:
        return self.run_dir / "metadata" / "status.json"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "metadata" / "proxy.log"

    def spec(self, *, with_w2: bool = False) -> MetadataSpec:
        listener = MetadataListener(self.serving, self.ifname, f"net-{self.tag}", ipv4=True)
        ports = [self._port(self.w1, "1", f"{V4_NET}.11")]
        instances = [self._instance("1")]
        if with_w2:
            ports.append(self._port(self.w2, "2", f"{V4_NET}.12"))
            instances.append(self._instance("2"))
        return MetadataSpec.of((listener,), tuple(ports), tuple(instances))

    def _port(self, workload: Workload, n: str, v4: str) -> MetadataPort:
        return MetadataPort(
            f"port{n}-{self.tag}",
            f"net-{self.tag}",
            workload.mac,
            (workload.link_local, v4),
            f"dev{n}-{self.tag}",
            f"proj{n}",
        )

    def _instance(self, n: str) -> MetadataInstance:
        return MetadataInstance(
            instance_id=f"dev{n}-{self.tag}",
            project_id=f"proj{n}",
            name=f"vm{n}",
            hostname=f"vm{n}",
            public_keys=((f"key{n}", f"ssh-ed25519 AAAA{n} user{n}@test"),),
            user_data=f"#cloud-config\nhostname: vm{n}\n",
        )

    def start(self) -> None:
        argv = [sys.executable, "-m", "v6fabric.cli.main", "metadata-proxy"]
        argv += ["--config", str(self.config), "--pid-file", str(self.pid_file)]
        argv += ["--log-file", str(self.log_file), "--check-interval", "0.5"]
        argv += ["--status-file", str(self.status_file)]
        env = {**os.environ, "PYTHONPATH": f"{SRC}:{os.environ.get('PYTHONPATH', '')}"}
        self.daemon = subprocess.Popen(argv, env=env, start_new_session=True)
        wait_for("the proxy's pid file", lambda: read_pid(self.pid_file), timeout=15)

    def stop(self) -> int | None:
        if self.daemon is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            self.daemon.send_signal(signal.SIGTERM)
        try:
            return self.daemon.wait(10)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait(5)
            return None
        finally:
            self.daemon = None


def curl(namespace: str, url: str, *, timeout: float = 4) -> tuple[int, bytes]:
    """(HTTP status, body) of a GET from inside ``namespace``; status 0 when no answer came."""
    argv = ["curl", "-sS", "-g", "--max-time", str(timeout), "-o", "-", "-w", "\n%{http_code}"]
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv, url], capture_output=True, timeout=timeout + 5
    )
    body, _, code = done.stdout.rpartition(b"\n")
    return int(code or b"0"), body


# curl cannot bind a link-local source (its --interface has no zone): a guest's own stdlib
# client, bound to (source, 0, 0, ifindex of eth0), stands in for it.
_FETCH_FROM = """
import socket, sys
source, path = sys.argv[1], sys.argv[2]
scope = socket.if_nametoindex("eth0")
sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
sock.settimeout(3)
try:
    sock.bind((source, 0, 0, scope))
    sock.connect(("fe80::a9fe:a9fe", 80, 0, scope))
    sock.sendall(b"GET " + path.encode() + b" HTTP/1.0\\r\\nHost: metadata\\r\\n\\r\\n")
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    head, _, body = reply.partition(b"\\r\\n\\r\\n")
    sys.stdout.buffer.write(head.split(b" ")[1] + b"\\n" + body)
except OSError as exc:  # no answer: refused, reset or timed out
    sys.stdout.buffer.write(b"0\\n" + repr(exc).encode())
"""


def fetch_from(namespace: str, source: str, path: str) -> tuple[int, bytes]:
    """(HTTP status, body) of a GET from ``source`` (a link-local of eth0); 0: no answer."""
    argv = ["ip", "netns", "exec", namespace, sys.executable, "-c", _FETCH_FROM, source, path]
    done = subprocess.run(argv, capture_output=True, timeout=15, check=False)
    assert done.returncode == 0, done.stderr.decode()
    status, _, body = done.stdout.partition(b"\n")
    return int(status), body


def ll_url(path: str) -> str:
    return f"http://[fe80::a9fe:a9fe%eth0]{path}"


def _veth_into_bridge(lab_host: str, namespace: str, inner: str, outer: str) -> None:
    run(["ip", "-n", lab_host, "link", "add", outer, "type", "veth", "peer", "name", inner])
    run(["ip", "-n", lab_host, "link", "set", inner, "netns", namespace])
    run(["ip", "-n", lab_host, "link", "set", outer, "master", "br0", "up"])


def _plug_serving(lab: MetadataLab) -> None:
    """The serving interface, as the agent makes a DHCP namespace's: with its port's MAC
    (made again, it keeps it, so guests' neighbour entries stay right)."""
    _veth_into_bridge(lab.host, lab.serving, lab.ifname, f"d-{lab.tag}")
    ns, ifname = lab.serving, lab.ifname
    mac = "fa:16:3e:" + ":".join([lab.tag[:2], lab.tag[2:4], "fe"])
    run(["ip", "-n", ns, "link", "set", ifname, "address", mac])
    run(["ip", "-n", ns, "link", "set", ifname, "up"])
    run(["ip", "-n", ns, "addr", "add", "fe80::a9fe:a9fe/64", "dev", ifname, "nodad"])
    run(["ip", "-n", ns, "addr", "add", "169.254.169.254/32", "dev", ifname])
    run(["ip", "-n", ns, "addr", "add", f"{V4_NET}.1/24", "dev", ifname])


def _plug_workload(lab: MetadataLab, workload: Workload, n: str) -> None:
    ns = workload.namespace
    run(["ip", "netns", "add", ns])
    _veth_into_bridge(lab.host, ns, "eth0", f"w{n}-{lab.tag}")
    run(["ip", "-n", ns, "link", "set", "eth0", "address", workload.mac])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "addr", "add", f"{V4_NET}.1{n}/24", "dev", "eth0"])
    run(["ip", "-n", ns, "route", "add", "169.254.169.254/32", "dev", "eth0"])


def _link_local_ready(namespace: str, address: str) -> bool:
    out = run(["ip", "-n", namespace, "-j", "addr", "show", "dev", "eth0"]).stdout
    for info in json.loads(out)[0]["addr_info"]:
        if info["local"] == address:
            return not info.get("tentative", False)
    return False


@pytest.fixture
def mdlab(ns_tag: str, lab_dirs: tuple[Path, Path]) -> Iterator[MetadataLab]:
    """The lab; afterwards the daemon is stopped and (by ``lab_dirs``) every tagged namespace
    and everything with a pid file in the run dir removed, even when the test failed."""
    run_dir = lab_dirs[0]
    lab = MetadataLab(
        tag=ns_tag,
        run_dir=run_dir,
        host=f"t7-{ns_tag}-h",
        serving=f"t7-{ns_tag}-d",
        ifname=f"md-{ns_tag}",
        w1=Workload(f"t7-{ns_tag}-w1", "fa:16:3e:" + ":".join([ns_tag[:2], ns_tag[2:4], "01"])),
        w2=Workload(f"t7-{ns_tag}-w2", "fa:16:3e:" + ":".join([ns_tag[:2], ns_tag[2:4], "02"])),
    )
    try:
        for ns in (lab.host, lab.serving):
            run(["ip", "netns", "add", ns])
        run(["ip", "-n", lab.host, "link", "add", "br0", "type", "bridge"])
        run(["ip", "netns", "exec", lab.host, "sysctl", "-qw", "net.ipv6.conf.br0.disable_ipv6=1"])
        run(["ip", "-n", lab.host, "link", "set", "br0", "up"])
        _plug_serving(lab)
        _plug_workload(lab, lab.w1, "1")
        _plug_workload(lab, lab.w2, "2")
        for w in (lab.w1, lab.w2):
            wait_for(
                f"{w.link_local} usable", lambda w=w: _link_local_ready(w.namespace, w.link_local)
            )
        write_config(lab.config, lab.spec())
        lab.start()
        yield lab
    finally:
        lab.stop()


def test_a_workload_fetches_its_own_metadata_over_ipv6_link_local(mdlab: MetadataLab) -> None:
    status, body = curl(mdlab.w1.namespace, ll_url(META))
    assert status == 200, body
    data = json.loads(body)
    assert (data["uuid"], data["name"]) == (f"dev1-{mdlab.tag}", "vm1")
    assert curl(mdlab.w1.namespace, ll_url("/openstack/latest/user_data"))[1] == (
        b"#cloud-config\nhostname: vm1\n"
    )
    # RFC 6874's %25 form and the EC2 tree
    status, body = curl(
        mdlab.w1.namespace, "http://[fe80::a9fe:a9fe%25eth0]/latest/meta-data/instance-id"
    )
    assert (status, body) == (200, f"dev1-{mdlab.tag}".encode())
    serving = json.loads(mdlab.status_file.read_text())
    assert (serving["listening"], serving["pending"]) == ([f"{mdlab.serving}/{mdlab.ifname}"], [])


def test_ipv4_metadata_address(mdlab: MetadataLab) -> None:
    status, body = curl(mdlab.w1.namespace, "http://169.254.169.254/latest/meta-data/hostname")
    assert (status, body) == (200, b"vm1")


def test_a_workload_not_in_the_config_gets_404_until_a_reload_adds_it(
    mdlab: MetadataLab,
) -> None:
    status, body = curl(mdlab.w2.namespace, ll_url(META))
    assert status == 404
    assert b"vm1" not in body and b"dev1" not in body
    assert "unidentified" in mdlab.log_file.read_text()
    pid = read_pid(mdlab.pid_file)
    write_config(mdlab.config, mdlab.spec(with_w2=True))
    os.kill(pid, signal.SIGHUP)  # type: ignore[arg-type]

    def reloaded() -> bytes | None:
        status, body = curl(mdlab.w2.namespace, ll_url(META))
        return body if status == 200 else None

    assert json.loads(wait_for("w2's metadata after SIGHUP", reloaded, timeout=10))["name"] == "vm2"
    assert read_pid(mdlab.pid_file) == pid  # reloaded, not restarted
    assert json.loads(curl(mdlab.w1.namespace, ll_url(META))[1])["name"] == "vm1"


def test_a_forged_source_address_gets_nothing(mdlab: MetadataLab) -> None:
    forged = "fe80::dead:beef"
    run(["ip", "-n", mdlab.w1.namespace, "addr", "add", f"{forged}/64", "dev", "eth0", "nodad"])
    status, body = fetch_from(mdlab.w1.namespace, forged, META)
    assert status == 404, (status, body)
    assert b"dev1" not in body
    assert f"from {forged}" in mdlab.log_file.read_text()
    # the genuine address, from the same workload, still works
    assert fetch_from(mdlab.w1.namespace, mdlab.w1.link_local, META)[0] == 200


def test_another_workload_claiming_a_listed_address_gets_nothing(mdlab: MetadataLab) -> None:
    """w2 takes w1's link-local (and IPv4) address right after w1 fetched: the neighbour table
    shows w2's MAC, or the handshake never completes; never w1's data."""
    assert curl(mdlab.w1.namespace, ll_url(META))[0] == 200
    w2 = mdlab.w2.namespace
    run(["ip", "-n", w2, "addr", "add", f"{mdlab.w1.link_local}/64", "dev", "eth0", "nodad"])
    status, body = fetch_from(w2, mdlab.w1.link_local, META)
    assert status in (0, 404), (status, body)  # 0: the handshake's answer went to w1
    assert b"dev1" not in body


def test_a_serving_interface_made_anew_is_served_again(mdlab: MetadataLab) -> None:
    """The agent deleted and made again the DHCP port's veth: the old socket is bound to an
    ifindex that is gone; the daemon notices and listens on the new one."""
    assert curl(mdlab.w1.namespace, ll_url(META))[0] == 200
    run(["ip", "-n", mdlab.serving, "link", "delete", mdlab.ifname])
    _plug_serving(mdlab)

    def served() -> bool:
        return curl(mdlab.w1.namespace, ll_url(META), timeout=2)[0] == 200

    try:
        wait_for("metadata on the new interface", served, timeout=15)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; proxy log:\n{mdlab.log_file.read_text()}") from None
    assert "is stale" in mdlab.log_file.read_text()


def test_sigterm_stops_the_daemon_and_removes_its_pid_file(mdlab: MetadataLab) -> None:
    assert mdlab.stop() == 0
    assert not mdlab.pid_file.exists()
    assert curl(mdlab.w1.namespace, ll_url(META), timeout=2)[0] == 0  # nothing listens


def test_the_spec_round_trips_through_the_config_file(mdlab: MetadataLab) -> None:
    from v6fabric.metadata.config import load_config

    assert load_config(mdlab.config).spec == mdlab.spec()
    assert mdlab.spec().replaced(ports=()) != mdlab.spec()
