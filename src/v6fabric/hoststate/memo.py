"""Answers kept per input *object*, shared by the compiler, the renderers and the agent.

The server's live inputs hand the compiler the same record dict until it changes, and a state
delta hands the agent the same section objects until they change: looking an answer up by
identity costs nothing, where ``lru_cache`` hashes (and compares) a big frozen value on every
call. Callers must not mutate an input after handing it over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class IdentityMemo:
    """Results per input object. Holds the input to keep its id valid; emptied when full (an
    input seen anew only misses)."""

    def __init__(self, size: int = 1 << 18) -> None:
        self._size = size
        self._found: dict[int, tuple[Any, Any]] = {}

    def get(self, key: Any, make: Callable[[], T]) -> T:
        hit = self._found.get(id(key))
        if hit is not None and hit[0] is key:
            return hit[1]
        if len(self._found) >= self._size:
            self._found.clear()
        value = make()
        self._found[id(key)] = (key, value)
        return value
