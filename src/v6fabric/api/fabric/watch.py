"""Telling the state cache about writes.

Writes made by this process start, at once, the compile of every host a long-poll waits for
(``Database.on_commit`` -> ``StateCache.prefetch``, on the event loop); a waiter wakes only
when its host's state has changed. Writes made by another API server on the same PostgreSQL
are caught by a slower poll of the revision (``FALLBACK_POLL``, in the long-poll itself).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from v6fabric.store.db import Database

FALLBACK_POLL = 0.5  # seconds: how late a write by another API server may be noticed


class RevisionWatch:
    def __init__(
        self, db: Database, loop: asyncio.AbstractEventLoop, on_change: Callable[[int], None]
    ) -> None:
        self.loop = loop
        self._on_change = on_change
        db.on_commit(self._notify)

    def _notify(self, revision: int) -> None:
        """In the writing thread, right after its commit."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            self.loop.call_soon_threadsafe(self._on_change, revision)
