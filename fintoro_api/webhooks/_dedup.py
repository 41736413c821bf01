"""Deduplicate deliveries by ``webhook-id`` in two phases: *in progress* under a lease, then *done*.

Fintoro delivers at least once (up to 5 attempts) and retries a delivery that
got no answer within 10 s, possibly while the first attempt is still running.
One mark taken before the handler runs would acknowledge that redelivery and
lose the event if the first attempt then failed. So an id is *claimed* under a
lease (a crashed process's lease expires by itself), marked *done* only after
the handler succeeded, and *released* on any other exit.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import attrs

# Fintoro retries for about 3 hours (10 s, 100 s, 1000 s, 10000 s); keep done ids for a day.
DEFAULT_TTL_S = 24 * 3600.0
# How long an attempt may hold an id; past it, a crashed process's claim expires.
DEFAULT_LEASE_S = 60.0


class Seen(enum.Enum):
    """Why an id could not be claimed."""

    IN_PROGRESS = "in_progress"  # another attempt holds a live lease
    DONE = "done"  # processed successfully already


@attrs.frozen
class Lease:
    """A claim on one id; ``token`` makes sure only its holder can release it."""

    key: str
    token: str = attrs.field(factory=lambda: secrets.token_hex(8), repr=False)


class DedupStore(Protocol):
    """Remembers which event ids are being processed (under a lease) and which are done."""

    async def claim(self, key: str, lease: float) -> Lease | Seen:
        """Atomically take ``key`` for ``lease`` seconds, or say why not (in progress elsewhere, or done)."""

    async def complete(self, lease: Lease, ttl: float) -> None:
        """Mark the claimed id done for ``ttl`` seconds: later deliveries are duplicates."""

    async def release(self, lease: Lease) -> None:
        """Give the id back (the attempt failed) if ``lease`` still holds it: a redelivery runs again."""


@attrs.define
class _Entry:
    expires: float
    token: str | None  # None once done


class InMemoryDedupStore:
    """A bounded in-process store: entries expire (leases and done marks alike); beyond ``max_size`` the oldest go.

    Every method runs without an ``await`` inside, so in asyncio each check-and-set is atomic.
    """

    def __init__(self, max_size: int = 100_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            raise ValueError(f"max_size must be a positive integer, got {max_size!r}")
        self.max_size = max_size
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires <= self._clock():
            del self._entries[key]
            return None
        return entry

    def _put(self, key: str, entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        now = self._clock()
        while self._entries and next(iter(self._entries.values())).expires <= now:
            self._entries.popitem(last=False)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    async def claim(self, key: str, lease: float) -> Lease | Seen:
        entry = self._live(key)
        if entry is not None:
            return Seen.DONE if entry.token is None else Seen.IN_PROGRESS
        taken = Lease(key)
        self._put(key, _Entry(self._clock() + lease, taken.token))
        return taken

    async def complete(self, lease: Lease, ttl: float) -> None:
        self._put(lease.key, _Entry(self._clock() + ttl, None))

    async def release(self, lease: Lease) -> None:
        entry = self._live(lease.key)
        if entry is not None and entry.token == lease.token:
            del self._entries[lease.key]
