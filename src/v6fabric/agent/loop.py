"""The agent: register, then long-poll the host's ``HostState`` and make the host match it.

Level-triggered: every pass reads the host afresh and applies ``plan(state, observed)``, so a
pass after a restart, a crash or someone's manual change repairs exactly what differs and leaves
correct state alone (no daemon restarted, no object recreated). A failed action stays in the
next plan by construction; it is retried after a short backoff. Nothing is swept before the
first complete ``HostState`` has arrived.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from v6fabric.agent import capabilities as caps
from v6fabric.agent import vrrp
from v6fabric.agent.actions import Action, action_key
from v6fabric.agent.client import FabricStateClient
from v6fabric.agent.desired import Renderers
from v6fabric.agent.feed import BACKOFF_FIRST, BACKOFF_MAX, StateFeed
from v6fabric.agent.host import Drivers, real_drivers
from v6fabric.agent.layout import Layout
from v6fabric.agent.managers import Managers
from v6fabric.agent.observe import Observed, observe, touched, unsettled
from v6fabric.agent.reconcile import plan
from v6fabric.agent.reporter import HEARTBEAT_SECONDS, Status, StatusReporter
from v6fabric.agent.statuses import port_statuses, summarise, workload_statuses
from v6fabric.cli.credentials import Credentials
from v6fabric.drivers.netlink import SetLink
from v6fabric.hoststate import sections
from v6fabric.hoststate.model import HOST_NS_PREFIX, HostState
from v6fabric.metadata.config import Backend

log = logging.getLogger(__name__)

ROLES = ("compute", "network")  # a host that runs workloads and routers/DHCP alike
UNDERLAY_FAMILIES = ("ipv4", "ipv6")
# Between full reads of the host the agent trusts its own view this long. A full read (~0.1 s
# with 150 workloads) is done when idle, not in front of a change: a change waits for it only
# when no idle moment came for another period (constant churn).
FULL_OBSERVE_SECONDS = 30.0
# How often taps that a hypervisor has yet to plug are looked for (one RTM_GETLINK each), and
# for how long after they were first missed; the loop also checks ``stop`` this often at least.
TAP_WATCH_SECONDS, TAP_WATCH_FOR, STOP_CHECK = 0.2, 120.0, 1.0
MAX_ROUNDS = 4  # a pass may need a second round: a plugged workload's tap appears, then is enslaved
# A pass takes up a state that arrives between its rounds this many times at most, so that
# constant churn cannot keep a pass (and the status report after it) from ending.
MAX_TAKEN_UP = 3


@dataclass
class Report:
    """What one ``run_once`` did."""

    applied: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    pending: list[Action] = field(default_factory=list)  # still to do: failed, or backing off
    ports: dict[str, str] = field(default_factory=dict)
    workloads: dict[str, str] = field(default_factory=dict)
    routers: dict[str, str] = field(default_factory=dict)  # HA router id -> active|standby
    rounds: int = 0
    seconds: float = 0.0
    state: HostState | None = None  # the state the pass ended with (a newer one taken up)

    @property
    def converged(self) -> bool:
        return not self.pending


class Agent:
    """One host's agent. ``host_netns`` None: bridges and taps live in the root namespace (a
    real hypervisor); a name (``v6h-...``): in that namespace, created if missing (tests, labs).
    ``drivers``, ``renderers`` and ``transport`` are test seams. ``metadata_backend``: proxy
    metadata requests to an external VIM's service instead of answering from the fabric."""

    def __init__(
        self,
        host: str,
        server_url: str | None = None,
        credentials: Credentials | None = None,
        host_netns: str | None = None,
        run_dir: Path = Path("/run/v6fabric/agent"),
        *,
        drivers: Drivers | None = None,
        renderers: Renderers | None = None,
        transport: httpx.BaseTransport | None = None,
        metadata_backend: Backend | None = None,
        roles: tuple[str, ...] = ROLES,
        underlay: dict[str, str] | None = None,
        physical_networks: dict[str, str] | None = None,
    ) -> None:
        if host_netns is not None and not host_netns.startswith(HOST_NS_PREFIX):
            raise ValueError(f"host_netns must start with {HOST_NS_PREFIX}")
        self.host = host
        self.layout = Layout(Path(run_dir), host_netns)
        self.drivers = drivers or real_drivers()
        self.renderers = renderers
        self.metadata_backend = metadata_backend
        self.roles = tuple(roles)
        # this host's tunnel endpoints by family ("ipv4"/"ipv6"): the server picks one
        self.underlay = dict(underlay or {})
        # physical network name -> this host's interface on it (flat provider networks)
        self.physical_networks = dict(physical_networks or {})
        self.managers = Managers(self.drivers, self.layout)
        self.client = (
            FabricStateClient(server_url, credentials, transport=transport) if server_url else None
        )
        # action_key -> (failures so far, monotonic time of the next try)
        self._backoff: dict[tuple[object, ...], tuple[int, float]] = {}
        self.last_observed: Observed | None = None
        self.last_state: HostState | None = None  # the state of the last pass
        self.last_routers: dict[str, str] = {}  # the HA states the last pass reported
        self._awaited_since: dict[str, float] = {}  # tap -> when it was first missed
        self._full_observe_due = 0.0

    # --- one pass ----------------------------------------------------------------------------

    def _prepare(self) -> None:
        host = self.layout.host_netns
        if host and host not in self.drivers.netlink.namespaces():
            self.drivers.netlink.add_namespaces([host])
            self.drivers.netlink.apply(host, [SetLink(host, "lo", up=True)])
            # The whole namespace plays the hypervisor: no interface in it wants IPv6 (a tap
            # plugged by a workload must not send RS before the agent sees it; dataplane.md §2).
            self.drivers.sysctls.write(host, {"net.ipv6.conf.default.disable_ipv6": "1"})

    def _ready(self, action: Action, now: float) -> bool:
        entry = self._backoff.get(action_key(action))
        return entry is None or entry[1] <= now

    def _remember(self, applied: list[Action], failed: list[tuple[Action, str]]) -> None:
        for action in applied:
            self._backoff.pop(action_key(action), None)
        now = time.monotonic()
        for action, _error in failed:
            key = action_key(action)
            count = self._backoff.get(key, (0, 0.0))[0] + 1
            delay = min(BACKOFF_FIRST * 2 ** (count - 1), BACKOFF_MAX)
            self._backoff[key] = (count, now + delay)

    def resync_due(self) -> float:
        """Seconds until the next full read of the host is due (0: due now)."""
        return max(0.0, self._full_observe_due - time.monotonic())

    def run_once(
        self,
        state: HostState,
        *,
        resync: bool = False,
        newer: Callable[[], HostState | None] | None = None,
    ) -> Report:
        """Make the host match ``state``: observe, plan, apply, and again while a round made
        progress (bounded). An action fails at most once a pass, then backs off. Between
        rounds, a state ``newer`` returns replaces ``state`` (the report says which it ended
        with).

        The host is read whole on the first pass, after a failure, with ``resync`` (an idle
        pass whose full read is due), or when one is overdue by a whole period; otherwise only
        what the agent's own actions touched and the taps not yet in place."""
        started = time.monotonic()
        report = Report()
        self._prepare()
        state = vrrp.localise(state, self.layout.host_netns)
        failed: set[tuple[object, ...]] = set()  # an object fails at most once a pass
        done: set[Action] = set()  # and an action is not repeated within it
        now = time.monotonic()
        due = self._full_observe_due
        if (
            self.last_observed is None
            or (resync and now >= due)
            or now >= due + FULL_OBSERVE_SECONDS
        ):
            observed = observe(self.drivers, self.layout, state)  # a full resync
            self._full_observe_due = now + FULL_OBSERVE_SECONDS
        else:
            # Our namespaces are the agent's own: trust what it saw and did there since the
            # last full read (every FULL_OBSERVE_SECONDS, and on every start). On the host side
            # a hypervisor plugs taps at any time: look again at those not yet in place.
            observed = observe(
                self.drivers,
                self.layout,
                state,
                previous=self.last_observed,
                stale=unsettled(state, self.last_observed),
            )
        taken_up = 0
        while True:
            actions = plan(
                state,
                observed,
                renderers=self.renderers,
                metadata_backend=self.metadata_backend,
                physical_interfaces=self.physical_networks.values(),
            )
            now = time.monotonic()
            ready = [
                a
                for a in actions
                if a not in done and action_key(a) not in failed and self._ready(a, now)
            ]
            if not ready or report.rounds >= MAX_ROUNDS + taken_up:
                report.pending = actions
                break
            report.rounds += 1
            outcome = self.managers.apply(ready)
            failed.update(action_key(a) for a in outcome.failed_actions)
            done.update(outcome.applied)
            report.applied += outcome.applied
            report.failed += outcome.failed
            self._remember(outcome.applied, outcome.failed)
            stale = touched([*outcome.applied, *outcome.failed_actions], self.layout.host_netns)
            later = newer() if newer is not None and taken_up < MAX_TAKEN_UP else None
            if later is not None:
                taken_up += 1
                state = vrrp.localise(later, self.layout.host_netns)
                stale = stale.merged(unsettled(state, observed))
            observed = observe(self.drivers, self.layout, state, previous=observed, stale=stale)
        report.state = state
        still = {action_key(a) for a in report.pending}
        self._backoff = {k: v for k, v in self._backoff.items() if k in still}
        report.ports = port_statuses(state, observed)
        report.workloads = workload_statuses(state, observed)
        report.routers = self.last_routers = self.router_states(state)
        report.seconds = time.monotonic() - started
        self.last_observed, self.last_state = observed, state
        if report.failed or report.pending:
            self._full_observe_due = 0.0  # something is off: read everything next time
        if report.applied or report.failed:
            log.info(
                "pass: %d applied %s, %d failed, %d pending, %.3f s",
                len(report.applied),
                summarise(report.applied),
                len(report.failed),
                len(report.pending),
                report.seconds,
            )
        return report

    def router_states(self, state: HostState | None = None) -> dict[str, str]:
        """The HA router instances' states as their hooks last recorded them (``vrrp``)."""
        state = state if state is not None else self.last_state
        if state is None or not state.vrrp:
            return {}
        return vrrp.router_states(state, self.layout, self.drivers.files)

    def routers_changed(self) -> bool:
        """A hook recorded a transition since the last pass read the states (compared with
        what that pass reported, not with a later read: a MASTER then BACKUP 40 ms apart
        would otherwise leave "active" reported for good)."""
        return self.router_states() != self.last_routers

    def retry_in(self) -> float | None:
        """Seconds until the earliest backed-off action may be retried; None if none waits."""
        if not self._backoff:
            return None
        return max(0.0, min(at for _count, at in self._backoff.values()) - time.monotonic())

    # --- with a server -----------------------------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        found = caps.probe()
        if self.underlay:
            found["underlay"] = dict(self.underlay)
        if self.physical_networks:
            found["physical_networks"] = dict(self.physical_networks)
        return found

    def register(self) -> None:
        assert self.client is not None, "no server_url"
        self.client.register(self.host, list(self.roles), self.capabilities())
        log.info("registered host %s", self.host)

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        wait: float = 30.0,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        """Loop until ``stop`` is set: take the newest state (``StateFeed`` fetches it in the
        background), make the host match it, report the ports' status (and that it is alive,
        at least every ``heartbeat`` seconds)."""
        assert self.client is not None, "no server_url"
        sections.encoded.limit(sections.AGENT_MEMO_BYTES)  # this process holds one state
        stop = stop or threading.Event()
        feed = StateFeed(self.client, self.host, self.register, stop, wait=wait).start()
        reporter = StatusReporter(self.client, self.host, feed, heartbeat).start()
        state: HostState | None = None
        etag: str | None = None
        pause = BACKOFF_FIRST
        taken: list[tuple[HostState, str]] = []  # the last state a pass took up, its ETag

        def newer() -> HostState | None:
            got = feed.take_now()
            if got is not None:
                taken[:] = [got]
            return got[0] if got is not None else None

        try:
            while not stop.is_set():
                try:
                    retry = self.retry_in()
                    poll = min(wait, self.resync_due(), wait if retry is None else retry)
                    timeout = max(1.0, poll) if state is not None else wait
                    got = self._next_state(feed, stop, timeout)
                    if stop.is_set():
                        break
                    if got is not None:
                        state, etag = got
                    if state is None or etag is None:
                        continue
                    report = self.run_once(state, resync=got is None, newer=newer)
                    if taken:  # the pass ended with the state it took up last
                        (state, etag), taken[:] = taken[0], []
                    status = Status(
                        etag, report.ports, report.workloads, report.state, report.routers
                    )
                    reporter.offer(status)
                    pause = BACKOFF_FIRST
                except Exception:  # a bug or a broken host tool must not end the agent
                    log.exception("agent pass failed")
                    stop.wait(pause)
                    pause = min(pause * 2, BACKOFF_MAX)
        finally:
            reporter.close()

    def _next_state(
        self, feed: StateFeed, stop: threading.Event, timeout: float
    ) -> tuple[HostState, str] | None:
        """The next state, or None when ``timeout`` is over, ``stop`` is set, or a tap the
        agent awaits has appeared. A hypervisor plugs a VM's tap after the port's binding
        (Nova's order), and no state change follows: without this look the port would wait
        for the next full read of the host (up to ``FULL_OBSERVE_SECONDS``). Likewise when an
        HA router's hook recorded a transition: a pass reports it."""
        deadline = time.monotonic() + timeout
        awaited = self._awaited_taps()  # the last pass's view: it cannot change meanwhile
        watch = (
            TAP_WATCH_SECONDS if awaited or self.last_routers or self._has_vrrp() else STOP_CHECK
        )
        while (left := deadline - time.monotonic()) > 0 and not stop.is_set():
            got = feed.take(timeout=min(left, watch))
            if got is not None:
                return got
            if awaited and self.drivers.netlink.read_links(self.layout.host_netns, awaited):
                return None  # one appeared: a pass now
            if watch != STOP_CHECK and self.routers_changed():
                return None  # a VRRP transition: a pass and its report now
        return None

    def _has_vrrp(self) -> bool:
        return bool(self.last_state is not None and self.last_state.vrrp)

    def _awaited_taps(self) -> list[str]:
        """Taps of admin-up ports that were missing at the last read and have been awaited
        for less than ``TAP_WATCH_FOR`` (then only full reads look again: a VM that never
        starts must not keep the agent polling)."""
        observed, state = self.last_observed, self.last_state
        if observed is None or state is None:
            self._awaited_since.clear()
            return []
        links, now = observed.host.links, time.monotonic()
        missing = {p.tap for p in state.ports if p.admin_up and p.tap not in links}
        since = {tap: self._awaited_since.get(tap, now) for tap in missing}
        self._awaited_since = since
        return sorted(tap for tap, first in since.items() if now - first < TAP_WATCH_FOR)

    def close(self) -> None:
        if self.client:
            self.client.close()


def run_once(
    state: HostState,
    *,
    run_dir: Path,
    host_netns: str | None = None,
    drivers: Drivers | None = None,
    renderers: Renderers | None = None,
) -> Report:
    """One pass without a server (tests, demos): ``Agent(...).run_once(state)``."""
    agent = Agent(
        state.host, host_netns=host_netns, run_dir=run_dir, drivers=drivers, renderers=renderers
    )
    return agent.run_once(state)
