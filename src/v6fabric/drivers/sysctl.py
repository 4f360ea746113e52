"""Kernel parameters per network namespace (``/proc/sys`` shows the reader's namespace).

Read and written as files under ``/proc/sys``, in the agent's own namespace directly and in
another from a thread that entered it (no fork); one ``ip netns exec NS sysctl`` call per
namespace is the fallback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from v6fabric.drivers.commands import CommandError, run
from v6fabric.drivers.netns import enter_supported, run_in_netns

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


def _read_here(keys: Sequence[str]) -> dict[str, str]:
    values = {}
    for key in keys:
        try:
            values[key] = _path(key).read_text().strip()
        except OSError:
            continue
    return values


def _write_here(values: Mapping[str, str]) -> None:
    for key, value in values.items():
        try:
            _path(key).write_text(f"{value}\n")
        except OSError as exc:
            raise CommandError(["sysctl", "-w", f"{key}={value}"], 1, str(exc)) from exc


class ProcSysctls:
    """``Sysctls`` on this machine: ``/proc/sys`` read in the namespace itself (see
    ``drivers.netns``), or ``ip netns exec NS sysctl`` where entering is not possible."""

    def __init__(self) -> None:
        self.enter = enter_supported()

    def read(self, netns: str | None, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        if netns is None:
            return _read_here(keys)
        if self.enter:
            try:
                return run_in_netns(netns, lambda: _read_here(keys))
            except OSError as exc:
                raise CommandError(["sysctl", "-e", *keys], 1, str(exc)) from exc
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
            _write_here(values)
        elif self.enter:
            try:
                run_in_netns(netns, lambda: _write_here(values))
            except OSError as exc:
                raise CommandError(["sysctl", "-w", *values], 1, str(exc)) from exc
        else:
            run(["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())], netns=netns)
