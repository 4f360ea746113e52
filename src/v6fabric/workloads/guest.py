"""The guest agent: what NetworkManager or systemd-networkd does inside a cloud image, in small.

``python -m v6fabric.workloads.guest --namespace NS --run-dir DIR --interfaces eth0,eth1`` runs
inside the workload's namespace for as long as the workload exists. The kernel does SLAAC, the
default route and on-link prefixes from RAs (``accept_ra=1``); this process adds the rest:

* listens to every RA (raw ICMPv6 socket, :mod:`.ra`) and solicits one per interface at start
  (and with back-off until one arrives), so it does not wait for the kernel's own RS;
* per interface, from the M and O flags of the RAs heard there: M=1 -> ``dhclient -6 -N``,
  O=1 and M=0 -> ``dhclient -6 -S``, neither -> no DHCPv6 client; started only once the
  interface's link-local address is no longer tentative (dhclient cannot bind before);
* ``dhclient -4`` on every interface, always (dual stack; with no DHCPv4 server it just retries);
* the workload's own ``resolv.conf`` from RDNSS/DNSSL and the DHCP leases' resolver data;
* once at start, in a background thread, the cloud-init-like step (:mod:`.cloudinit`): metadata
  over IPv6 link-local, SSH keys, static addresses from ``network_data.json``.

It learns nothing from v6fabric's database: only from the network.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from pathlib import Path

from v6fabric.workloads import cloudinit
from v6fabric.workloads.dhcp import STATEFUL, STATELESS, DhcpClient, install_client_files
from v6fabric.workloads.paths import WorkloadPaths
from v6fabric.workloads.ra import INFINITE, RaSocket, RouterAdvert
from v6fabric.workloads.resolver import ResolverSource, merge, read_lease_dns, write_if_changed

log = logging.getLogger("v6fabric.workloads.guest")

IFA_F_OPTIMISTIC = 0x04
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
ROUTER_MEMORY = 1800.0  # forget a router not heard for MaxRtrAdvInterval's upper bound (RFC 4861)
RS_MAX_INTERVAL = 60.0
FAST_POLL = 0.25  # while a link-local address is still tentative (netlink wakes us anyway)
IDLE_POLL = 30.0  # level-triggered pass when nothing happens
RTMGRP_LINK = 0x1
RTMGRP_IPV6_IFADDR = 0x100


def _netlink_events() -> socket.socket:
    """Link and IPv6 address notifications of this namespace: a link coming up (carrier), a
    link-local address appearing or finishing DAD wakes the loop at once."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK | RTMGRP_IPV6_IFADDR))
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> None:
    while True:
        try:
            if not sock.recv(65536):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # ENOBUFS: events were lost; the next step reads the state anyway
            return


@dataclass
class LinkLocal:
    present: bool = False
    usable: bool = False  # can source packets (optimistic counts, with use_optimistic=1)
    ready: bool = False  # DAD done: sockets can bind to it (dhclient -6 needs this)
    failed: bool = False


def read_link_locals(path: Path = Path("/proc/net/if_inet6")) -> dict[str, LinkLocal]:
    """State of each interface's link-local address, from the kernel (this namespace)."""
    result: dict[str, LinkLocal] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return result
    for line in lines:
        fields = line.split()
        if len(fields) != 6 or int(fields[3], 16) != 0x20:
            continue
        flags = int(fields[4], 16)
        state = result.setdefault(fields[5], LinkLocal())
        state.present = True
        if flags & IFA_F_DADFAILED:
            state.failed = True
            continue
        tentative = bool(flags & IFA_F_TENTATIVE)
        state.ready = state.ready or not tentative
        state.usable = state.usable or not tentative or bool(flags & IFA_F_OPTIMISTIC)
    return result


