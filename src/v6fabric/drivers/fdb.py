"""VXLAN forwarding tables: which remote endpoint a MAC on a VXLAN device goes to.

Only entries of ours are read and written: ``self`` entries with a destination (``dst``) on
the device. The kernel's own (the device's MAC, entries the bridge learnt on its port) are
neither read nor touched. The all-zeros MAC is special: one entry per remote endpoint
(``append``), which the kernel uses for broadcast, multicast and unknown unicast (head-end
replication); any other MAC has one destination (``replace``, which moves it in place).

Reads go in-process (``rtnetlink.read_fdb``: a dump the kernel filters to the device, no
fork), falling back to ``bridge -json fdb show``; writes are one ``bridge -force -batch -``
per namespace and phase, a result per line as ``ip -batch`` gives (``iproute.batch_results``).
The fake beside it, ``FakeFdb``, keeps entries on a ``drivers.fake.FakeKernel``'s devices.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from v6fabric.drivers import rtnetlink
from v6fabric.drivers.commands import CommandError, run
from v6fabric.drivers.iproute import batch_results

if TYPE_CHECKING:
    from v6fabric.drivers.fake import FakeKernel
    from v6fabric.drivers.fake_links import FakeLink

log = logging.getLogger(__name__)

ZERO_MAC = "00:00:00:00:00:00"

FdbEntries = frozenset[tuple[str, str]]  # (mac, remote), both normalised


@dataclass(frozen=True)
class AddFdb:
    """Frames for ``mac`` on ``device`` go to ``remote`` (the all-zeros MAC: one more remote
    that gets every broadcast and unknown frame)."""

    netns: str | None
    device: str
    mac: str
    remote: str


@dataclass(frozen=True)
class DeleteFdb:
    netns: str | None
    device: str
    mac: str
    remote: str


FdbOp = AddFdb | DeleteFdb


class Fdb(Protocol):
    """Results are per operation: None when done, else the error text (a delete of an entry
    or a device already gone counts as done)."""

    def read(self, netns: str | None, devices: Sequence[str]) -> dict[str, FdbEntries]:
        """Our entries of those ``devices`` that exist."""
        ...

    def apply(self, netns: str | None, ops: Sequence[FdbOp]) -> list[str | None]: ...


@functools.lru_cache(maxsize=1 << 14)  # every entry of every device, on every plan
def normalise_ip(text: str) -> str:
    return str(ipaddress.ip_address(text))


def entries(raws: Iterable[Mapping[str, Any]]) -> FdbEntries:
    """Ours among ``bridge -json fdb show`` objects: permanent ``self`` entries with a
    ``dst`` (a device that learns, ``OverlaySpec.learning``, also holds what it learnt from
    the wire: those are the kernel's, not ours, and are never deleted by the agent)."""
    return frozenset(
        (str(raw["mac"]).lower(), normalise_ip(str(raw["dst"])))
        for raw in raws
        if raw.get("dst")
        and raw.get("mac")
        and "self" in (raw.get("flags") or ())
        and raw.get("state", "permanent") == "permanent"
    )


def fdb_line(op: FdbOp) -> str:
    """The ``bridge -batch`` line of one operation (the namespace is given by ``-n``)."""
    where = f"{op.mac} dev {op.device} dst {op.remote} self"
    if isinstance(op, DeleteFdb):
        return f"fdb del {where}"
    verb = "append" if op.mac == ZERO_MAC else "replace"
    return f"fdb {verb} {where} permanent"


def tolerated(op: Any, message: str) -> bool:
    """A delete of an entry or a device already gone is done."""
    return isinstance(op, DeleteFdb) and ("No such" in message or "Cannot find" in message)


def _bridge(netns: str | None) -> list[str]:
    return ["bridge", *(["-n", netns] if netns else [])]


class BridgeFdb:
    """``Fdb`` through iproute2's ``bridge``, read in-process unless ``in_process`` is False."""

    def __init__(self, *, in_process: bool = True) -> None:
        self.in_process = in_process

    def read(self, netns: str | None, devices: Sequence[str]) -> dict[str, FdbEntries]:
        if not devices:
            return {}
        if self.in_process:
            try:
                found = rtnetlink.read_fdb(netns, devices)
            except OSError as exc:
                log.debug("fdb of %s read by bridge: %s", netns, exc)
            else:
                return {name: entries(raws) for name, raws in found.items()}
        return self.read_by_bridge(netns, devices)

    def read_by_bridge(self, netns: str | None, devices: Sequence[str]) -> dict[str, FdbEntries]:
        """One ``bridge -json fdb show`` of the namespace, kept to ``devices`` (the ones that
        exist, by ``ip``: a device without entries is in no line of the dump)."""
        wanted = set(devices)
        links = run(["ip", *(["-n", netns] if netns else []), "-json", "link", "show"])
        present = {raw["ifname"] for raw in json.loads(links.stdout or "[]")} & wanted
        done = run([*_bridge(netns), "-json", "fdb", "show"])
        raws: dict[str, list[Mapping[str, Any]]] = {name: [] for name in present}
        for raw in json.loads(done.stdout or "[]"):
            if raw.get("ifname") in raws:
                raws[raw["ifname"]].append(raw)
        return {name: entries(found) for name, found in raws.items()}

    def apply(self, netns: str | None, ops: Sequence[FdbOp]) -> list[str | None]:
        if not ops:
            return []
        script = "".join(fdb_line(op) + "\n" for op in ops)
        try:
            done = run([*_bridge(netns), "-force", "-batch", "-"], input=script, check=False)
        except (CommandError, OSError) as exc:
            return [str(exc)] * len(ops)
        return batch_results(ops, done.stderr, done.returncode, tolerated)


class FakeFdb:
    """``Fdb`` on a ``FakeKernel``: entries by the device's ifindex, so that they go with it
    (a device made again under the same name starts empty, as in the kernel)."""

    def __init__(self, kernel: FakeKernel) -> None:  # its links; ``writes`` counts ours too
        self.kernel = kernel
        self.entries: dict[tuple[str | None, int], set[tuple[str, str]]] = {}

    def _device(self, netns: str | None, name: str) -> FakeLink | None:
        link = self.kernel.links.get(netns, {}).get(name)
        return link if link is not None and link.kind == "vxlan" else None

    def read(self, netns: str | None, devices: Sequence[str]) -> dict[str, FdbEntries]:
        found = {}
        for name in devices:
            link = self._device(netns, name)
            if link is not None:
                found[name] = frozenset(self.entries.get((netns, link.ifindex), ()))
        return found

    def apply(self, netns: str | None, ops: Sequence[AddFdb | DeleteFdb]) -> list[str | None]:
        results: list[str | None] = []
        for op in ops:
            link = self._device(netns, op.device)
            if link is None:
                message = f'Cannot find device "{op.device}"'
                results.append(None if tolerated(op, message) else message)
                continue
            table = self.entries.setdefault((netns, link.ifindex), set())
            if isinstance(op, AddFdb) and op.mac != ZERO_MAC:  # replace: one remote a MAC
                table -= {entry for entry in table if entry[0] == op.mac}
            if isinstance(op, AddFdb):
                table.add((op.mac, op.remote))
            else:
                table.discard((op.mac, op.remote))
            self.kernel.writes += 1
            results.append(None)
        return results
