"""Plugging workloads in and out, as a hypervisor does with VMs.

``plug`` gives a workload its namespace, one veth per port (the ``tap`` end in the host
namespace, enslaved to its bridge when the caller names it, else left down for the agent; the
guest end with the port's MAC and MTU)
and starts its guest agent (:mod:`.guest`). ``unplug`` stops every process of the workload,
deletes its links and namespace and removes its directory. Both are idempotent.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import struct
import sys
from collections.abc import Mapping
from pathlib import Path

from v6fabric.drivers.commands import CommandError, ip_batch, ip_in, run, spawn
from v6fabric.drivers.netns import NETNS_RUN_DIR, enter_supported, run_in_netns
from v6fabric.drivers.sysctl import ProcSysctls
from v6fabric.hoststate.model import WORKLOAD_NS_PREFIX, WorkloadSpec
from v6fabric.workloads.dhcp import install_client_files
from v6fabric.workloads.paths import WorkloadPaths
from v6fabric.workloads.processes import (
    GUEST_MODULE,
    in_namespace,
    process_cmdline,
    terminate,
    workload_pid,
)

log = logging.getLogger(__name__)

# What a modern cloud image has on each NIC. Set after the veth exists and before link up
# (per-interface keys; conf.default would be too late for an existing interface).
GUEST_SYSCTLS: tuple[tuple[str, int], ...] = (
    ("accept_ra", 1),  # not a router: 1 is enough (2 only matters with forwarding=1)
    ("addr_gen_mode", 0),  # EUI-64 link-local and SLAAC addresses, as Neutron computes them
    ("use_tempaddr", 0),
    ("router_solicitation_delay", 0),
)
# Keys that exist only with some kernel options, hence optional (each on its own): route
# information options (RFC 4191, as systemd-networkd and NetworkManager accept them) with
# CONFIG_IPV6_ROUTE_INFO; optimistic DAD (RFC 4429: addresses usable while DAD runs) with
# CONFIG_IPV6_OPTIMISTIC_DAD (Debian's User-Mode-Linux kernel has not).
OPTIMISTIC_DAD: tuple[tuple[str, int], ...] = (("optimistic_dad", 1), ("use_optimistic", 1))
OPTIONAL_GUEST_SYSCTLS: tuple[tuple[str, int], ...] = (
    ("accept_ra_rt_info_max_plen", 128),
    *OPTIMISTIC_DAD,
)


def namespaces() -> set[str]:
    """Named namespaces, from ``/run/netns`` itself: ``ip netns list`` forks and then looks up
    every namespace's id (12 ms with 150 workloads), and the agent asks on every pass."""
    try:
        return set(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return set()


def plugged() -> set[str]:
    """Names of the workload namespaces on this host (prefix ``v6w-``)."""
    return {name for name in namespaces() if name.startswith(WORKLOAD_NS_PREFIX)}


def _links(ip: list[str]) -> dict[str, dict]:
    out = run([*ip, "-json", "-details", "link", "show"]).stdout.strip()
    return {link["ifname"]: link for link in json.loads(out or "[]")}


def _link_exists(ip: list[str], name: str) -> bool:
    """One link looked up by name (not a dump: the host namespace may hold thousands)."""
    return run([*ip, "link", "show", "dev", name], check=False).returncode == 0


def plug(
    spec: WorkloadSpec,
    *,
    host_netns: str | None,
    run_dir: Path,
    bridges: Mapping[str, str] | None = None,
) -> None:
    """Make the workload exist with its interfaces and a running guest agent (idempotent).

    ``bridges`` (tap -> bridge) enslaves and ups the taps as they are made, as libvirt and
    os-vif do for a bridged NIC; without it they are left down for the agent. A new workload
    costs three ``ip`` forks: sysctls are written from inside the namespaces (``drivers.netns``).
    """
    ns = spec.namespace
    paths = WorkloadPaths.of(run_dir, ns)
    paths.root.mkdir(parents=True, exist_ok=True)
    # Recorded first, so that unplug() finds a tap left behind by an interrupted plug().
    _record(paths, spec, host_netns)
    fresh = ns not in namespaces()
    if fresh:
        run(["ip", "netns", "add", ns])
        # Every NIC made from now on takes these (a per-interface key needs the interface).
        _guest_sysctls(ns, "default")
        links: dict[str, dict] = {}
    else:
        links = _links(["ip", "-n", ns])
    host_lines, inside_lines, enslave, made = [], [], [], []
    up = ["lo"]  # guest links to set up, after inside_lines (MAC fixes of existing links)
    for iface in spec.interfaces:
        link = links.get(iface.ifname)
        if link is None:
            if not fresh and _link_exists(ip_in(host_netns), iface.tap):
                host_lines.append(f"link del {iface.tap}")  # half-made by an interrupted plug
            # The hypervisor side gets the network's MTU; the guest's NIC starts at the kernel's
            # default, as a VM's does, and learns the network's MTU from RA (IPv6) and DHCPv4.
            host_lines.append(
                f"link add {iface.tap} mtu {iface.mtu} type veth"
                f" peer name {iface.ifname} netns {ns} address {iface.mac}"
            )
            made.append(iface)
        elif link.get("address", "").lower() != iface.mac.lower():
            inside_lines.append(f"link set dev {iface.ifname} address {iface.mac}")
        if link is None or "UP" not in link.get("flags", ()):
            if not fresh:
                _guest_sysctls(ns, iface.ifname)
            up.append(iface.ifname)
        if bridges and iface.tap in bridges:
            enslave.append(f"link set dev {iface.tap} master {bridges[iface.tap]} up")
    # The hypervisor side must not autoconfigure IPv6 (RS, MLD, DAD into the network): a new
    # tap inherits the namespace default when that is off, else is told before it goes up.
    host_off = _sysctls.read(host_netns, [HOST_DEFAULT_OFF]).get(HOST_DEFAULT_OFF) == "1"
    if host_off:
        ip_batch(host_netns, host_lines + enslave)
    else:
        ip_batch(host_netns, host_lines)
        keys = {f"net.ipv6.conf.{iface.tap}.disable_ipv6": "1" for iface in made}
        _sysctls.write(host_netns, keys)
        ip_batch(host_netns, enslave)
    _inside(ns, inside_lines, up)
    wanted = {iface.ifname for iface in spec.interfaces}
    for name, link in links.items():
        if name not in wanted and link.get("linkinfo", {}).get("info_kind") == "veth":
            log.info("%s: removing %s (no longer in the spec)", ns, name)
            run(["ip", "-n", ns, "link", "del", name])
    install_client_files(paths)
    _ensure_guest(spec, paths, run_dir)


HOST_DEFAULT_OFF = "net.ipv6.conf.default.disable_ipv6"
# A workload stands for a VM, and a hypervisor keeps VMs' vCPUs off the cores of the host's
# control plane (NFV hosts pin them away). Here they share the cores: the guest (and the DHCP
# clients it starts, which inherit this) yields to the agent, the server and the daemons, so
# that a booting workload (~0.1 s of CPU for the guest's start) does not delay the plumbing.
GUEST_NICE = 10
_sysctls = ProcSysctls()


def _inside(ns: str, lines: list[str], up: list[str]) -> None:
    """The guest side: ``lines``, then the ``up`` links set up. Only links to set up (a new
    workload): by ioctl from a thread inside the namespace (~0.2 ms); else as one ``ip -batch``
    (a fork, ~3 ms)."""
    if lines or not enter_supported():
        ip_batch(ns, lines + [f"link set dev {name} up" for name in up])
        return
    try:
        run_in_netns(ns, lambda: _set_up(up))
    except OSError as exc:  # the namespace went away under us, or no such link: as ip would
        raise CommandError(["ip", "-n", ns, "link", "set", "up"], 1, str(exc)) from exc


SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
IFREQ = struct.Struct("16sH22x")  # struct ifreq: the name, then ifr_flags (a short)


def _set_up(names: list[str]) -> None:
    """In the namespace's thread: each link up, as ``ip link set dev NAME up`` does."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in names:
            request = IFREQ.pack(name.encode(), 0)
            _name, flags = IFREQ.unpack(fcntl.ioctl(sock, SIOCGIFFLAGS, request))
            if not flags & IFF_UP:
                fcntl.ioctl(sock, SIOCSIFFLAGS, IFREQ.pack(name.encode(), flags | IFF_UP))


def _guest_sysctls(ns: str, ifname: str) -> None:
    """What a cloud image sets on its NICs, on ``ifname`` ("default": NICs made later)."""
    _sysctls.write(ns, {f"net.ipv6.conf.{ifname}.{k}": str(v) for k, v in GUEST_SYSCTLS})
    for key, value in OPTIONAL_GUEST_SYSCTLS:
        with contextlib.suppress(CommandError):  # not in this kernel
            _sysctls.write(ns, {f"net.ipv6.conf.{ifname}.{key}": str(value)})


def _record(paths: WorkloadPaths, spec: WorkloadSpec, host_netns: str | None) -> None:
    record = {
        "workload_id": spec.workload_id,
        "namespace": spec.namespace,
        "host_netns": host_netns,
        "interfaces": [
            {"ifname": i.ifname, "tap": i.tap, "mac": i.mac, "mtu": i.mtu, "port_id": i.port_id}
            for i in spec.interfaces
        ],
    }
    paths.spec.write_text(json.dumps(record, indent=2) + "\n")


def _guest_argv(spec: WorkloadSpec, run_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", GUEST_MODULE,
        "--namespace", spec.namespace,
        "--run-dir", str(run_dir),
        "--interfaces", ",".join(iface.ifname for iface in spec.interfaces),
    ]  # fmt: skip


def _ensure_guest(spec: WorkloadSpec, paths: WorkloadPaths, run_dir: Path) -> None:
    argv = _guest_argv(spec, run_dir)
    pid = workload_pid(paths.guest_pid, spec.namespace)
    if pid is not None:
        if process_cmdline(pid)[1:] == argv[1:]:
            return  # running with these interfaces
        log.info("%s: restarting the guest agent (interfaces changed)", spec.namespace)
        terminate(pid)
    proc = spawn(argv, netns=spec.namespace, log_file=paths.guest_log)
    with contextlib.suppress(OSError):  # gone already: its own log says why
        os.setpriority(os.PRIO_PROCESS, proc.pid, GUEST_NICE)
    paths.guest_pid.write_text(f"{proc.pid}\n")  # ip netns exec execs: same pid as the agent


# --- unplug -----------------------------------------------------------------------------------


def unplug(namespace: str, *, run_dir: Path) -> None:
    """Stop the workload's processes, delete its links and namespace, remove its directory."""
    paths = WorkloadPaths.of(run_dir, namespace)
    try:
        record = json.loads(paths.spec.read_text())
    except (OSError, ValueError):
        record = {}
    exists = namespace in namespaces()
    if exists:
        # The guest agent first (it stops its dhclients), then anything a pid file names,
        # then whatever still runs in the namespace: everything in it belongs to the workload.
        guest = workload_pid(paths.guest_pid, namespace)
        if guest is not None:
            terminate(guest)
        for pid_file in paths.pid_files() if paths.root.is_dir() else []:
            pid = workload_pid(pid_file, namespace)
            if pid is not None:
                terminate(pid, grace=0.5)
        for word in run(["ip", "netns", "pids", namespace], check=False).stdout.split():
            pid = int(word)
            if in_namespace(pid, namespace):
                terminate(pid, grace=0.0)
        # Deleting the veth here removes its peer (the tap) at once; a namespace's links
        # would otherwise go away asynchronously, after `ip netns del` has returned.
        try:
            links = _links(["ip", "-n", namespace])
        except CommandError as exc:  # e.g. a stale /run/netns entry: deleting it still works
            log.warning("%s: cannot list links: %s", namespace, exc)
            links = {}
        for name, link in links.items():
            if link.get("linkinfo", {}).get("info_kind") == "veth":
                run(["ip", "-n", namespace, "link", "del", name], check=False)
        run(["ip", "netns", "del", namespace])
    host_netns = record.get("host_netns")
    if host_netns is None or host_netns in namespaces():
        for tap in {i["tap"] for i in record.get("interfaces", ())}:
            if not _link_exists(ip_in(host_netns), tap):
                continue
            try:
                run([*ip_in(host_netns), "link", "del", tap])
            except CommandError as exc:
                log.warning("%s: could not delete %s: %s", namespace, tap, exc)
    shutil.rmtree(paths.root, ignore_errors=True)
