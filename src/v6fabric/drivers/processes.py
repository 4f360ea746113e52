"""Daemons (radvd, dnsmasq) in namespaces, known only by their pid files.

A daemon is started in its own session (``commands.spawn``) so that it outlives an agent restart:
traffic keeps flowing while the agent is away, and the next agent finds it again by pid file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from v6fabric.drivers.commands import CommandError, pid_alive, read_pid, run, spawn

SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"


def resolve(program: str) -> str:
    """Daemons live in sbin, which a non-login PATH may lack."""
    return shutil.which(program, path=f"{os.environ.get('PATH', '')}:{SBIN_PATH}") or program


class Processes(Protocol):
    def start(
        self, argv: Sequence[str], *, netns: str | None, pid_file: Path, log_file: Path
    ) -> int:
        """Start a daemon that writes ``pid_file``; return its pid once that file names it."""
        ...

    def pid(self, pid_file: Path) -> int | None:
        """The running process named by ``pid_file``, or None."""
        ...

    def signal(self, pid_file: Path, signum: int) -> None:
        """Signal the running daemon; raise if it does not run."""
        ...

    def stop(self, pid_file: Path) -> None:
        """Stop the daemon (if it runs) and remove its pid file."""
        ...

    def kill(self, pid: int) -> None:
        """End a process found otherwise (e.g. left in a namespace being deleted)."""
        ...

    def run(self, argv: Sequence[str], *, netns: str | None) -> None:
        """Run a short command (a hook) to its end; raise if it fails."""
        ...


def _log_tail(log_file: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class DaemonProcesses:
    """``Processes`` on this machine."""

    def __init__(self, *, start_timeout: float = 5.0, stop_timeout: float = 3.0) -> None:
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._children: list[subprocess.Popen[bytes]] = []

    def _reap(self) -> None:
        """Collect children that exited (daemons that fork leave their parent to us)."""
        self._children = [child for child in self._children if child.poll() is None]

    def start(
        self, argv: Sequence[str], *, netns: str | None, pid_file: Path, log_file: Path
    ) -> int:
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
        log_file.parent.mkdir(parents=True, exist_ok=True)
        child = spawn([resolve(argv[0]), *argv[1:]], netns=netns, log_file=log_file)
        self._children.append(child)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            pid = read_pid(pid_file)
            if pid is not None:
                self._reap()
                return pid
            code = child.poll()
            if code not in (None, 0):
                break
            time.sleep(0.01)
        self._reap()
        code = child.poll()
        raise CommandError(list(argv), -1 if code is None else code, _log_tail(log_file))

    def pid(self, pid_file: Path) -> int | None:
        return read_pid(pid_file)

    def signal(self, pid_file: Path, signum: int) -> None:
        pid = read_pid(pid_file)
        if pid is None:
            raise CommandError(["kill", f"-{signum}", str(pid_file)], 1, "not running")
        os.kill(pid, signum)

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._reap()
            if not pid_alive(pid):
                return True
            time.sleep(0.01)
        return not pid_alive(pid)

    def kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, self.stop_timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, self.stop_timeout)

    def stop(self, pid_file: Path) -> None:
        pid = read_pid(pid_file)
        if pid is not None:
            self.kill(pid)
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()

    def run(self, argv: Sequence[str], *, netns: str | None) -> None:
        run(argv, netns=netns, timeout=10)
