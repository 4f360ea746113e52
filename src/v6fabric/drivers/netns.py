"""Running a little Python inside a named network namespace, without forking.

``/proc/sys/net`` shows the network namespace of the thread that opens it. A short-lived thread
that has entered a namespace with ``setns(2)`` (which moves only the calling thread) can read
and write that namespace's sysctls as plain files: about 0.1 ms, where ``ip netns exec NS
sysctl`` forks twice and costs 5-8 ms. The agent reads and writes interface sysctls on every
pass, so this is most of what a pass used to spend outside ``ip``. ``rtnetlink`` opens its
netlink sockets the same way (a socket stays in the namespace it was made in).

Where ``setns`` is unavailable (no libc symbol, no privilege) ``enter_supported`` is False and
callers fall back to forking.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable
from typing import TypeVar

NETNS_RUN_DIR = "/run/netns"  # where ``ip netns`` keeps named namespaces
CLONE_NEWNET = 0x40000000
T = TypeVar("T")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_setns = getattr(_libc, "setns", None)


class NetnsError(OSError):
    pass


def enter_supported() -> bool:
    return _setns is not None and os.geteuid() == 0


def run_in_netns(netns: str, fn: Callable[[], T]) -> T:
    """``fn()`` in a thread that has entered ``/run/netns/<netns>``; its result or exception."""
    if _setns is None:
        raise NetnsError("setns(2) is not available")
    outcome: dict[str, object] = {}

    def body() -> None:
        try:
            fd = os.open(os.path.join(NETNS_RUN_DIR, netns), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            outcome["error"] = exc
            return
        try:
            if _setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                outcome["error"] = NetnsError(err, f"setns {netns}: {os.strerror(err)}")
                return
        finally:
            os.close(fd)
        try:
            outcome["result"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    # The thread ends here, namespace and all: no thread of this process is ever left inside.
    thread = threading.Thread(target=body, name=f"netns-{netns}", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def enter_for_process(netns: str) -> None:
    """Move the calling thread into ``/run/netns/<netns>`` for good: a process that calls this
    from its main thread before starting any thread lives in ``netns`` (threads made later
    inherit the namespace of the thread that made them). Unlike ``ip netns exec``, the mount
    namespace is left alone, so namespaces the process creates stay visible to everyone."""
    if _setns is None:
        raise NetnsError("setns(2) is not available")
    if threading.active_count() != 1:
        raise NetnsError("enter a namespace before any thread exists: the others would stay")
    fd = os.open(os.path.join(NETNS_RUN_DIR, netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError(err, f"setns {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)
