"""Client-side budget so a company's requests use Fintoro's rate limit fully and never exceed it.

Fintoro allows 120 requests per 60 s per company, shared by all its tokens
and processes. The limiter keeps a *sliding log* per company: a request goes
out at once while fewer than ``limit`` requests are in flight or were answered
in the last ``window * (1 + margin)`` seconds. An idle company so bursts its
whole budget, and a busy one sends the moment an answer leaves the window.

Each request is logged when it is *answered* (``observe``), not when it is
sent: the server counted it at some moment between the two, so a new request
sent one window after an answer can never meet that one in a server window,
whatever the network delays were. That holds for fixed windows of any phase
and for sliding windows alike; the small margin only covers clock
resolution. A request that is never answered (a transport error) counts as
answered one window after it was sent.

Responses also correct the log:

- ``X-RateLimit-Remaining`` is the truth of the server's window: when the
  server counted more requests than we have logged (other processes, other
  tokens of the company), the difference is logged as answered now;
- ``X-RateLimit-Limit`` replaces the configured limit, within sane bounds;
- a 429 holds the company for its ``Retry-After`` (or ``X-RateLimit-Reset``),
  capped at one window: no value a server sends can hold a company longer.

Never stuck: header values that are missing, non-finite or absurd are
ignored (never raised); ``acquire(max_wait=...)`` raises ``WaitTooLong`` at
once when the wait needed is longer; queued callers wait in line (FIFO) and
re-check holds before sending; a cancelled caller leaves the line without
having taken anything; idle companies are evicted. A DEBUG line on the
``fintoro_api`` logger says when and why a call waits.

``RateLimiter`` is the backend interface; ``InMemoryRateLimiter`` serves one
process, ``redis_backends.RedisRateLimiter`` many (same rules, in Lua).
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import attrs

from ._logging import logger

DEFAULT_LIMIT = 120
DEFAULT_WINDOW_S = 60.0
# Fraction of the server's limit we spend; 1.0 = all of it (the sliding log never overshoots).
DEFAULT_SAFETY = 1.0
# The log spans window * (1 + margin). Logging answer times already covers network delays;
# the margin covers timestamp resolution and clock-rate differences (0.6 s of Fintoro's 60 s).
DEFAULT_MARGIN = 0.01
# An X-RateLimit-Limit outside [limit / 10, limit * 100] is a broken header, not a new budget.
_MIN_LIMIT_FRACTION = 0.1
_MAX_LIMIT_FACTOR = 100
_DIGITS = re.compile(r"\d{1,9}")


class WaitTooLong(Exception):
    """Raised by ``acquire`` instead of sleeping when the wait needed exceeds ``max_wait``.

    Public for authors of ``RateLimiter`` backends: it is the limiter's side of the seam. Callers
    of the client never see it: the request pipeline turns it into ``RateLimitDeadlineError`` (a
    ``RateLimitError``), so it is deliberately not a FintoroError.
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


# --- reading the server's headers (never raises) ----------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    try:
        value = headers.get(name)
    except Exception:
        return None
    return value.strip() if isinstance(value, str) else None


def _count(value: str | None) -> int | None:
    """A header that must be a plain non-negative integer ("120"); anything else is ignored."""
    return int(value) if value is not None and _DIGITS.fullmatch(value) else None


def _seconds_until(value: str | None, wall_now: float) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when unusable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - wall_now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return seconds if math.isfinite(seconds) else None


@attrs.frozen
class ServerReport:
    """What one response said about the company's budget, already checked for sanity."""

    limit: int | None  # a new limit to adopt
    remaining: int | None  # requests left in the server's window (not from a 429)
    hold: float | None  # seconds to hold every request of the company (a 429 only)
    hold_source: str = ""


