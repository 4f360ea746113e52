"""Status reports off the agent loop's critical path.

A report (the ETag of the state applied, each port's and workload's status) follows a pass
that changed it. Sent inline, its PUT (~7 ms) delayed the fetch of the next state, so a write
that closely follows another (a port's create, then its bind) waited for it. The reporter
sends from its own thread and its own HTTP client, always the latest report (an older one not
yet sent is dropped), and retries with back-off until the server takes it.
"""

from __future__ import annotations

import logging
import threading

from v6fabric.agent.client import FabricStateClient

log = logging.getLogger(__name__)

Status = tuple[str, dict[str, str], dict[str, str]]  # applied ETag, ports, workloads
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0


class StatusReporter:
    def __init__(self, client: FabricStateClient, host: str) -> None:
        self.client = client
        self._host = host
        self._wake = threading.Condition()
        self._pending: Status | None = None
        self._sent: Status | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="status-reporter", daemon=True)
        self._thread.start()

    def submit(self, status: Status) -> None:
        """Report ``status`` soon (never blocks); nothing if it is what was last sent."""
        with self._wake:
            if status == self._sent and self._pending is None:
                return
            self._pending = status
            self._wake.notify()

    def forget(self) -> None:
        """The server may have lost what it was told (it forgot the host): resend next time."""
        with self._wake:
            self._sent = None

    def idle(self, timeout: float) -> bool:
        """Wait until everything submitted has been sent (tests, shutdown); False on timeout."""
        with self._wake:
            return self._wake.wait_for(lambda: self._pending is None, timeout)

    def close(self, flush: float = 1.0) -> None:
        self.idle(flush)
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        self._thread.join(flush + 1)
        self.client.close()

    def _run(self) -> None:
        pause = BACKOFF_FIRST
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending is not None or self._closing)
                if self._closing:
                    return
                status = self._pending
            assert status is not None
            try:
                self.client.put_status(self._host, *status)
            except Exception as exc:  # the server is away: the loop goes on, we retry
                log.warning("status report failed (retry in %.1f s): %s", pause, exc)
                with self._wake:
                    self._wake.wait_for(lambda: self._closing, pause)
                pause = min(pause * 2, BACKOFF_MAX)
                continue
            pause = BACKOFF_FIRST
            with self._wake:
                self._sent = status
                if self._pending == status:
                    self._pending = None
                    self._wake.notify_all()
