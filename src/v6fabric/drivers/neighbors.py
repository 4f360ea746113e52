"""Permanent neighbour entries (``ip neigh ... nud permanent``): what ``drivers.netlink`` reads
of a namespace's neighbour table and the two operations on it, as lines of its ``ip -batch``.

Only ``nud permanent`` entries are read: the others are the kernel's own (learnt by neighbour
discovery) and never the agent's business. Measured on this kernel: a permanent entry can be
added on a link that is down, survives the link going up and losing its carrier, but is
flushed when the link is set down or deleted (so the agent re-adds it on its next read).
iproute2 6.1's ``neigh`` commands exit on a failure even under ``-force`` (no
``Command failed -:N``, the rest of the batch not run): so they go to ``ip`` on their own
(``apply``), one batch, and one line at a time only when that batch failed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from v6fabric.drivers.commands import run


@dataclass(frozen=True, order=True)
class Neighbor:
    """One permanent entry: ``address`` (plain, normalised) is at ``mac`` on ``ifname``."""

    ifname: str
    address: str
    mac: str  # lower case


@dataclass(frozen=True)
class ReplaceNeighbor:
    """Add the entry, or change its MAC or state to permanent."""

    netns: str | None
    neighbor: Neighbor


@dataclass(frozen=True)
class DeleteNeighbor:
    netns: str | None
    ifname: str
    address: str


def normalise_address(text: str) -> str:
    return str(ipaddress.ip_address(text))


def neighbor_line(op: ReplaceNeighbor | DeleteNeighbor) -> str:
    if isinstance(op, ReplaceNeighbor):
        n = op.neighbor
        return f"neigh replace {n.address} lladdr {n.mac} dev {n.ifname} nud permanent"
    return f"neigh del {op.address} dev {op.ifname}"


def parse_neighbors(raws: Iterable[Mapping[str, Any]]) -> tuple[Neighbor, ...]:
    """``ip -json neigh show`` entries -> the permanent ones with a MAC, sorted."""
    found = set()
    for raw in raws:
        if "PERMANENT" not in (raw.get("state") or []) or not raw.get("lladdr"):
            continue
        if not raw.get("dst") or not raw.get("dev"):
            continue
        found.add(Neighbor(raw["dev"], normalise_address(raw["dst"]), str(raw["lladdr"]).lower()))
    return tuple(sorted(found))


NeighborOp = ReplaceNeighbor | DeleteNeighbor


def apply(
    netns: str | None, ops: Sequence[NeighborOp], tolerated: Callable[[Any, str], bool]
) -> list[str | None]:
    """Per-operation results (None: done; a delete of an entry already gone is done)."""
    if not ops:
        return []
    base = ["ip", *(["-n", netns] if netns else [])]
    script = "".join(neighbor_line(op) + "\n" for op in ops)
    done = run([*base, "-batch", "-"], input=script, check=False)
    if done.returncode == 0:
        return [None] * len(ops)
    results: list[str | None] = []
    for op in ops:  # those before the failure are applied already: replaying them is harmless
        one = run([*base, *neighbor_line(op).split()], check=False)
        error = (one.stderr.strip() or f"ip exited {one.returncode}") if one.returncode else None
        results.append(None if error is None or tolerated(op, error) else error)
    return results
