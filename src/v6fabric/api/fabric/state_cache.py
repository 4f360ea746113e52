"""Compiled host states, once per store revision.

Every write wakes every waiting agent (and any other long-poll client); each then needs its
host's state at the new revision. Compiling means reading the whole store and grows with it
(23 ms with 150 workloads), so one read of the store serves every host at a revision, one
compile serves every client of a host, and clients that ask while a compile runs wait for it
instead of starting their own.

Keys are the revision read *before* the snapshot: a write landing in between only makes the
cached state newer than its key, never older, so no client can miss a change.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from v6fabric.compiler.compile import compile_host
from v6fabric.compiler.snapshot import Snapshot
from v6fabric.hoststate.codec import encode_and_hash

KEEP_STATES = 256  # (host, revision) entries
KEEP_SNAPSHOTS = 2  # the latest revisions: hosts compiling after a write share one read


@dataclass(frozen=True)
class CompiledState:
    body: bytes
    etag: str


class StateCache:
    """``inline``: read and compile on the event loop (SQLite: a thread hand-off costs more than
    the work, see ``run_service``); else in the threadpool."""

    def __init__(self, read_snapshot: Callable[[], dict[str, Any]], *, inline: bool) -> None:
        self._read_snapshot = read_snapshot
        self._inline = inline
        self._snapshots: OrderedDict[int, asyncio.Future[Snapshot]] = OrderedDict()
        self._states: OrderedDict[tuple[str, int], asyncio.Future[CompiledState]] = OrderedDict()

    async def get(self, host: str, revision: int) -> CompiledState:
        key = (host, revision)
        future = self._states.get(key)
        if future is None:
            future = asyncio.ensure_future(self._compile(host, revision))
            _remember(self._states, key, future, KEEP_STATES)
        else:
            self._states.move_to_end(key)
        try:
            return await asyncio.shield(future)
        except Exception:
            self._states.pop(key, None)  # a failed compile is not cached
            raise

    async def _compile(self, host: str, revision: int) -> CompiledState:
        snapshot = await self._snapshot(revision)
        if self._inline:
            return _compiled(snapshot, host)
        return await run_in_threadpool(_compiled, snapshot, host)

    async def _snapshot(self, revision: int) -> Snapshot:
        future = self._snapshots.get(revision)
        if future is None:
            if self._inline:
                future = asyncio.get_running_loop().create_future()
                future.set_result(self._build())
            else:
                future = asyncio.ensure_future(run_in_threadpool(self._build))
            _remember(self._snapshots, revision, future, KEEP_SNAPSHOTS)
        try:
            return await asyncio.shield(future)
        except Exception:
            self._snapshots.pop(revision, None)
            raise

    def _build(self) -> Snapshot:
        return Snapshot.build(**self._read_snapshot())


def _compiled(snapshot: Snapshot, host: str) -> CompiledState:
    return CompiledState(*encode_and_hash(compile_host(snapshot, host)))


def _remember(cache: OrderedDict, key: Any, value: Any, keep: int) -> None:
    cache[key] = value
    while len(cache) > keep:
        cache.popitem(last=False)
