"""The order of a plan's actions: by phase, then by ``repr``, without the ``repr`` of a
bulky action where its head decides (a file's text or an nft script is megabytes with many
workloads, and was most of a plan's cost at 500 workloads)."""

from __future__ import annotations

from v6fabric.agent.actions import Action, LoadFirewall, RemoveFirewall, WriteFile

# actions whose repr holds a file's text or a script: megabytes with many workloads
BULKY = (WriteFile, LoadFirewall, RemoveFirewall)


def head(action: Action) -> str:
    """A prefix of ``repr(action)``: all of it, or the type's name for a bulky action. Two
    heads are equal or differ at a place inside both (a type's name ends with its ``(``)."""
    return f"{type(action).__name__}(" if isinstance(action, BULKY) else repr(action)


class Tail:
    """An action, ordered by its ``repr`` where the heads tie (the same bulky type): two
    writes by their paths' part of the repr where that decides, else by the whole repr."""

    __slots__ = ("_repr", "action")

    def __init__(self, action: Action, head: str) -> None:
        self.action = action
        self._repr = None if isinstance(action, BULKY) else head

    def full(self) -> str:
        if self._repr is None:
            self._repr = repr(self.action)
        return self._repr

    def _paths(self, other: Tail) -> tuple[str, str] | None:
        """Both writes' reprs up to their texts, where they differ inside both."""
        a, b = self.action, other.action
        if not (isinstance(a, WriteFile) and isinstance(b, WriteFile)):
            return None
        pa, pb = f"{a.path!r}, text=", f"{b.path!r}, text="
        return None if pa.startswith(pb) or pb.startswith(pa) else (pa, pb)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tail):
            return NotImplemented
        return self._paths(other) is None and self.full() == other.full()

    def __lt__(self, other: Tail) -> bool:
        paths = self._paths(other)
        return paths[0] < paths[1] if paths is not None else self.full() < other.full()
