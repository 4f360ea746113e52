"""Running host tools (ip, sysctl, daemons), optionally inside a network namespace.

Every side effect of v6fabric on a host goes through ``run`` or ``spawn``: one place to log,
to time and to fake in tests.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


class CommandError(RuntimeError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} failed ({returncode}): {stderr.strip()}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


def in_netns(argv: Sequence[str], netns: str | None) -> list[str]:
    """``argv`` as run inside ``netns`` (None: the current namespace)."""
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def run(
    argv: Sequence[str],
    *,
    netns: str | None = None,
    check: bool = True,
    input: str | None = None,
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    full = in_netns(argv, netns)
    proc = subprocess.run(
        full, input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise CommandError(full, proc.returncode, proc.stderr)
    return proc


def ip_in(netns: str | None) -> list[str]:
    """The ``ip`` command aimed at ``netns`` (None: the current namespace)."""
    return ["ip", "-n", netns] if netns else ["ip"]


def ip_batch(netns: str | None, lines: Sequence[str]) -> None:
    """``lines`` as one ``ip -batch`` (one fork) in ``netns`` (None: this namespace)."""
    if lines:
        run([*ip_in(netns), "-batch", "-"], input="\n".join(lines) + "\n")


def spawn(
    argv: Sequence[str],
    *,
    netns: str | None = None,
    log_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a daemon that outlives its parent (own session): an agent restart keeps traffic."""
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            in_netns(argv, netns),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    finally:
        if log_file:
            out.close()  # type: ignore[union-attr]


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie counts as gone (PID 1 here need not reap orphans)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def read_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` if that process is alive, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None