@attrs.frozen
class Budget:
    """The rules both limiters apply: the budget, its window, and how responses correct it."""

    limit: int
    window: float
    safety: float = DEFAULT_SAFETY
    margin: float = DEFAULT_MARGIN

    def __attrs_post_init__(self) -> None:
        limit, window, safety, margin = self.limit, self.window, self.safety, self.margin
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValueError(f"rate limit must be a positive integer, got {limit!r}")
        if not _finite(window) or window <= 0:
            raise ValueError(f"rate-limit window must be > 0 seconds, got {window!r}")
        if not _finite(safety) or not 0 < safety <= 1:
            raise ValueError(f"rate-limit safety factor must be in (0, 1], got {safety!r}")
        if not _finite(margin) or not 0 <= margin <= 1:
            raise ValueError(f"rate-limit margin must be in [0, 1] (a fraction of the window), got {margin!r}")

    @property
    def span(self) -> float:
        """Seconds a send stays in the log; also the longest a 429 can hold a company."""
        return self.window * (1 + self.margin)

    @property
    def believable_limits(self) -> tuple[int, int]:
        """The range a server's limit is adopted in; outside it, the header (or stored value) is broken."""
        return max(1, math.ceil(self.limit * _MIN_LIMIT_FRACTION)), self.limit * _MAX_LIMIT_FACTOR

    def allowance(self, limit: int) -> int:
        """How many sends the log may hold under a server limit of ``limit``."""
        return max(1, int(limit * self.safety))

    def read(self, headers: Mapping[str, str], status: int, *, wall_now: float | None = None) -> ServerReport:
        """The usable part of a response's rate-limit headers; absurd values are dropped."""
        limit = _count(_header(headers, "x-ratelimit-limit"))
        lowest, highest = self.believable_limits
        if limit is not None and not lowest <= limit <= highest:
            logger.debug("rate limit: ignoring X-RateLimit-Limit %s (configured %d)", limit, self.limit)
            limit = None
        if status != 429:
            return ServerReport(limit=limit, remaining=_count(_header(headers, "x-ratelimit-remaining")), hold=None)
        wall = time.time() if wall_now is None else wall_now
        hold, source = _seconds_until(_header(headers, "retry-after"), wall), "Retry-After"
        if hold is None:
            reset = _seconds_until(_header(headers, "x-ratelimit-reset"), 0.0)  # Unix time
            # A reset already past contradicts the 429 (a server clock behind ours): unusable, not "no hold".
            if reset is not None and reset > wall:
                hold, source = reset - wall, "X-RateLimit-Reset"
        if hold is None:
            hold, source = self.span, "a 429 with no usable Retry-After"
        # The server window frees up within one window, whatever the header says.
        return ServerReport(limit=limit, remaining=None, hold=min(max(0.0, hold), self.span), hold_source=source)

    def reason(self, limit: int, held: bool, ahead: int) -> str:
        why = "held after a 429" if held else f"{self.allowance(limit)} requests per {self.window:g} s spent"
        return f"{why}, {ahead} queued ahead" if ahead else why


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_limit(limit: int, window: float, safety: float, margin: float = DEFAULT_MARGIN) -> Budget:
    """The validated budget (ValueError naming the bad setting)."""
    return Budget(limit, window, safety, margin)


# --- one process ---------------------------------------------------------------------------------------


@attrs.define(eq=False)
class _Company:
    limit: int
    answered: deque[float] = attrs.field(factory=deque)  # answer times within the span, oldest first
    in_flight: deque[float] = attrs.field(factory=deque)  # send times of requests not answered yet
    held_until: float = 0.0
    line: deque[asyncio.Future[None]] = attrs.field(factory=deque)  # waiting callers, head first

    def expire(self, now: float, span: float) -> None:
        answered, in_flight = self.answered, self.in_flight
        while answered and answered[0] <= now - span:
            answered.popleft()
        while in_flight and in_flight[0] <= now - 2 * span:  # never answered: counted as answered at send + span
            in_flight.popleft()

    def idle(self, now: float, span: float) -> bool:
        """Nothing to remember: no caller waiting, no hold, nothing left in the log."""
        return (
            not self.line
            and self.held_until <= now
            and (not self.answered or self.answered[-1] <= now - span)
            and (not self.in_flight or self.in_flight[-1] <= now - 2 * span)
        )


