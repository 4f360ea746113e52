"""``StateCache``: one compile at a time, shared by every client of a host; a queued compile
serves later revisions too; writes compile watched hosts at once; waiters wake only on a new
ETag; a failed compile is not kept. The compiler is a stand-in whose output the test sets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from v6fabric.api.fabric import state_cache
from v6fabric.api.fabric.state_cache import StateCache
from v6fabric.compiler.snapshot import Snapshot
from v6fabric.hoststate import codec
from v6fabric.hoststate.model import HostState, NamespaceSpec


@dataclass
class Store:
    """What the stand-in compiler reads: a revision and the namespaces every host gets."""

    revision: int = 1
    names: tuple[str, ...] = ("v6r-a",)
    gate: threading.Event = field(default_factory=threading.Event)
    reads: list[tuple[str, int]] = field(default_factory=list)
    fail: int = 0  # this many reads raise

    def snapshot_for(self, host: str) -> Snapshot:
        revision, names = self.revision, self.names
        self.reads.append((host, revision))
        assert self.gate.wait(10)  # the test may hold a compile here, its revision read
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the store went away")
        return Snapshot.build(revision=revision, dns_domain=",".join(names))


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    def compile_host(snap: Snapshot, host: str) -> HostState:
        names = (snap.dns_domain or "").split(",")
        return HostState(host, snap.revision, namespaces=tuple(NamespaceSpec(n) for n in names))

    monkeypatch.setattr(state_cache, "compile_host", compile_host)
    made = Store()
    made.gate.set()
    yield made
    made.gate.set()


def test_a_queued_compile_serves_later_revisions(store: Store) -> None:
    async def scenario() -> None:
        cache = StateCache(store.snapshot_for)
        store.gate.clear()  # the first compile blocks in the store
        first = asyncio.ensure_future(cache.get("h1", 1))
        await asyncio.sleep(0.05)
        store.revision = 3
        second = asyncio.ensure_future(cache.get("h1", 2))  # queued behind the first
        third = asyncio.ensure_future(cache.get("h1", 3))  # the same, not started yet
        again = asyncio.ensure_future(cache.get("h1", 1))  # a second client of revision 1
        store.gate.set()
        results = await asyncio.gather(first, second, third, again)
        assert [r.state.revision for r in results] == [1, 3, 3, 1]
        assert results[1] is results[2] and results[0] is results[3]
        assert store.reads == [("h1", 1), ("h1", 3)]

    asyncio.run(scenario())


def test_writes_compile_watched_hosts_and_wake_only_on_a_new_etag(store: Store) -> None:
    async def scenario() -> None:
        cache = StateCache(store.snapshot_for)
        old = await cache.get("h1", 1)
        changed = cache.changed("h1")
        with cache.watching("h1"):
            store.revision = 2  # a write that changes nothing for the host
            cache.prefetch(2)
            await asyncio.wait_for(cache.get("h1", 2), 5)
            assert not changed.is_set() and cache.latest("h1").state.revision == 2
            store.revision, store.names = 3, ("v6r-a", "v6r-b")
            cache.prefetch(3)  # nobody asks: it compiles all the same
            await asyncio.wait_for(changed.wait(), 5)
        new = cache.latest("h1")
        assert new.state.revision == 3 and new.etag != old.etag
        assert cache.base("h1", old.etag).state.revision == 2  # the newest of equal states
        # the delta from the previous state was made with the compile, the body when asked
        assert old.etag in new.deltas
        assert await cache.delta(new, old) == codec.encode_delta(old.sections, new.sections, 3)
        assert await cache.body(new) == codec.encode(new.state)
        cache.prefetch(4)  # no long-poll open any more: nothing compiles
        await asyncio.sleep(0.05)
        assert [host for host, _ in store.reads] == ["h1"] * 3

    asyncio.run(scenario())


def test_a_failed_compile_is_not_kept(store: Store) -> None:
    async def scenario() -> None:
        cache = StateCache(store.snapshot_for)
        store.fail = 1
        with pytest.raises(RuntimeError):
            await cache.get("h1", 1)
        assert (await cache.get("h1", 1)).state.revision == 1
        with cache.watching("h1"):
            store.revision, store.fail = 2, 1
            cache.prefetch(2)  # fails with no waiter: not kept, nothing logged as unretrieved
            await asyncio.sleep(0.05)
        assert (await cache.get("h1", 2)).state.revision == 2

    asyncio.run(scenario())
