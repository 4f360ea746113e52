"""Choosing a free address from pools without reading every allocation of the subnet.

A /64 has 2^64 addresses, so the allocator draws at random (as Neutron does for IPv6) and asks
only whether each candidate is taken: one primary-key lookup per draw. Small or crowded pools fall
back to a scan over a snapshot of the used addresses, which always finds a free one if any exists.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

RANDOM_DRAWS = 8
SMALL_POOL = 256


def pool_size(pools: Sequence[tuple[int, int]]) -> int:
    return sum(end - start + 1 for start, end in pools)


def _nth(pools: Sequence[tuple[int, int]], index: int) -> int:
    for start, end in pools:
        size = end - start + 1
        if index < size:
            return start + index
        index -= size
    raise IndexError(index)


def choose_address(
    pools: Sequence[tuple[int, int]],
    is_taken: Callable[[int], bool],
    used_snapshot: Callable[[], set[int]],
    rng: random.Random,
) -> int | None:
    """A free address inside ``pools``, or None when every address is taken."""
    total = pool_size(pools)
    if total == 0:
        return None
    if total > SMALL_POOL:
        for _ in range(RANDOM_DRAWS):
            candidate = _nth(pools, rng.randrange(total))
            if not is_taken(candidate):
                return candidate
    used = used_snapshot()
    offset = rng.randrange(total)
    # Walk from a random offset; at most len(used) + 1 steps are needed to meet a free address.
    for step in range(min(total, len(used) + 1)):
        candidate = _nth(pools, (offset + step) % total)
        if candidate not in used:
            return candidate
    return None
