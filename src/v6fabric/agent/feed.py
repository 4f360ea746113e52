"""The host's state, long-polled in a thread of its own.

A new state is fetched and decoded while the agent's pass for the previous one still runs (a
pass mostly waits for the kernel and for ``ip``/``nft`` children), and the pass can take it up
between two rounds (``Agent.run_once(newer=...)``): two writes in quick succession, as a port's
create and its bind are, then cost one pass, not two passes one after the other.

The thread also registers the host, again when the server answers 404 (it forgot us).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from v6fabric.agent.client import FabricStateClient
from v6fabric.cli.errors import ApiError
from v6fabric.hoststate.model import HostState

log = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0  # seconds: a failed request or action, then doubling


class StateFeed:
    """The newest state not yet taken, and its ETag; ``registrations`` counts registrations
    (the loop sends its status again after one)."""

    def __init__(
        self,
        client: FabricStateClient,
        host: str,
        register: Callable[[], None],
        stop: threading.Event,
        *,
        wait: float = 30.0,
    ) -> None:
        self._client, self._host, self._register = client, host, register
        self._stop, self._wait = stop, wait
        self._lock = threading.Lock()
        self._arrived = threading.Event()
        self._newest: tuple[HostState, str] | None = None
        self.registrations = 0
        self._must_register = True
        self._thread = threading.Thread(target=self._run, name="state-feed", daemon=True)

    def start(self) -> StateFeed:
        self._thread.start()
        return self

    def register_again(self) -> None:
        """The server forgot us (a status report got 404)."""
        self._must_register = True

    def take(self, timeout: float) -> tuple[HostState, str] | None:
        """The newest state not yet taken, waiting up to ``timeout`` s for one; None if none."""
        self._arrived.wait(timeout)
        return self.take_now()

    def take_now(self) -> tuple[HostState, str] | None:
        with self._lock:
            newest, self._newest = self._newest, None
            self._arrived.clear()
        return newest

    def _run(self) -> None:
        etag: str | None = None
        pause = BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                if self._must_register:
                    self._register()
                    self._must_register = False
                    self.registrations += 1
                    etag = None  # the server may be new: ask for the whole state
                got = self._client.get_state(self._host, etag, wait=self._wait)
                if got is not None:
                    etag = got[1]
                    with self._lock:
                        self._newest = got
                        self._arrived.set()
                pause = BACKOFF_FIRST
            except ApiError as exc:
                if self._stop.is_set():
                    return  # the client was closed under the long-poll
                log.warning("server: %s", exc)
                if exc.status == 404:
                    self._must_register = True
                self._stop.wait(pause)
                pause = min(pause * 2, BACKOFF_MAX)
            except Exception:  # a bug must not end the feed
                if self._stop.is_set():
                    return
                log.exception("state feed failed")
                self._stop.wait(pause)
                pause = min(pause * 2, BACKOFF_MAX)
