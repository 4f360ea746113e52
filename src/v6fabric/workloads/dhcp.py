"""One ISC dhclient per interface and family, as the guest agent runs them.

Every client gets the workload's own hook (``-sf``), configuration (``-cf``), lease and pid
files, runs in the foreground (``-d``) as a child of the guest agent (which therefore sees it
exit and restarts it), and keeps running to renew. DHCPv6 uses DUID-LL (``-D LL``): the DUID
holds the port's MAC, like a cloud image's, so MAC reservations match even through relays.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from importlib import resources

from v6fabric.drivers.commands import spawn
from v6fabric.workloads.paths import WorkloadPaths
from v6fabric.workloads.resolver import write_if_changed

log = logging.getLogger(__name__)

STATEFUL = "stateful"  # M=1: dhclient -6 -N (IA_NA)
STATELESS = "stateless"  # O=1, M=0: dhclient -6 -S (Information-request)
# dhclient -S exits once it has the information; ask again after RFC 8415's IRT_DEFAULT.
INFORMATION_REFRESH = 86400.0
STABLE_SECONDS = 60.0  # a client that ran this long before exiting starts its back-off afresh

DHCLIENT_CONF = """\
# dhclient configuration of a v6fabric workload (not the host's /etc/dhcp/dhclient.conf)
option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
request subnet-mask, broadcast-address, time-offset, routers,
        domain-name, domain-name-servers, domain-search, interface-mtu,
        rfc3442-classless-static-routes,
        dhcp6.name-servers, dhcp6.domain-search;
"""


def install_client_files(paths: WorkloadPaths) -> None:
    """The hook (executable) and the dhclient configuration, in the workload's directory."""
    script = resources.files("v6fabric.workloads").joinpath("dhclient_script.sh").read_text()
    for path, text, mode in (
        (paths.dhclient_script, script, 0o755),
        (paths.dhclient_conf, DHCLIENT_CONF, 0o644),
    ):
        write_if_changed(path, text, mode)


class DhcpClient:
    """A dhclient for one interface and family (mode: STATEFUL/STATELESS for 6, None for 4)."""

    def __init__(
        self, paths: WorkloadPaths, ifname: str, family: int, mode: str | None, metric: int
    ) -> None:
        self.paths = paths
        self.ifname = ifname
        self.family = family
        self.mode = mode
        self.metric = metric
        self.proc: subprocess.Popen[bytes] | None = None
        self.failures = 0
        self.started_at = 0.0
        self.not_before = 0.0  # monotonic time before which the client is not (re)started
        self.informed = False  # a stateless client got its answer (and exited, as -S does)

    def argv(self) -> list[str]:
        p = self.paths
        argv = ["dhclient", f"-{self.family}", "-d", "-v"]
        if self.family == 6:
            argv += ["-D", "LL", "-S" if self.mode == STATELESS else "-N"]
        argv += [
            "-cf", str(p.dhclient_conf),
            "-sf", str(p.dhclient_script),
            "-lf", str(p.dhclient_leases(self.family, self.ifname)),
            "-pf", str(p.dhclient_pid(self.family, self.ifname)),
            "-e", f"V6W_DIR={p.root}",
            "-e", f"V6W_METRIC={self.metric}",
            self.ifname,
        ]  # fmt: skip
        return argv

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def active(self) -> bool:
        """Running, or (stateless) holding a fresh answer."""
        if self.proc is not None and self.proc.poll() == 0 and self.mode == STATELESS:
            return True  # exited after its answer; ensure() notes it on the next pass
        return self.running or self.informed

    def ensure(self, now: float) -> None:
        """Start the client, or restart it (with back-off) if it exited."""
        if self.running or now < self.not_before:
            return
        if self.proc is not None:
            code = self.proc.returncode
            if code == 0 and self.mode == STATELESS:
                self.proc, self.informed, self.failures = None, True, 0
                self.not_before = now + INFORMATION_REFRESH
                self.paths.dhclient_pid(self.family, self.ifname).unlink(missing_ok=True)
                log.info("%s: DHCPv6 information received", self.ifname)
                return
            if now - self.started_at >= STABLE_SECONDS:
                self.failures = 0  # it worked for a while: not a crash loop
            self.failures += 1
            delay = min(30.0, 0.5 * 2**self.failures)
            log.warning(
                "%s: dhclient -%d exited (%s); restart in %.1fs",
                self.ifname,
                self.family,
                code,
                delay,
            )
            self.proc = None
            self.not_before = now + delay
            return
        self.informed = False
        log.info("%s: start %s", self.ifname, " ".join(self.argv()))
        try:
            self.proc = spawn(
                self.argv(), log_file=self.paths.dhclient_log(self.family, self.ifname)
            )
        except OSError as exc:  # dhclient missing, say: the rest of the guest keeps working
            self.failures += 1
            self.not_before = now + min(30.0, 0.5 * 2**self.failures)
            log.error("%s: cannot start dhclient -%d: %s", self.ifname, self.family, exc)
            return
        self.started_at = now
        # dhclient -d writes its pid file only once bound; write it now for unplug().
        self.paths.dhclient_pid(self.family, self.ifname).write_text(f"{self.proc.pid}\n")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 2
            while self.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.paths.dhclient_pid(self.family, self.ifname).unlink(missing_ok=True)
        self.proc = None
