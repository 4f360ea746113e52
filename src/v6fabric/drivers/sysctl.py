"""Kernel parameters per network namespace (``/proc/sys`` shows the reader's namespace).

In the agent's own namespace the files are read and written directly (no fork); elsewhere one
``ip netns exec NS sysctl`` call handles all the keys of a namespace at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from v6fabric.drivers.commands import CommandError, run

PROC_SYS = Path("/proc/sys")


class Sysctls(Protocol):
    def read(self, netns: str | None, keys: Sequence[str]) -> dict[str, str]:
        """The values of those ``keys`` that exist (a key of a missing interface is absent)."""
        ...

    def write(self, netns: str | None, values: Mapping[str, str]) -> None:
        """Set every key; raise if any could not be set."""
        ...


def _path(key: str) -> Path:
    return PROC_SYS.joinpath(*key.split("."))


class ProcSysctls:
    """``Sysctls`` on this machine."""

    def read(self, netns: str | None, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        if netns is None:
            values = {}
            for key in keys:
                try:
                    values[key] = _path(key).read_text().strip()
                except OSError:
                    continue
            return values
        done = run(["sysctl", "-e", *keys], netns=netns, check=False)
        values = {}
        for line in done.stdout.splitlines():
            key, sep, value = line.partition(" = ")
            if sep:
                values[key.strip()] = value.strip()
        return values

    def write(self, netns: str | None, values: Mapping[str, str]) -> None:
        if not values:
            return
        if netns is None:
            for key, value in values.items():
                try:
                    _path(key).write_text(f"{value}\n")
                except OSError as exc:
                    raise CommandError(["sysctl", "-w", f"{key}={value}"], 1, str(exc)) from exc
            return
        run(["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())], netns=netns)
