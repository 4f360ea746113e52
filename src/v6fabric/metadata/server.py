"""The metadata proxy: listeners in many namespaces, one asyncio loop, one config at a time.

Per request: (listener, peer address) -> the MAC the listener's namespace holds for the peer
-> ``identify`` -> the device's documents (local mode) or the backend's answer (proxy mode).
``reload`` swaps the tables in one assignment, so a request sees either the old config or
the new one, never a mix; listeners that are new are opened, those gone are closed, and
listeners that cannot be opened yet (namespace or interface missing) are retried, and
``refresh`` reopens those whose namespace or interface was made anew under the same name.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from v6fabric.hoststate.buckets import changed
from v6fabric.hoststate.metadata import MetadataListener, MetadataPort, MetadataSpec
from v6fabric.metadata.backend import BackendClient
from v6fabric.metadata.config import ProxyConfig
from v6fabric.metadata.documents import Answer, InstanceDocuments
from v6fabric.metadata.identify import IPAddress, PortIndex, identify, index_ports, parse_address
from v6fabric.metadata.neighbours import NeighbourLookup
from v6fabric.metadata.protocol import HEAD_LIMIT, IDLE_TIMEOUT, Request, plain, serve_connection
from v6fabric.metadata.sockets import (
    BoundListener,
    ListenerFactory,
    open_in_namespace,
    still_current,
)

log = logging.getLogger(__name__)

LOG_EVERY = 60.0  # seconds: one "unidentified" line per (listener, source), however many tries
UNKNOWN = plain(404, "404 Not Found\n\nThis address is not a known port of this network.\n")
NO_INSTANCE = plain(404, "404 Not Found\n\nNo metadata for this port's device.\n")


@dataclass(frozen=True)
class Tables:
    """Everything a request reads, built once per config and replaced whole."""

    config: ProxyConfig
    ports: PortIndex
    instances: Mapping[str, InstanceDocuments]
    backend: BackendClient | None = None


@dataclass
class Connection:
    """Per TCP connection: the peer's MAC is asked once (it cannot change under an
    established connection without breaking it)."""

    source: str
    mac: str | None = None
    asked: bool = False


@dataclass
class _Open:
    bound: BoundListener
    servers: list[asyncio.Server] = field(default_factory=list)


class MetadataProxy:
    """``neighbour_ttl`` > 0 reuses a peer's MAC across connections for that long. Off by
    default: a kernel lookup costs ~10 us, and within the TTL a workload that takes over
    another port's address (its MAC now in the neighbour table) would pass for that port.
    The socket factory, the stale-listener check and the neighbour lookup are injected, so
    tests run on loopback without root."""

    def __init__(
        self,
        neighbours: NeighbourLookup,
        *,
        listener_factory: ListenerFactory = open_in_namespace,
        listener_check: Callable[[BoundListener], bool] = still_current,
        idle_timeout: float = IDLE_TIMEOUT,
        neighbour_ttl: float = 0.0,
        backend_timeout: float = 10.0,
    ) -> None:
        self._neighbours = neighbours
        self._factory = listener_factory
        self._check = listener_check
        self._idle_timeout = idle_timeout
        self._ttl = neighbour_ttl
        self._backend_timeout = backend_timeout
        self._tables = Tables(ProxyConfig(MetadataSpec()), index_ports(MetadataSpec()), {})
        self._open: dict[MetadataListener, _Open] = {}
        self._pending: set[MetadataListener] = set()
        self._macs: dict[tuple[str, int, str], tuple[str, float]] = {}
        self._lock = asyncio.Lock()
        self._retired: set[asyncio.Task[None]] = set()
        self._warned: set[MetadataListener] = set()  # pending listeners already logged
        self._logged: dict[tuple[MetadataListener, str], float] = {}

    @property
    def tables(self) -> Tables:
        return self._tables

    @property
    def listening(self) -> Mapping[MetadataListener, BoundListener]:
        return {listener: opened.bound for listener, opened in self._open.items()}

    @property
    def pending(self) -> frozenset[MetadataListener]:
        return frozenset(self._pending)

    async def reload(self, config: ProxyConfig) -> None:
        async with self._lock:
            old = self._tables
            self._tables = await self._tables_for(config, old)
            if old.backend is not None and old.backend is not self._tables.backend:
                self._retire(old.backend)
            wanted = set(config.spec.listeners)
            for listener in [known for known in self._open if known not in wanted]:
                self._close(listener)
            self._macs.clear()
            self._pending = wanted - set(self._open)
            await self._open_pending()
        log.info(
            "metadata config: %d listeners (%d pending), %d ports, %d instances, %s",
            len(self._open),
            len(self._pending),
            sum(len(bucket.ports) for bucket in config.spec.port_buckets),
            sum(len(bucket.instances) for bucket in config.spec.instance_buckets),
            f"proxy to {config.backend.url}" if config.backend else "local documents",
        )

    async def retry_pending(self) -> None:
        async with self._lock:
            await self._open_pending()

    async def refresh(self) -> None:
        """Reopen listeners whose namespace or interface is no longer the one they were made
        in (the agent deleted and made it again), and retry pending ones."""
        async with self._lock:
            for listener, opened in list(self._open.items()):
                if not await asyncio.to_thread(self._check, opened.bound):
                    log.warning(
                        "metadata listener %s/%s is stale (namespace or interface made anew)",
                        listener.namespace,
                        listener.ifname,
                    )
                    self._close(listener)
                    self._pending.add(listener)
            await self._open_pending()

    async def close(self) -> None:
        async with self._lock:
            for listener in list(self._open):
                self._close(listener)
            self._pending.clear()
            if self._tables.backend is not None:
                await self._tables.backend.close()
        for task in list(self._retired):
            task.cancel()

    async def _tables_for(self, config: ProxyConfig, old: Tables) -> Tables:
        backend = None
        if config.backend is not None:
            secret = await asyncio.to_thread(config.backend.secret)
            kept = old.backend
            if kept is not None and (kept.url, kept.secret) == (
                config.backend.url.rstrip("/"),
                secret,
            ):
                backend = kept
            else:
                backend = BackendClient(config.backend.url, secret, timeout=self._backend_timeout)
        ports, instances = _patched(old, config.spec)
        return Tables(config, ports, instances, backend)

    def _retire(self, backend: BackendClient) -> None:
        """Close a replaced backend client once requests already using it have finished."""

        async def later() -> None:
            await asyncio.sleep(self._backend_timeout + 1)
            await backend.close()

        task = asyncio.get_running_loop().create_task(later())
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def _open_pending(self) -> None:
        for listener in sorted(self._pending, key=lambda x: (x.namespace, x.ifname)):
            try:
                bound = await asyncio.to_thread(self._factory, listener)
            except OSError as exc:
                level = logging.DEBUG if listener in self._warned else logging.WARNING
                self._warned.add(listener)
                log.log(
                    level,
                    "metadata listener %s/%s not open yet: %s",
                    listener.namespace,
                    listener.ifname,
                    exc,
                )
                continue
            self._warned.discard(listener)
            self._neighbours.forget(listener.namespace)  # the namespace may be a new one
            opened = _Open(bound)
            try:
                for sock in bound.sockets:
                    handler = functools.partial(self._connection, bound)
                    opened.servers.append(
                        await asyncio.start_server(handler, sock=sock, limit=HEAD_LIMIT)
                    )
            except OSError as exc:
                log.warning("metadata listener %s failed: %s", listener, exc)
                for server in opened.servers:
                    server.close()
                bound.close()
                continue
            self._open[listener] = opened
            self._pending.discard(listener)
            log.info("metadata listening in %s on %s", listener.namespace, listener.ifname)

    def _close(self, listener: MetadataListener) -> None:
        opened = self._open.pop(listener)
        for server in opened.servers:
            server.close()
        opened.bound.close()
        self._neighbours.forget(listener.namespace)
        log.info("metadata stopped listening in %s on %s", listener.namespace, listener.ifname)

    async def _connection(
        self, bound: BoundListener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        conn = Connection(source=str(peer[0]) if peer else "")

        async def handle(request: Request) -> Answer:
            return await self.answer(bound, conn, request)

        await serve_connection(reader, writer, handle, self._idle_timeout)

    def _mac(self, bound: BoundListener, conn: Connection) -> str | None:
        if conn.asked:
            return conn.mac
        namespace = bound.listener.namespace
        key = (namespace, bound.ifindex, conn.source)
        cached = self._macs.get(key) if self._ttl > 0 else None
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            mac: str | None = cached[0]
        else:
            mac = self._neighbours.mac(namespace, bound.ifindex, conn.source)
            if mac and self._ttl > 0:
                if len(self._macs) > 10000:
                    self._macs.clear()
                self._macs[key] = (mac, now + self._ttl)
        conn.mac, conn.asked = mac, True
        return mac

    async def answer(self, bound: BoundListener, conn: Connection, request: Request) -> Answer:
        tables = self._tables  # one config for the whole request
        listener = bound.listener
        mac = self._mac(bound, conn)
        port = identify(tables.ports, listener.network_id, conn.source, mac)
        if port is None:
            self._log_unidentified(listener, conn, request, mac)
            return UNKNOWN
        if tables.backend is not None:
            return await tables.backend.forward(request.method, request.target, port, conn.source)
        instance = tables.instances.get(port.device_id)
        if instance is None:
            return NO_INSTANCE
        return instance.answer(request.target)

    def _log_unidentified(
        self, listener: MetadataListener, conn: Connection, request: Request, mac: str | None
    ) -> None:
        """At most once a minute per (listener, source): a guest retrying in a loop must not
        fill the log."""
        now = time.monotonic()
        key = (listener, conn.source)
        if now - self._logged.get(key, -LOG_EVERY) < LOG_EVERY:
            return
        if len(self._logged) > 10000:
            self._logged.clear()
        self._logged[key] = now
        log.warning(
            "metadata: unidentified %s %s from %s (MAC %s) on %s/%s (network %s)",
            request.method,
            request.target,
            conn.source,
            mac or "unknown",
            listener.namespace,
            listener.ifname,
            listener.network_id,
        )


def _patched(old: Tables, spec: MetadataSpec) -> tuple[PortIndex, dict[str, InstanceDocuments]]:
    """The old tables with only the buckets that changed replaced: a reload after one bind
    costs a copy of two dicts and that bind's ports and instance, not an index of every port
    (buckets kept from the old config are the same objects, ``config.parse_config``)."""
    was = old.config.spec
    by_address: dict[tuple[str, IPAddress], tuple[MetadataPort, ...]] = dict(old.ports.by_address)
    for _key, before, after in changed(was.port_buckets, spec.port_buckets):
        for port in before.ports if before is not None else ():
            for key in _address_keys(port):
                left = tuple(p for p in by_address.get(key, ()) if p != port)
                if left:
                    by_address[key] = left
                else:
                    by_address.pop(key, None)
        for port in after.ports if after is not None else ():
            for key in _address_keys(port):
                by_address[key] = (*by_address.get(key, ()), port)
    instances = dict(old.instances)
    for _key, before, after in changed(was.instance_buckets, spec.instance_buckets):
        for item in before.instances if before is not None else ():
            instances.pop(item.instance_id, None)
        for item in after.instances if after is not None else ():
            instances[item.instance_id] = InstanceDocuments(item)
    return PortIndex(by_address), instances


def _address_keys(port: MetadataPort) -> list[tuple[str, IPAddress]]:
    """As ``index_ports`` keys a port."""
    found = (parse_address(text) for text in port.addresses)
    return [(port.network_id, address) for address in found if address is not None]