@dataclass
class Interface:
    ifname: str
    metric: int
    ifindex: int = 0
    routers: dict[IPv6Address, tuple[RouterAdvert, float]] = field(default_factory=dict)
    rdnss: dict[IPv6Address, float] = field(default_factory=dict)  # server -> expiry
    dnssl: dict[str, float] = field(default_factory=dict)  # domain -> expiry
    solicits: int = 0
    next_solicit: float = 0.0
    link_local: LinkLocal = field(default_factory=LinkLocal)
    dhcp6: DhcpClient | None = None
    dhcp4: DhcpClient | None = None

    @property
    def managed(self) -> bool:
        return any(ra.managed for ra, _ in self.routers.values())

    @property
    def other(self) -> bool:
        return any(ra.other for ra, _ in self.routers.values())

    @property
    def wanted_dhcp6(self) -> str | None:
        return STATEFUL if self.managed else STATELESS if self.other else None

    def learn(self, ra: RouterAdvert, now: float) -> None:
        previous = self.routers.get(ra.router)
        self.routers[ra.router] = (ra, now)
        for server, lifetime in ra.rdnss:
            _remember(self.rdnss, server, lifetime, now)
        for domain, lifetime in ra.dnssl:
            _remember(self.dnssl, domain, lifetime, now)
        if previous is None or (previous[0].managed, previous[0].other) != (ra.managed, ra.other):
            log.info(
                "%s: RA from %s: M=%d O=%d lifetime=%d prefixes=%s rdnss=%s dnssl=%s",
                self.ifname, ra.router, ra.managed, ra.other, ra.router_lifetime,
                [str(p.prefix) for p in ra.prefixes], [str(s) for s, _ in ra.rdnss],
                [d for d, _ in ra.dnssl],
            )  # fmt: skip
        self.solicits = -1  # heard a router: stop soliciting

    def expire(self, now: float) -> None:
        for router in [r for r, (_, seen) in self.routers.items() if now - seen > ROUTER_MEMORY]:
            del self.routers[router]
        for table in (self.rdnss, self.dnssl):
            for key in [k for k, expiry in table.items() if expiry <= now]:
                del table[key]


def _remember(table: dict, key: object, lifetime: int, now: float) -> None:
    if lifetime == 0:
        table.pop(key, None)
    else:
        table[key] = math.inf if lifetime == INFINITE else now + lifetime


