"""Client-side pacing so a company's requests stay inside Fintoro's budget.

Fintoro allows 120 requests per 60 s per company, shared by all its tokens,
and counts them in fixed windows. Bursting into that budget risks 429s at
window edges, so requests are *paced*: each acquire reserves the next free
slot of an evenly spaced schedule (a GCRA / virtual-scheduling limiter) at a
little under the allowed rate. Response headers correct the schedule: a
different ``X-RateLimit-Limit`` replaces the configured limit, and a 429
holds every request of that company until its ``Retry-After`` passes.

``RateLimiter`` is the backend interface; ``InMemoryRateLimiter`` serves one
process. A shared store (Redis) implements the same two methods.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import attrs

from ._headers import RateLimitInfo, parse_retry_after

DEFAULT_LIMIT = 120
DEFAULT_WINDOW_S = 60.0
# Pace at 95% of the allowed rate: network jitter can bunch evenly sent requests
# into one server window; the margin absorbs it.
DEFAULT_SAFETY = 0.95


class WaitTooLong(Exception):
    """Raised by ``acquire`` instead of sleeping when the wait needed exceeds ``max_wait``.

    The request pipeline turns it into the public ``RateLimitError``; it is not a FintoroError.
    """

    def __init__(self, wait: float, reason: str) -> None:
        super().__init__(f"rate-limit wait of {wait:.3f} s ({reason}) exceeds what the call has left")
        self.wait = wait
        self.reason = reason


class RateLimiter(Protocol):
    """Where a request waits for its turn; keyed by company."""

    async def acquire(self, key: str, *, max_wait: float | None = None) -> None:
        """Return when a request for ``key`` may be sent.

        Raises ``WaitTooLong`` at once (without waiting) when the wait needed exceeds
        ``max_wait`` seconds. A cancelled ``acquire`` gives its capacity back.
        """

    async def observe(self, key: str, headers: Mapping[str, str], status: int) -> None:
        """Learn from a response's rate-limit headers (and a 429)."""


class NoRateLimit:
    """Sends at once; for tests or callers that pace themselves."""

    async def acquire(self, key: str, *, max_wait: float | None = None) -> None:
        return None

    async def observe(self, key: str, headers: Mapping[str, str], status: int) -> None:
        return None


def check_limit(limit: int, window: float, safety: float) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"rate limit must be a positive integer, got {limit!r}")
    if not isinstance(window, int | float) or window <= 0:
        raise ValueError(f"rate-limit window must be > 0 seconds, got {window!r}")
    if not isinstance(safety, int | float) or not 0 < safety <= 1:
        raise ValueError(f"rate-limit safety factor must be in (0, 1], got {safety!r}")


@attrs.define
class _Schedule:
    limit: int
    next_slot: float = 0.0
    held_until: float = 0.0


class InMemoryRateLimiter:
    """Paces requests per key at ``limit`` per ``window`` seconds (times ``safety``), within one process."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW_S,
        *,
        safety: float = DEFAULT_SAFETY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        check_limit(limit, window, safety)
        self.limit, self.window, self.safety = limit, float(window), float(safety)
        self._clock, self._sleep = clock, sleep
        self._schedules: dict[str, _Schedule] = {}

    def _schedule(self, key: str) -> _Schedule:
        schedule = self._schedules.get(key)
        if schedule is None:
            schedule = self._schedules[key] = _Schedule(limit=self.limit)
        return schedule

    def interval(self, key: str) -> float:
        """Seconds between two requests of ``key``."""
        return self.window / (self._schedule(key).limit * self.safety)

    async def acquire(self, key: str, *, max_wait: float | None = None) -> None:
        schedule = self._schedule(key)
        now = self._clock()
        # Reserve the slot before sleeping: concurrent callers queue behind it.
        slot = max(now, schedule.next_slot, schedule.held_until)
        schedule.next_slot = slot + self.interval(key)
        if slot > now:
            await self._sleep(slot - now)

    async def observe(self, key: str, headers: Mapping[str, str], status: int) -> None:
        schedule = self._schedule(key)
        info = RateLimitInfo.from_headers(headers)
        if info.limit is not None and info.limit > 0 and info.limit != schedule.limit:
            schedule.limit = info.limit
        if status == 429:
            wait = parse_retry_after(headers.get("retry-after"))
            if wait is None and info.reset_at is not None:
                wait = max(0.0, info.reset_at.timestamp() - time.time())
            if wait is not None:
                schedule.held_until = max(schedule.held_until, self._clock() + wait)
