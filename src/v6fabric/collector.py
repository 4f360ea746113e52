"""The cyclic garbage collector, tuned for the long-lived server and agent processes.

Traced in bench/publish_latency.py's server at 500 workloads: full collections of 65-140 ms
about every 20 writes, because each compile (and, in the agent, each decoded state) promotes
thousands of objects to the old generation, and every full pass also walked the ~118,000
objects that exist once the process is built (modules, routes, models). Those are frozen out
of the collector's passes, and young collections are made 14 times rarer so that fewer
half-built states get promoted at all (each young pass then scans up to 10,000 objects, a few
ms at most).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)


def tune_for_long_running() -> None:
    """Freeze what exists now out of full collections; make young collections rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
