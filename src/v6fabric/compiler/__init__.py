"""The compiler: a consistent snapshot of the store in, one ``HostState`` per host out (pure).

May import only the standard library, ``v6fabric.domain`` and ``v6fabric.hoststate``.
"""

from v6fabric.compiler.compile import compile_host
from v6fabric.compiler.snapshot import Snapshot

__all__ = ["Snapshot", "compile_host"]
