"""Deduplicate deliveries by ``webhook-id``: Fintoro delivers at least once, up to 5 times."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

# Fintoro retries for about 3 hours (10 s, 100 s, 1000 s, 10000 s); keep ids for a day.
DEFAULT_TTL_S = 24 * 3600.0


class DedupStore(Protocol):
    """Remembers which event ids were taken for processing."""

    async def mark_if_new(self, key: str, ttl: float) -> bool:
        """Atomically record ``key`` for ``ttl`` seconds; True only for the first caller."""

    async def forget(self, key: str) -> None:
        """Drop ``key`` (its processing failed), so a redelivery is processed again."""


class InMemoryDedupStore:
    """A bounded in-process store: entries expire after their TTL; beyond ``max_size`` the oldest go first."""

    def __init__(self, max_size: int = 100_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            raise ValueError(f"max_size must be a positive integer, got {max_size!r}")
        self.max_size = max_size
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    async def mark_if_new(self, key: str, ttl: float) -> bool:
        # No await in here: in asyncio this whole check-and-set runs without interruption.
        now = self._clock()
        while self._expiry and next(iter(self._expiry.values())) <= now:
            self._expiry.popitem(last=False)
        expiry = self._expiry.get(key)
        if expiry is not None and expiry > now:
            return False
        self._expiry[key] = now + ttl
        self._expiry.move_to_end(key)
        while len(self._expiry) > self.max_size:
            self._expiry.popitem(last=False)
        return True

    async def forget(self, key: str) -> None:
        self._expiry.pop(key, None)