class GuestAgent:
    def __init__(self, namespace: str, paths: WorkloadPaths, ifnames: list[str]) -> None:
        self.namespace = namespace
        self.paths = paths
        self.interfaces = [Interface(name, 100 + i) for i, name in enumerate(ifnames)]
        self.stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._last_state = ""

    # --- signals: SIGTERM/SIGINT stop; SIGUSR1 (the dhclient hook) and SIGCHLD wake the loop
    def _install_signals(self) -> None:
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGUSR1, lambda *_: None)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a dhclient exited: look at once

    def _on_stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> int:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.paths.dns_dir.mkdir(exist_ok=True)
        install_client_files(self.paths)
        self._install_signals()
        # At boot, as cloud-init does; in a thread: the RA/DHCP loop never waits for it.
        cloudinit.start(self.paths, [i.ifname for i in self.interfaces])
        ra_socket = RaSocket()
        events = _netlink_events()
        log.info(
            "guest agent of %s: interfaces %s", self.namespace, [i.ifname for i in self.interfaces]
        )
        try:
            while not self.stopping:
                now = time.monotonic()
                self.step(ra_socket, now)
                timeout = self._timeout(now)
                readable, _, _ = select.select([ra_socket, events, self._wake_r], [], [], timeout)
                for sock in (events, self._wake_r):
                    if sock in readable:
                        _drain(sock)
                if ra_socket in readable:
                    self.on_adverts(ra_socket.receive(), time.monotonic())
        finally:
            for iface in self.interfaces:
                for client in (iface.dhcp6, iface.dhcp4):
                    if client:
                        client.stop()
            ra_socket.close()
            events.close()
            log.info("guest agent of %s stopped", self.namespace)
        return 0

    def _timeout(self, now: float) -> float:
        """Until the next timer. Everything else wakes the loop: RAs (raw socket), links and
        addresses (netlink), leases (SIGUSR1 from the hook) and exiting clients (SIGCHLD)."""
        if any(
            i.link_local.present and not (i.link_local.ready or i.link_local.failed)
            for i in self.interfaces
        ):
            return FAST_POLL
        timers = [now + IDLE_POLL]
        for i in self.interfaces:
            if i.solicits >= 0 and i.link_local.usable:
                timers.append(i.next_solicit)
            timers += [c.not_before for c in (i.dhcp4, i.dhcp6) if c and not c.running]
            timers += [*i.rdnss.values(), *i.dnssl.values()]
            timers += [seen + ROUTER_MEMORY for _, seen in i.routers.values()]
        return max(0.01, min(timers) - now)

    def on_adverts(self, adverts: list[tuple[int, RouterAdvert]], now: float) -> None:
        by_index = {i.ifindex: i for i in self.interfaces if i.ifindex}
        for ifindex, ra in adverts:
            iface = by_index.get(ifindex)
            if iface is not None:
                iface.learn(ra, now)
        if adverts:
            self.step(None, now)

    def step(self, ra_socket: RaSocket | None, now: float) -> None:
        """One level-triggered pass: solicit, expire, reconcile DHCP clients, resolver, state."""
        link_locals = read_link_locals()
        for iface in self.interfaces:
            try:
                iface.ifindex = socket.if_nametoindex(iface.ifname)
            except OSError:
                iface.ifindex = 0
                continue
            iface.link_local = link_locals.get(iface.ifname, LinkLocal())
            iface.expire(now)
            if ra_socket is not None:
                self._solicit(ra_socket, iface, now)
            self._reconcile_dhcp(iface, now)
        self._write_resolver()
        self._write_state()

    def _solicit(self, ra_socket: RaSocket, iface: Interface, now: float) -> None:
        if iface.solicits < 0 or now < iface.next_solicit or not iface.link_local.usable:
            return
        try:
            ra_socket.solicit(iface.ifindex)
        except OSError as exc:  # e.g. no usable source address yet
            log.debug("%s: router solicitation failed: %s", iface.ifname, exc)
            iface.next_solicit = now + 0.2
            return
        iface.solicits += 1
        iface.next_solicit = now + min(RS_MAX_INTERVAL, 2.0 ** (iface.solicits - 1))

    def _reconcile_dhcp(self, iface: Interface, now: float) -> None:
        if iface.dhcp4 is None:
            iface.dhcp4 = DhcpClient(self.paths, iface.ifname, 4, None, iface.metric)
        iface.dhcp4.ensure(now)
        wanted = iface.wanted_dhcp6
        if iface.dhcp6 is not None and iface.dhcp6.mode != wanted:
            # The flags changed (or every router is gone): a network manager switches clients.
            log.info("%s: DHCPv6 %s -> %s", iface.ifname, iface.dhcp6.mode, wanted)
            iface.dhcp6.stop()
            iface.dhcp6 = None
            if wanted is None:  # nothing says DHCPv6 any more: forget its resolver data
                (self.paths.dns_dir / f"{iface.ifname}.6").unlink(missing_ok=True)
        if wanted and iface.dhcp6 is None and iface.link_local.ready:
            iface.dhcp6 = DhcpClient(self.paths, iface.ifname, 6, wanted, iface.metric)
        if iface.dhcp6 is not None:
            iface.dhcp6.ensure(now)

    def _write_resolver(self) -> None:
        sources: list[ResolverSource] = []
        for iface in self.interfaces:
            sources.append(ResolverSource(iface.ifname, list(iface.rdnss), list(iface.dnssl)))
            sources.append(read_lease_dns(self.paths.dns_dir / f"{iface.ifname}.6", iface.ifname))
        for iface in self.interfaces:
            sources.append(read_lease_dns(self.paths.dns_dir / f"{iface.ifname}.4", iface.ifname))
        text = merge(sources).render(
            f"workload {self.namespace}: written by its guest agent from RAs and DHCP"
        )
        if write_if_changed(self.paths.resolv_conf, text):
            log.info("resolv.conf:\n%s", text.rstrip())

    def _write_state(self) -> None:
        state = {
            "namespace": self.namespace,
            "pid": os.getpid(),
            "interfaces": {
                i.ifname: {
                    "link_local_ready": i.link_local.ready,
                    "routers": sorted(str(r) for r in i.routers),
                    "managed": i.managed,
                    "other": i.other,
                    "rdnss": [str(s) for s in i.rdnss],
                    "dnssl": list(i.dnssl),
                    "dhcpv6": i.dhcp6.mode if i.dhcp6 and i.dhcp6.active else None,
                    "dhcpv4": bool(i.dhcp4 and i.dhcp4.running),
                }
                for i in self.interfaces
            },
        }
        text = json.dumps(state, indent=2, sort_keys=True) + "\n"
        if text != self._last_state:
            write_if_changed(self.paths.state, text)
            self._last_state = text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m v6fabric.workloads.guest", description=__doc__)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--interfaces", required=True, help="comma-separated, e.g. eth0,eth1")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    ifnames = [name for name in args.interfaces.split(",") if name]
    paths = WorkloadPaths.of(args.run_dir, args.namespace)
    return GuestAgent(args.namespace, paths, ifnames).run()


if __name__ == "__main__":
    raise SystemExit(main())
