"""In-memory stand-ins for the ``Files`` and ``Processes`` drivers, beside the fake kernel.

Their own module because they fake the daemons' side of a host (config files, pid files, the
daemons' processes), not the kernel's: ``FakeProcesses`` asks the ``FakeKernel`` of
``drivers.fake`` only whether a namespace exists and which pids run in it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from v6fabric.drivers.commands import CommandError
from v6fabric.drivers.fake import FakeKernel


class MemoryFiles:
    """``Files`` in a dict."""

    def __init__(self) -> None:
        self.data: dict[Path, str] = {}
        self.writes = 0

    def write(self, path: Path, text: str) -> bool:
        if self.data.get(path) == text:
            return False
        self.data[path] = text
        self.writes += 1
        return True

    def read(self, path: Path) -> str | None:
        return self.data.get(path)

    def listdir(self, path: Path) -> list[str]:
        names = {p.relative_to(path).parts[0] for p in self.data if path in p.parents}
        return sorted(names)

    def remove(self, path: Path) -> None:
        self.data.pop(path, None)

    def remove_tree(self, path: Path) -> None:
        for key in [p for p in self.data if p == path or path in p.parents]:
            del self.data[key]


class FakeProcesses:
    """``Processes`` that only write pid files; ``running`` maps pid -> (netns, argv)."""

    def __init__(self, files: MemoryFiles, kernel: FakeKernel) -> None:
        self.files, self.kernel = files, kernel
        self.running: dict[int, tuple[str | None, tuple[str, ...]]] = {}
        self.signals: list[tuple[int, int]] = []
        self.ran: list[tuple[str | None, tuple[str, ...]]] = []  # ``run``: (netns, argv)
        self.starts = 0
        self._pids = itertools.count(1000)

    def start(
        self, argv: Sequence[str], *, netns: str | None, pid_file: Path, log_file: Path
    ) -> int:
        if netns not in self.kernel.links:
            raise CommandError(list(argv), 1, f'Cannot open network namespace "{netns}"')
        pid = next(self._pids)
        self.running[pid] = (netns, tuple(argv))
        self.kernel.pids[netns].add(pid)
        self.files.write(pid_file, f"{pid}\n")
        self.files.write(log_file, "started\n")
        self.starts += 1
        return pid

    def run(self, argv: Sequence[str], *, netns: str | None) -> None:
        if netns not in self.kernel.links:
            raise CommandError(list(argv), 1, f'Cannot open network namespace "{netns}"')
        self.ran.append((netns, tuple(argv)))

    def pid(self, pid_file: Path) -> int | None:
        text = self.files.read(pid_file)
        pid = int(text) if text and text.strip().isdigit() else None
        return pid if pid in self.running else None

    def signal(self, pid_file: Path, signum: int) -> None:
        pid = self.pid(pid_file)
        if pid is None:
            raise CommandError(["kill", str(signum)], 1, "not running")
        self.signals.append((pid, signum))

    def kill(self, pid: int) -> None:
        netns, _argv = self.running.pop(pid, (None, ()))
        self.kernel.pids.get(netns, set()).discard(pid)

    def stop(self, pid_file: Path) -> None:
        pid = self.pid(pid_file)
        if pid is not None:
            self.kill(pid)
        self.files.remove(pid_file)
