"""Compiled host states, once per store revision.

After every write each host an agent (or any other long-poll client) waits for needs its state
at the new revision. The input comes from the server's live copy of the store
(``services.fabric_mirror``: only the records a write changed are read, only those a host needs
are compiled), one compile serves every client of a host, and clients that ask while a compile
runs wait for it instead of starting their own.

Keys are the revision read *before* the compile: a write landing in between only makes the
cached state newer than its key, never older, so no client can miss a change. A compile that
is queued but has not started yet serves later revisions too (it will read them).

Compiles run one at a time in a thread of their own, not in the request threadpool: CPU-bound
work gains nothing from running side by side under the GIL, and one at a time the first
finishes first. A write by this process starts the compile of each host that has a long-poll
open at once (``prefetch``), and a waiter wakes only when a compile of its host ends with
another ETag (``changed``): a write that concerns no host wakes nobody.

Each host also keeps its last few states by ETag, with their sections' digests, so that a
client holding one of them gets a delta (``CompiledState.delta``) rather than the whole state.
The delta from the host's previous state (what its clients hold) is encoded in the compile
thread, once for every client; a full body is put together in that thread too, when a client
needs one: the event loop only sends bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

from v6fabric.compiler.compile import compile_host
from v6fabric.compiler.snapshot import Snapshot
from v6fabric.hoststate import codec
from v6fabric.hoststate.model import HostState
from v6fabric.hoststate.sections import Sections

# Per host: compiles by revision (for clients that read the same revision: each keeps its
# whole state, ~1,500 objects at 500 workloads, that the cyclic collector walks through), and
# states a client may still hold and get a delta from.
KEEP_REVISIONS = 4
KEEP_BASES = 8


@dataclass(frozen=True, eq=False)
class CompiledState:
    """A host's state and its sections' digests (made where it was compiled, off the loop)."""

    state: HostState
    sections: Sections
    deltas: dict[str, bytes] = field(default_factory=dict)  # base ETag -> delta document

    @classmethod
    def of(cls, state: HostState, previous: CompiledState | None = None) -> CompiledState:
        """``previous``: the host's last compiled state, whose unchanged sections (the very
        same objects) keep their digests without a memo lookup; the delta from it is made
        now (its clients will ask for it)."""
        compiled = cls(state, Sections.of(state, previous.sections if previous else None))
        if previous is not None and previous.etag != compiled.etag:
            compiled.delta(previous)
        return compiled

    @property
    def etag(self) -> str:
        return self.sections.content_hash

    @cached_property
    def body(self) -> bytes:
        """The whole state, for clients without a known base: a join of memoized sections."""
        return codec.encode(self.state)

    def delta(self, base: CompiledState) -> bytes:
        found = self.deltas.get(base.etag)
        if found is None:
            found = codec.encode_delta(base.sections, self.sections, self.state.revision)
            self.deltas[base.etag] = found
        return found


@dataclass
class _Compile:
    """One compile of a host, queued or running."""

    future: asyncio.Future[CompiledState]
    started: bool = False  # set in the compile thread before it reads the store


@dataclass
class _Host:
    """What the event loop keeps of one host."""

    watchers: int = 0  # long-polls open
    revisions: OrderedDict[int, _Compile] = field(default_factory=OrderedDict)
    newest: _Compile | None = None  # the last compile queued or started
    latest: CompiledState | None = None  # the last compile finished
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # replaced once set
    bases: OrderedDict[str, CompiledState] = field(default_factory=OrderedDict)  # by ETag


class StateCache:
    """Per (host, revision), the compiled state. Used from the event loop only; the compile
    thread touches nothing here but ``_previous`` (its own) and a ``_Compile.started``."""

    def __init__(self, snapshot_for: Callable[[str], Snapshot]) -> None:
        self._snapshot_for = snapshot_for
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="state-compile")
        self._hosts: dict[str, _Host] = {}
        self._previous: dict[str, CompiledState] = {}  # host -> last compiled (compile thread)

    def _host(self, host: str) -> _Host:
        found = self._hosts.get(host)
        if found is None:
            found = self._hosts[host] = _Host()
        return found

    def base(self, host: str, etag: str) -> CompiledState | None:
        """A recent state of ``host`` with this ETag, if it is still kept."""
        found = self._hosts.get(host)
        return found.bases.get(etag) if found is not None else None

    @contextmanager
    def watching(self, host: str) -> Iterator[None]:
        """Around a long-poll of ``host``: while one is open, every write by this process
        compiles the host at once (``prefetch``), so ``changed`` misses none of them."""
        self._host(host).watchers += 1
        try:
            yield
        finally:
            self._host(host).watchers -= 1

    def prefetch(self, revision: int) -> None:
        """A write committed ``revision``: start compiling every watched host."""
        for host, kept in list(self._hosts.items()):
            if kept.watchers:
                self._compile(host, revision)

    def changed(self, host: str) -> asyncio.Event:
        """Set when a compile of ``host`` finishes with another ETag than the one before it
        (take it before reading the revision, as ``RevisionWatch.marker``)."""
        return self._host(host).changed

    def latest(self, host: str) -> CompiledState | None:
        """The host's last compiled state: once ``changed`` is set, newer than any before."""
        return self._host(host).latest

    async def get(self, host: str, revision: int) -> CompiledState:
        return await asyncio.shield(self._compile(host, revision).future)

    async def body(self, compiled: CompiledState) -> bytes:
        """The whole state, encoded off the event loop (~1 MB at 500 workloads)."""
        if "body" in compiled.__dict__:
            return compiled.body
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: compiled.body)

    async def delta(self, compiled: CompiledState, base: CompiledState) -> bytes:
        """From ``base`` to ``compiled``: made with the compile when ``base`` was the host's
        previous state (the usual case), else now, off the event loop."""
        found = compiled.deltas.get(base.etag)
        if found is not None:
            return found
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, compiled.delta, base)

    def _compile(self, host: str, revision: int) -> _Compile:
        kept = self._host(host)
        job = kept.revisions.get(revision)
        if job is not None:
            kept.revisions.move_to_end(revision)
            return job
        job = kept.newest
        if job is None or job.started or job.future.done():
            loop = asyncio.get_running_loop()
            job = kept.newest = _Compile(loop.create_future())
            ran = self._executor.submit(self._compiled, host, job)
            ran.add_done_callback(partial(_soon, loop, self._finished, host, job))
        # else: queued, not started: it will read ``revision`` or a later one
        _remember(kept.revisions, revision, job, KEEP_REVISIONS)
        return job

    def _forget(self, host: str, job: _Compile) -> None:
        revisions = self._host(host).revisions
        for revision in [r for r, v in revisions.items() if v is job]:
            del revisions[revision]

    def _compiled(self, host: str, job: _Compile) -> CompiledState:
        """In the compile thread, one compile at a time, in the order they were queued."""
        job.started = True
        compiled = CompiledState.of(
            compile_host(self._snapshot_for(host), host), self._previous.get(host)
        )
        self._previous[host] = compiled
        return compiled

    def _finished(self, host: str, job: _Compile, ran: Future[CompiledState]) -> None:
        """On the loop, in the order the compiles finished: publish the state (a base for
        deltas; ``latest``; ``changed`` if its ETag is new), then wake its waiters."""
        target = job.future
        error = ran.exception()
        if error is not None:
            self._forget(host, job)  # a failed compile is not cached
            target.set_exception(error)
            target.exception()  # retrieved: a prefetch may have no waiter to raise it to
            return
        compiled = ran.result()
        kept = self._host(host)
        kept.bases.pop(compiled.etag, None)  # the latest of equal states: the newest revision
        _remember(kept.bases, compiled.etag, compiled, KEEP_BASES)
        before, kept.latest = kept.latest, compiled
        if before is None or before.etag != compiled.etag:
            kept.changed.set()
            kept.changed = asyncio.Event()
        target.set_result(compiled)


def _soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
        loop.call_soon_threadsafe(callback, *args)


def _remember(cache: OrderedDict, key: Any, value: Any, keep: int) -> None:
    cache[key] = value
    while len(cache) > keep:
        cache.popitem(last=False)
