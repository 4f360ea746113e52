"""The host's status reports, sent by a thread of their own.

A report follows every pass that changed a status or took a new state, and a PUT waits for a
server that may be busy compiling (10-40 ms under load). Sent from the loop, it held up the
next pass: a port's create is followed at once by its bind, and the bind's state, already
arrived, waited for the create's report. Here the loop only hands the newest report over; the
thread sends it, and a report not yet sent is replaced by a newer one (the server needs only
the latest statuses). Reports carry only what changed since the last one the server took
(``status_changes``), and everything every ``FULL_STATUS_SECONDS`` and after a registration.

A report also goes out every ``heartbeat`` seconds when nothing changed (the last one again,
with no statuses): it refreshes the host's ``seen_at``, so that the server tells a host that
has nothing to say from one that is gone and moves the routers off the latter
(``services.l3_scheduler``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from v6fabric.agent.client import FabricStateClient, status_changes
from v6fabric.agent.feed import BACKOFF_FIRST, BACKOFF_MAX, StateFeed
from v6fabric.cli.errors import ApiError
from v6fabric.hoststate.model import HostState

log = logging.getLogger(__name__)

# All statuses this often (a server whose database was restored from a backup learns the truth
# without waiting for a change).
FULL_STATUS_SECONDS = 300.0
HEARTBEAT_SECONDS = 10.0  # well under the server's default down time (75 s)


@dataclass(frozen=True)
class Status:
    """What the host has applied (the state's ETag) and its ports' and workloads' statuses."""

    etag: str
    ports: dict[str, str]
    workloads: dict[str, str]
    state: HostState | None  # the state they are of (its workloads tell which ports moved)
    routers: dict[str, str] = field(default_factory=dict)  # HA router id -> active|standby

    def same(self, other: Status | None) -> bool:
        return (
            other is not None
            and self.etag == other.etag
            and self.ports == other.ports
            and self.workloads == other.workloads
            and self.routers == other.routers
        )


class StatusReporter:
    """``offer`` the newest status; a thread sends it when it differs from the last sent."""

    def __init__(
        self,
        client: FabricStateClient,
        host: str,
        feed: StateFeed,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._client, self._host, self._feed = client, host, feed
        self._heartbeat = heartbeat
        self._sent_at = 0.0  # monotonic time of the last report the server took
        self._lock = threading.Condition()
        self._pending: Status | None = None
        self._sent: Status | None = None  # the last report the server took
        self._registrations = feed.registrations
        self._full_due = 0.0  # a report after this carries every status
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="status-report", daemon=True)

    def start(self) -> StatusReporter:
        self._thread.start()
        return self

    def offer(self, status: Status) -> None:
        with self._lock:
            self._pending = status
            self._lock.notify()

    def close(self, timeout: float = 2.0) -> None:
        """Send what is pending (within ``timeout``), then end the thread."""
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._thread.join(timeout)

    def _next(self) -> Status | None:
        """The newest status offered, or the last one sent when a heartbeat is due; None:
        stop."""
        with self._lock:
            while self._pending is None and not self._stop:
                left = self._sent_at + self._heartbeat - time.monotonic()
                if self._sent is not None and left <= 0:
                    return self._sent
                self._lock.wait(left if self._sent is not None else None)
            status, self._pending = self._pending, None
            return status

    def _run(self) -> None:
        pause = BACKOFF_FIRST
        while (status := self._next()) is not None:
            try:
                self._send(status)
                pause = BACKOFF_FIRST
            except Exception as exc:
                if isinstance(exc, ApiError):
                    log.warning("status report: %s", exc)
                    if exc.status == 404:
                        self._feed.register_again()  # the server forgot us (new database)
                        self._sent = None
                else:  # a bug must not end the reports
                    log.exception("status report failed")
                with self._lock:
                    if self._pending is None:
                        self._pending = status  # a newer one, if any, replaces it
                    if self._stop:
                        return
                    self._lock.wait(pause)
                pause = min(pause * 2, BACKOFF_MAX)

    def _send(self, status: Status) -> None:
        if self._feed.registrations != self._registrations:
            self._registrations, self._sent = self._feed.registrations, None
        if status.same(self._sent) and time.monotonic() < self._sent_at + self._heartbeat:
            return
        full = self._sent is None or time.monotonic() >= self._full_due
        since = None if full else (self._sent.ports, self._sent.workloads)  # type: ignore[union-attr]
        ports, workloads = status_changes(status.ports, status.workloads, status.state, since)
        self._client.put_status(self._host, status.etag, ports, workloads, routers=status.routers)
        self._sent, self._sent_at = status, time.monotonic()
        if full:
            self._full_due = time.monotonic() + FULL_STATUS_SECONDS