class InMemoryRateLimiter:
    """Spends ``limit`` requests per ``window`` seconds per key, within one process."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW_S,
        *,
        safety: float = DEFAULT_SAFETY,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.budget = check_limit(limit, window, safety, margin)
        self._clock, self._sleep = clock, sleep
        # Least recently used first, so idle companies are evicted from the front in O(1).
        self._companies: OrderedDict[str, _Company] = OrderedDict()

    def __len__(self) -> int:
        """Companies currently tracked (idle ones are evicted)."""
        return len(self._companies)

    def _company(self, key: str, now: float) -> _Company:
        companies = self._companies
        company = companies.get(key)
        if company is None:
            company = companies[key] = _Company(limit=self.budget.limit)
        else:
            companies.move_to_end(key)
        span = self.budget.span
        while True:
            oldest = next(iter(companies))
            if oldest == key or not companies[oldest].idle(now, span):
                break
            del companies[oldest]
        company.expire(now, span)
        return company

    def _send_time(self, company: _Company, now: float, ahead: int) -> float:
        """When the send with ``ahead`` callers in line before it may go out (``now`` = at once).

        Requests in flight will be answered at ``now`` at the earliest, so they leave the log one
        span from now at the earliest: the time returned is exact or, when it depends on them, a
        lower bound the caller re-checks.
        """
        span, allowance = self.budget.span, self.budget.allowance(company.limit)
        start = max(now, company.held_until)
        answered = company.answered
        logged = len(answered) + len(company.in_flight)
        # Send number i must wait until entry number i - allowance has left the log; sends
        # that do not exist yet (callers ahead in line) go out as early as they can.
        position, rounds = logged + ahead, 0
        while position - allowance >= logged:
            position -= allowance
            rounds += 1
        earlier = position - allowance
        if earlier < 0:
            return start + rounds * span
        leaves = (answered[earlier] if earlier < len(answered) else now) + span  # in flight: answered now at best
        return max(start, leaves) + rounds * span

    async def acquire(self, key: str, *, max_wait: float | None = None) -> None:
        now = self._clock()
        company = self._company(key, now)
        ahead = len(company.line)
        send_at = self._send_time(company, now, ahead)
        if not ahead and send_at <= now:
            company.in_flight.append(now)
            return
        deadline = None if max_wait is None else now + max(0.0, max_wait)
        reason = self.budget.reason(company.limit, company.held_until > now, ahead)
        if deadline is not None and send_at > deadline:
            raise WaitTooLong(send_at - now, reason)
        logger.debug("rate limit: a request of %s waits %.2f s (%s)", key, send_at - now, reason)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        company.line.append(turn)
        try:
            while True:
                if company.line[0] is not turn:
                    await turn  # resolved when the caller ahead leaves the line
                    continue
                now = self._clock()
                company.expire(now, self.budget.span)
                send_at = self._send_time(company, now, 0)  # re-checked: a hold may have begun meanwhile
                if send_at <= now:
                    company.in_flight.append(now)
                    return
                if deadline is not None and send_at > deadline:
                    raise WaitTooLong(send_at - now, self.budget.reason(company.limit, company.held_until > now, 0))
                await self._sleep(send_at - now)
        finally:
            # Leaving the line (sent, too long or cancelled) hands the turn to the next caller;
            # nothing was logged unless the request went out, so a cancelled caller costs nothing.
            head = company.line[0] is turn
            company.line.remove(turn)
            if head and company.line and not company.line[0].done():
                company.line[0].set_result(None)

    async def observe(self, key: str, headers: Mapping[str, str], status: int) -> None:
        now = self._clock()
        company = self._company(key, now)
        if company.in_flight:  # one of ours was answered: it counts from now
            company.in_flight.popleft()
            company.answered.append(now)
        report = self.budget.read(headers, status)
        if report.limit is not None:
            company.limit = report.limit
        if report.hold is not None and now + report.hold > company.held_until:
            company.held_until = now + report.hold
            logger.debug("rate limit: %s held %.2f s after a 429 (%s)", key, report.hold, report.hold_source)
        if report.remaining is not None:
            logged = len(company.answered) + len(company.in_flight)
            company.answered.extend([now] * _unseen_sends(self.budget, company.limit, report.remaining, logged))


def _unseen_sends(budget: Budget, limit: int, remaining: int, logged: int) -> int:
    """Sends the server counted that our log lacks (other processes or tokens of the company)."""
    used = max(0, limit - remaining)
    return max(0, min(used - logged, budget.allowance(limit)))
