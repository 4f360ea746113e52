"""nftables in a namespace: our tables are loaded by ``nft -f`` scripts, one transaction each.

Reading back is limited to the table names (``nft list tables``): listing a large ruleset takes
seconds (dataplane.md §11), so what was loaded is known from the agent's own marker files.

The agent runs the scripts with libnftables in its own process (``NftLibrary``), the library
the ``nft`` command is made of, one context per namespace kept open; ``NftCommand`` forks
``nft`` where the library cannot be loaded. Measured with bench/nft_load.py: a forked ``nft``
spends ~2.5-3 ms starting (exec, linking, the library's init) before it reads its script, and
one whose transaction deleted anything then waits 10-15 ms in ``close()`` of its netlink
socket (the kernel waits for an RCU grace period to free what was deleted when a netfilter
socket is released). A kept context pays neither: a port's elements load in ~0.5 ms.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import threading
from typing import Protocol

from v6fabric.drivers.commands import CommandError, run
from v6fabric.drivers.netns import NETNS_RUN_DIR, enter_supported, run_in_netns


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


class NftLibrary:
    """libnftables in this process: a context per namespace, opened inside it and kept.

    A context's netlink socket belongs to the namespace it was opened in, and keeps it alive.
    So every call, from a thread inside the namespace, compares that namespace's inode with its
    context's and opens a new context when they differ (a namespace deleted and made again
    under the same name is another one; the old socket keeps the old namespace, so its inode is
    not reused while we compare), and closes the contexts of namespaces deleted meanwhile. The
    contexts are the process's, shared by every instance, and used one call at a time: a
    context is not thread-safe, nor is the library's first initialisation.
    """

    def __init__(self, library: ctypes.CDLL) -> None:
        self.lib = library

    @classmethod
    def open(cls) -> NftLibrary | None:
        """The library, or None where it cannot be used (not installed, not root)."""
        library = _library() if enter_supported() else None
        return cls(library) if library is not None else None

    def run(self, netns: str | None, script: str) -> str:
        """Run ``script`` (nft's syntax, one transaction); its output. ``CommandError``
        when nft refuses it, and then nothing changed."""
        with _LOCK:
            self._sweep(netns)
            if netns is None:
                code, out, err = self._run(netns, script)
            else:
                try:
                    code, out, err = run_in_netns(netns, lambda: self._run(netns, script))
                except OSError as exc:  # the namespace is gone: so is its context
                    self._close(netns)
                    raise CommandError(["nft", "-f", "-"], 1, str(exc)) from exc
        if code != 0:
            raise CommandError(["nft", "-f", "-"], 1, err)
        return out

    def _run(self, netns: str | None, script: str) -> tuple[int, str, str]:
        """In the namespace's thread: its context (a new one if the namespace is another)."""
        inode = os.stat("/proc/thread-self/ns/net").st_ino
        known = _CONTEXTS.get(netns)
        if known is not None and known[0] != inode:
            self._close(netns)
            known = None
        if known is None:
            context = self.lib.nft_ctx_new(0)  # NFT_CTX_DEFAULT: opens its socket, here
            if not context:
                return 1, "", "libnftables: no context"
            self.lib.nft_ctx_buffer_output(context)
            self.lib.nft_ctx_buffer_error(context)
            known = _CONTEXTS[netns] = (inode, context)
        context = known[1]
        # as ``nft -f`` runs a file (a buffer would lose the line numbers of its errors)
        fd = os.memfd_create("nft-script", os.MFD_CLOEXEC)
        try:
            os.write(fd, script.encode())
            code = self.lib.nft_run_cmd_from_filename(context, f"/proc/self/fd/{fd}".encode())
        finally:
            os.close(fd)
        # reading a buffer also empties it for the next call
        out = self.lib.nft_ctx_get_output_buffer(context) or b""
        err = self.lib.nft_ctx_get_error_buffer(context) or b""
        return code, out.decode(errors="replace"), err.decode(errors="replace")

    def _sweep(self, netns: str | None) -> None:
        """Close the contexts of the other namespaces that are gone or are other ones now."""
        for name in [n for n in _CONTEXTS if n is not None and n != netns]:
            try:
                gone = os.stat(os.path.join(NETNS_RUN_DIR, name)).st_ino != _CONTEXTS[name][0]
            except OSError:
                gone = True
            if gone:
                self._close(name)

    def _close(self, netns: str | None) -> None:
        known = _CONTEXTS.pop(netns, None)
        if known is not None:
            self.lib.nft_ctx_free(known[1])

    def forget(self, netns: str | None) -> None:
        """Close the namespace's context now, and with it the socket that keeps it alive."""
        with _LOCK:
            self._close(netns)

    def tables(self, netns: str | None) -> set[str]:
        out = self.run(netns, "list tables")
        return {line.removeprefix("table ").strip() for line in out.splitlines() if line.strip()}

    def load(self, netns: str | None, script: str) -> None:
        self.run(netns, script)


_CONTEXTS: dict[str | None, tuple[int, int]] = {}  # netns -> (its inode, context)
_LOCK = threading.Lock()


@functools.cache
def _library() -> ctypes.CDLL | None:
    try:
        library = ctypes.CDLL(ctypes.util.find_library("nftables") or "libnftables.so.1")
        for name, result, args in (
            ("nft_ctx_new", ctypes.c_void_p, [ctypes.c_uint32]),
            ("nft_ctx_free", None, [ctypes.c_void_p]),
            ("nft_ctx_buffer_output", ctypes.c_int, [ctypes.c_void_p]),
            ("nft_ctx_buffer_error", ctypes.c_int, [ctypes.c_void_p]),
            ("nft_ctx_get_output_buffer", ctypes.c_char_p, [ctypes.c_void_p]),
            ("nft_ctx_get_error_buffer", ctypes.c_char_p, [ctypes.c_void_p]),
            ("nft_run_cmd_from_filename", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
        ):
            function = getattr(library, name)
            function.restype, function.argtypes = result, args
    except (OSError, AttributeError):  # not installed, or not the library we know
        return None
    return library


def default_nftables() -> Nftables:
    """The library where it loads, else the command."""
    return NftLibrary.open() or NftCommand()


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
