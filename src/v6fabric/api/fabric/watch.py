"""Waking long-polls when the store changes.

Writes made by this process wake waiters at once (``Database.on_commit``); writes made by
another API server on the same PostgreSQL are caught by a slower revision poll.
"""

from __future__ import annotations

import asyncio
import contextlib

from v6fabric.store.db import Database

FALLBACK_POLL = 0.5  # seconds: how late a write by another API server may be noticed


class RevisionWatch:
    def __init__(self, db: Database, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._changed = asyncio.Event()
        db.on_commit(self._notify)

    def _notify(self, _revision: int) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            self.loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def marker(self) -> asyncio.Event:
        """Take this before reading the revision, then ``wait`` on it: no change is missed."""
        return self._changed

    async def wait(self, marker: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(marker.wait(), min(timeout, FALLBACK_POLL))
