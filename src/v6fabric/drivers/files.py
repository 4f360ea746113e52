"""Files the agent owns (daemon configs, pid files, markers) under its run directory.

A config is written only when its text changes, through a temporary file and a rename, so a
daemon never reads half a file and an unchanged resync performs no write at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Files(Protocol):
    def write(self, path: Path, text: str) -> bool:
        """Make ``path`` hold ``text``; True if it changed anything."""
        ...

    def read(self, path: Path) -> str | None: ...

    def listdir(self, path: Path) -> list[str]: ...

    def remove(self, path: Path) -> None: ...

    def remove_tree(self, path: Path) -> None: ...


class LocalFiles:
    """``Files`` on the local file system; directories 0755 and files 0644 so that a daemon that
    drops privileges (dnsmasq re-reads its hosts file as ``nobody`` on SIGHUP) can read them."""

    def write(self, path: Path, text: str) -> bool:
        if self.read(path) == text:
            return False
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return True

    def read(self, path: Path) -> str | None:
        try:
            return path.read_text()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def listdir(self, path: Path) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def remove_tree(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
