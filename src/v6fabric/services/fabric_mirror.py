"""The server's copy of the compiler's input (``compiler.live``), brought to the store's current
revision before each compile by reading only the records the writes since then changed.

What changed comes from the store's write journal (``store.journal``). When the journal cannot
say (the first compile, a revision written by another process, too many changes of one kind),
the kind, or everything, is read whole: correct first, fast in the common case.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from v6fabric.compiler.compile import compile_host
from v6fabric.compiler.live import LiveInputs
from v6fabric.compiler.snapshot import Snapshot
from v6fabric.services import dhcp_scheduler, ha_routers
from v6fabric.services.fabric import SNAPSHOT_KINDS, read_revision
from v6fabric.services.router_placement import instance_pairs
from v6fabric.store.journal import ALL, Changes

if TYPE_CHECKING:
    from v6fabric.services.fabric import FabricService

MAX_BY_ID = 500  # more changed records of a kind than this: read the kind whole
# Parents first: the records a deletion cascades to are found before their kind is read.
ORDER = ("networks", "subnets", "security_groups", "routers", "workloads", "ports")


class FabricMirror:
    def __init__(self, fabric: FabricService) -> None:
        self._fabric = fabric
        self._live = LiveInputs()
        self._loaded = False
        self._lock = threading.Lock()
        self.full_reads = 0  # whole-store reads so far (the tests and the benchmarks look)

    def snapshot_for(self, host: str) -> Snapshot:
        """What ``host``'s compile needs, at the store's current revision or newer."""
        with self._lock:
            self._advance()
            return self._live.snapshot_for(host)

    def _advance(self) -> None:
        fabric, live = self._fabric, self._live
        with fabric.db.snapshot() as conn:
            revision = read_revision(conn)
            if self._loaded and revision == live.revision:
                return
            changes = fabric.db.journal.since(live.revision, revision) if self._loaded else None
            if changes is None:
                self._read_everything(conn)
            else:
                self._read_changes(conn, changes)
            live.revision = revision
            live.dns_domain = fabric.settings.dns_domain
            self._loaded = True

    def _read_everything(self, conn: Connection) -> None:
        self.full_reads += 1
        for kind in SNAPSHOT_KINDS:
            self._live.replace_all(kind, self._fabric.read_kind(conn, kind))
        self._read_hosts(conn)

    def _read_hosts(self, conn: Connection) -> None:
        self._live.network_hosts = tuple(self._fabric.network_hosts(conn))
        self._live.tunnel_endpoints = self._fabric.tunnel_endpoints(conn)
        self._live.physical_interfaces = self._fabric.physical_interfaces(conn)
        self._live.ipv6_gateway = self._fabric.settings.ipv6_gateway
        self._live.ha_advert_interval = self._fabric.settings.ha_advert_interval
        self._read_router_hosts(conn)
        self._read_dhcp_hosts(conn)

    def _read_router_hosts(self, conn: Connection) -> None:
        self._live.router_hosts = instance_pairs(conn)
        self._live.ha_vrids = ha_routers.vrids(conn)

    def _read_dhcp_hosts(self, conn: Connection) -> None:
        self._live.dhcp_hosts = dhcp_scheduler.placements(conn)

    def _read_changes(self, conn: Connection, changes: Changes) -> None:
        wanted: dict[str, set[str] | None] = dict(changes.ids)
        for kind in ORDER:
            if kind not in wanted:
                continue
            gone = self._read(conn, kind, wanted[kind])
            for dependent, ids in self._live.dependents(kind, gone).items():
                if not ids:
                    continue
                if dependent == kind:  # a group named as remote by a rule of another group
                    self._read(conn, kind, ids)
                elif dependent not in wanted or wanted[dependent] is not ALL:
                    wanted[dependent] = (wanted.get(dependent) or set()) | ids
        if "hosts" in wanted:
            self._read_hosts(conn)
            return
        if "routers" in wanted:  # made, deleted or moved (``router_hosts`` reports routers)
            self._read_router_hosts(conn)
        if "networks" in wanted:  # DHCP placed, moved or unplaced (``network_dhcp_hosts``)
            self._read_dhcp_hosts(conn)

    def _read(self, conn: Connection, kind: str, ids: set[str] | None) -> set[str]:
        """Re-read these records of ``kind``; the ids that are gone."""
        if ids is ALL or len(ids) > MAX_BY_ID:
            before = set(self._live.records[kind])
            self._live.replace_all(kind, self._fabric.read_kind(conn, kind))
            return before - set(self._live.records[kind])
        found = self._fabric.read_kind(conn, kind, sorted(ids)) if ids else []
        rows: dict[str, Any] = {wire["id"]: wire for wire in found}
        gone = {record_id for record_id in ids if record_id not in rows}
        self._live.update(kind, {**{record_id: None for record_id in gone}, **rows})
        return gone

    def check_against_full_read(self) -> None:
        """A test aid (``V6FABRIC_VERIFY_LIVE=1``): every host compiled from the mirror equals
        the same host compiled from a full read of the store. Raises on a difference."""
        full = Snapshot.build(**self._fabric.snapshot())
        with self._lock:
            self._advance()
            if self._live.revision != full.revision:
                return  # a write landed in between: the next commit checks again
            hosts = {wire.get("binding:host_id") or "" for wire in full.ports}
            hosts |= {wire.get("host") or "" for wire in full.workloads}
            hosts |= {host for _router, host in full.router_hosts or ()}
            hosts |= {host for _network, host in full.dhcp_hosts or ()}
            for host in sorted(hosts | set(full.network_hosts)):
                mine = compile_host(self._live.snapshot_for(host), host)
                if mine != compile_host(full, host):
                    raise AssertionError(f"live inputs differ from the store for host {host!r}")
