"""Compiled host states, once per store revision.

Every write wakes every waiting agent (and any other long-poll client); each then needs its
host's state at the new revision. The input comes from the server's live copy of the store
(``services.fabric_mirror``: only the records a write changed are read, only those a host needs
are compiled), one compile serves every client of a host, and clients that ask while a compile
runs wait for it instead of starting their own.

Keys are the revision read *before* the compile: a write landing in between only makes the
cached state newer than its key, never older, so no client can miss a change.

Each host also keeps its last few states by ETag, with their sections' digests, so that a
client holding one of them gets a delta (``CompiledState.delta``) rather than the whole state.
A full body is put together only when a client needs one (``CompiledState.body``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from starlette.concurrency import run_in_threadpool

from v6fabric.compiler.compile import compile_host
from v6fabric.compiler.snapshot import Snapshot
from v6fabric.hoststate import codec
from v6fabric.hoststate.model import HostState
from v6fabric.hoststate.sections import Sections

KEEP_STATES = 256  # (host, revision) entries
KEEP_BASES = 8  # per host: states a client may still hold and get a delta from


@dataclass(frozen=True, eq=False)
class CompiledState:
    """A host's state and its sections' digests (made where it was compiled, off the loop)."""

    state: HostState
    sections: Sections

    @classmethod
    def of(cls, state: HostState, previous: CompiledState | None = None) -> CompiledState:
        """``previous``: the host's last compiled state, whose unchanged sections (the very
        same objects) keep their digests without a memo lookup."""
        return cls(state, Sections.of(state, previous.sections if previous else None))

    @property
    def etag(self) -> str:
        return self.sections.content_hash

    @cached_property
    def body(self) -> bytes:
        """The whole state, for clients without a known base: a join of memoized sections."""
        return codec.encode(self.state)

    def delta(self, base: CompiledState) -> bytes:
        return codec.encode_delta(base.sections, self.sections, self.state.revision)


class StateCache:
    """Compiles in the threadpool: a compile after a full read of the store (the first, or
    after another process's write) would otherwise hold up every request meanwhile."""

    def __init__(self, snapshot_for: Callable[[str], Snapshot]) -> None:
        self._snapshot_for = snapshot_for
        self._states: OrderedDict[tuple[str, int], asyncio.Future[CompiledState]] = OrderedDict()
        self._bases: dict[str, OrderedDict[str, CompiledState]] = {}  # host -> etag -> state
        self._last: dict[str, CompiledState] = {}  # host -> its newest state (read by threads)

    def base(self, host: str, etag: str) -> CompiledState | None:
        """A recent state of ``host`` with this ETag, if it is still kept."""
        return self._bases.get(host, {}).get(etag)

    async def get(self, host: str, revision: int) -> CompiledState:
        key = (host, revision)
        future = self._states.get(key)
        if future is None:
            future = asyncio.ensure_future(run_in_threadpool(self._compiled, host))
            _remember(self._states, key, future, KEEP_STATES)
        else:
            self._states.move_to_end(key)
        try:
            compiled = await asyncio.shield(future)
        except Exception:
            self._states.pop(key, None)  # a failed compile is not cached
            raise
        bases = self._bases.setdefault(host, OrderedDict())
        bases.pop(compiled.etag, None)  # the latest of equal states: the newest revision
        _remember(bases, compiled.etag, compiled, KEEP_BASES)
        self._last[host] = compiled
        return compiled

    def _compiled(self, host: str) -> CompiledState:
        # one dict read (iterating the loop's OrderedDicts from this thread could race)
        return CompiledState.of(compile_host(self._snapshot_for(host), host), self._last.get(host))


def _remember(cache: OrderedDict, key: Any, value: Any, keep: int) -> None:
    cache[key] = value
    while len(cache) > keep:
        cache.popitem(last=False)
