"""nftables in a namespace: our tables are loaded by ``nft -f`` scripts, one transaction each.

Reading back is limited to the table names (``nft list tables``): listing a large ruleset takes
seconds (dataplane.md §11), so what was loaded is known from the agent's own marker files.
"""

from __future__ import annotations

from typing import Protocol

from v6fabric.drivers.commands import CommandError, run
from v6fabric.drivers.netns import enter_supported, run_in_netns


class Nftables(Protocol):
    def tables(self, netns: str | None) -> set[str]:
        """``family name`` of every table, e.g. ``inet v6fabric``."""
        ...

    def load(self, netns: str | None, script: str) -> None:
        """Apply ``script`` atomically; raise ``CommandError`` and change nothing if it fails."""
        ...


class NftCommand:
    """``nft`` forked from a thread inside the namespace (``drivers.netns``): a child inherits
    its thread's namespace, which saves ``ip netns exec`` (a third of a small update's cost)."""

    def __init__(self) -> None:
        self.enter = enter_supported()

    def _run(self, argv: list[str], netns: str | None, script: str | None = None) -> str:
        if netns is None or not self.enter:
            return run(argv, netns=netns, input=script).stdout
        try:
            return run_in_netns(netns, lambda: run(argv, input=script)).stdout
        except OSError as exc:  # the namespace is gone
            raise CommandError(argv, 1, str(exc)) from exc

    def tables(self, netns: str | None) -> set[str]:
        out = self._run(["nft", "list", "tables"], netns)
        return {line.removeprefix("table ").strip() for line in out.splitlines() if line.strip()}

    def load(self, netns: str | None, script: str) -> None:
        self._run(["nft", "-f", "-"], netns, script)


class FakeNftables:
    """Scripts applied per namespace, in order; ``tables`` from what they declared."""

    def __init__(self) -> None:
        self.loaded: dict[str | None, list[str]] = {}
        self.present: dict[str | None, set[str]] = {}
        self.fail_next = False

    def tables(self, netns: str | None) -> set[str]:
        return set(self.present.get(netns, set()))

    def load(self, netns: str | None, script: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise CommandError(["nft", "-f", "-"], 1, "Error: fake failure")
        self.loaded.setdefault(netns, []).append(script)
        present = self.present.setdefault(netns, set())
        for line in script.splitlines():
            words = line.split()
            if words[:2] == ["delete", "table"] and len(words) >= 4:
                present.discard(f"{words[2]} {words[3]}")
            elif words[:2] == ["add", "table"] and len(words) >= 4:
                present.add(f"{words[2]} {words[3]}")
            elif words[:1] == ["table"] and len(words) >= 3:
                present.add(f"{words[1]} {words[2]}")
