"""Redis backends: one rate-limit budget and one webhook dedup store for many processes.

Install with ``pip install fintoro-api[redis]``.

- ``RedisRateLimiter`` gives every process of a company one budget (the same
  sliding log as the in-memory limiter, kept in Redis and advanced by one Lua
  script using Redis' own clock, so process clocks need not agree).
- ``RedisDedupStore`` claims a webhook id under a lease (atomic Lua), marks it
  done after the handler succeeded, releases it on failure.

Keys are namespaced (``<prefix>:rl:<company>:...``, ``<prefix>:wh:<id>``) and
all carry TTLs, so nothing grows without bound. When Redis cannot be reached
within ``timeout`` seconds, ``on_error`` decides: ``"open"`` logs a warning
and lets the request or delivery through (the in-process behaviour of a
single worker), ``"closed"`` raises ``RedisUnavailableError`` (the limiter: before a send, never
after an answer). Never a hang.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._exceptions import RedisUnavailableError as RedisUnavailableError  # defined with every other error
from ._ratelimit import DEFAULT_LIMIT, DEFAULT_MARGIN, DEFAULT_SAFETY, DEFAULT_WINDOW_S, WaitTooLong, check_limit

try:
    from redis import asyncio as aioredis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("fintoro_api.redis_backends needs the redis package: pip install 'fintoro-api[redis]'") from exc

if TYPE_CHECKING:  # imported on first use, so the rate limiter alone does not load the webhooks package
    from .webhooks._dedup import Lease, Seen
    from .webhooks._redis_inbox import RedisStreamInbox as RedisStreamInbox


def __getattr__(name: str) -> Any:
    if name == "RedisStreamInbox":  # the scale-out webhook inbox, re-exported here
        from .webhooks._redis_inbox import RedisStreamInbox

        return RedisStreamInbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


logger = logging.getLogger("fintoro_api.redis")
FailureMode = Literal["open", "closed"]
DEFAULT_TIMEOUT_S = 0.5
T = TypeVar("T")

# One script for both directions, so every rule runs atomically on Redis' clock (process clocks
# need not agree). The same rules as InMemoryRateLimiter: a sliding log of answered requests.
# KEYS: 1 log (sorted set: answered requests scored by answer time in ms, requests in flight by
#       send time + span, so an unanswered one leaves two spans after it was sent), 2 hold-until (ms),
#       3 adopted limit.
# ARGV: 1 "acquire" | "observe", 2 span ms, 3 safety, 4 configured limit, 5-6 the range a limit is believed
#       in, 7 member (acquire: the new request; observe: our oldest request in flight, "" if none, and the
#       prefix of unseen sends), observe: 8 new limit (0 = none), 9 remaining (-1 = none), 10 hold ms
#       (-1 = none), 11 limit TTL ms.
# Returns {ms to wait (0 = logged, go), why}. A wait that depends on a request still in flight is a
# lower bound (it leaves one span after its answer, which is not before now): the caller re-checks.
# Stored state is checked like a header: this script never writes a score or a hold more than one span
# ahead, so later ones (an older client's hold, a Redis clock that stepped back) are dropped or capped.
_BUDGET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local span = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + span), '+inf')
local held = tonumber(redis.call('GET', KEYS[2]) or '0') or 0  -- garbled: no hold
local limit = tonumber(ARGV[4])
local stored = tonumber(redis.call('GET', KEYS[3]) or '')
if stored and stored >= tonumber(ARGV[5]) and stored <= tonumber(ARGV[6]) then limit = stored end
if ARGV[1] == 'acquire' then
  if held > now + span then
    held = now + span
    redis.call('SET', KEYS[2], held, 'PX', span)
  end
  if held > now then return {held - now, 'hold'} end
  local allowance = math.max(1, math.floor(limit * tonumber(ARGV[3])))
  local logged = redis.call('ZCARD', KEYS[1])
  if logged < allowance then
    redis.call('ZADD', KEYS[1], now + span, ARGV[7])
    redis.call('PEXPIRE', KEYS[1], 2 * span)
    return {0, 'sent'}
  end
  local entry = redis.call('ZRANGE', KEYS[1], logged - allowance, logged - allowance, 'WITHSCORES')
  return {math.max(1, math.min(tonumber(entry[2]), now) + span - now), 'budget'}
end
if ARGV[7] ~= '' and redis.call('ZADD', KEYS[1], 'XX', 'CH', now, ARGV[7]) > 0 then
  redis.call('PEXPIRE', KEYS[1], 2 * span)  -- the answer counts for a span from now, however slow it was
end
if tonumber(ARGV[8]) > 0 then
  limit = tonumber(ARGV[8])
  redis.call('SET', KEYS[3], ARGV[8], 'PX', ARGV[11])
end
local hold = tonumber(ARGV[10])
if hold >= 0 then
  local until_ms = now + hold
  if until_ms > held then
    redis.call('SET', KEYS[2], until_ms, 'PX', math.max(1, hold))
  end
end
local remaining = tonumber(ARGV[9])
if remaining >= 0 then
  local allowance = math.max(1, math.floor(limit * tonumber(ARGV[3])))
  local unseen = math.min(limit - remaining - redis.call('ZCARD', KEYS[1]), allowance)
  for i = 1, unseen do
    redis.call('ZADD', KEYS[1], now, ARGV[7] .. ':unseen:' .. i)
  end
  if unseen > 0 then redis.call('PEXPIRE', KEYS[1], 2 * span) end
end
return {0, 'observed'}
"""


class _RedisBackend:
    def __init__(self, client: aioredis.Redis, *, prefix: str, timeout: float, on_error: FailureMode) -> None:
        if on_error not in ("open", "closed"):
            raise ValueError(f"on_error must be 'open' or 'closed', got {on_error!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.redis = client
        self.prefix = prefix
        self.timeout = timeout
        self.on_error = on_error
        self._warned = 0.0

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Any:
        """Connect lazily to ``url`` (``redis://127.0.0.1:6379/0``) with bounded socket timeouts."""
        timeout = float(kwargs.get("timeout", DEFAULT_TIMEOUT_S))
        client = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        return cls(client, **kwargs)

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def _call(self, what: str, operation: Awaitable[T], fallback: T) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await operation
        except (RedisError, OSError, TimeoutError) as exc:
            if self.on_error == "closed":
                raise RedisUnavailableError(f"Redis unavailable for {what}: {type(exc).__name__}") from exc
            if time.monotonic() - self._warned > 60:  # one warning a minute, not one per request
                self._warned = time.monotonic()
                logger.warning("Redis unavailable for %s (%s); failing open", what, type(exc).__name__)
            return fallback


class RedisRateLimiter(_RedisBackend):
    """A ``RateLimiter`` whose budget is shared through Redis by every process using the same key.

    The same rules as ``InMemoryRateLimiter`` (see ``fintoro_api._ratelimit``): a sliding log of
    send times per company, corrected by the server's headers, holds capped at one window and
    written with that TTL, idle companies expiring with their keys. Waiting callers poll the log
    when the next slot frees up, so they re-check holds before sending and a cancelled caller
    never took a slot (one cancelled while its script ran takes the slot it may have logged back).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW_S,
        safety: float = DEFAULT_SAFETY,
        margin: float = DEFAULT_MARGIN,
        prefix: str = "fintoro",
        timeout: float = DEFAULT_TIMEOUT_S,
        on_error: FailureMode = "open",
    ) -> None:
        self.budget = check_limit(limit, window, safety, margin)
        super().__init__(client, prefix=prefix, timeout=timeout, on_error=on_error)
        self._script = self.redis.register_script(_BUDGET)
        self._member = f"{uuid.uuid4().hex}:"
        self._sends = itertools.count()
        # Our requests in flight per key (member, send time), oldest first: an answer converts one.
        # Least recently sent-to key first, so keys whose requests were never answered are dropped in O(1).
        self._in_flight: OrderedDict[str, deque[tuple[str, float]]] = OrderedDict()

    def _keys(self, key: str) -> list[str]:
        base = f"{self.prefix}:rl:{key}"
        return [f"{base}:log", f"{base}:held", f"{base}:limit"]

    async def _run(self, key: str, mode: str, member: str, *extra: int) -> tuple[int, str]:
        budget = self.budget
        span_ms, (lowest, highest) = math.ceil(budget.span * 1000), budget.believable_limits
        args: list[str | int | float] = [mode, span_ms, budget.safety, budget.limit, lowest, highest, member]
        args.extend(extra)
        result = await self._call("rate limiting", self._script(keys=self._keys(key), args=args), None)
        if result is None:  # failing open
            return 0, "sent"
        wait_ms, why = result
        return int(wait_ms), why.decode() if isinstance(why, bytes) else str(why)

    async def acquire(self, key: str, *, max_wait: float | None = None) -> None:
        deadline = None if max_wait is None else time.monotonic() + max(0.0, max_wait)
        while True:
            member = f"{self._member}{next(self._sends)}"
            try:
                wait_ms, why = await self._run(key, "acquire", member)
            except asyncio.CancelledError:
                # The script may have logged this send before the cancellation reached us: give it back.
                await asyncio.shield(self._give_back(key, member))
                raise
            if wait_ms <= 0:
                self._sent(key, member)
                return
            wait = wait_ms / 1000
            reason = self.budget.reason(self.budget.limit, why == "hold", 0)
            if deadline is not None and time.monotonic() + wait > deadline:
                raise WaitTooLong(wait, reason)
            logger.debug("rate limit: a request of %s waits %.2f s (%s)", key, wait, reason)
            await asyncio.sleep(wait)

    async def _give_back(self, key: str, member: str) -> None:
        log = self._keys(key)[0]
        await self._call("rate limiting", self.redis.zrem(log, member), 0)

    def _sent(self, key: str, member: str) -> None:
        now, flights = time.monotonic(), self._in_flight
        flights.setdefault(key, deque()).append((member, now))
        flights.move_to_end(key)
        # Requests never answered (cancelled, transport errors) of keys with no later answer: Redis dropped
        # them two spans after they were sent, and so do we, or memory grows with every company ever seen.
        while (oldest := next(iter(flights))) != key and flights[oldest][-1][1] <= now - 2 * self.budget.span:
            del flights[oldest]

    def _answered(self, key: str) -> str:
        """Our oldest request in flight for ``key`` (now answered), or "" when none is left."""
        in_flight = self._in_flight.get(key)
        too_old = time.monotonic() - 2 * self.budget.span  # Redis dropped it already
        while in_flight and in_flight[0][1] <= too_old:
            in_flight.popleft()
        if not in_flight:
            self._in_flight.pop(key, None)
            return ""
        member = in_flight.popleft()[0]
        if not in_flight:
            del self._in_flight[key]
        return member

    async def observe(self, key: str, headers: Mapping[str, str], status: int) -> None:
        report = self.budget.read(headers, status)
        hold_ms = -1 if report.hold is None else math.ceil(report.hold * 1000)
        remaining = -1 if report.remaining is None else report.remaining
        limit_ttl_ms = math.ceil(self.budget.span * 1000) * 30  # re-learnt from every response
        member = self._answered(key) or f"{self._member}{next(self._sends)}"
        try:
            await self._run(key, "observe", member, report.limit or 0, remaining, hold_ms, limit_ttl_ms)
        except RedisUnavailableError:
            # Failing closed refuses to *send* (acquire); this request was sent and answered, and raising
            # now would lose its answer (for a create, inviting a duplicate on retry). Its entry in the
            # log stays as sent, so it still counts (until two spans after the send).
            logger.warning("Redis unavailable to record an answer; the request itself succeeded")


class RedisDedupStore(_RedisBackend):
    """A two-phase webhook ``DedupStore`` shared by every receiver replica.

    ``<prefix>:wh:<id>`` holds the lease token while an attempt runs (``PX`` =
    the lease, so a crashed replica's claim expires) and ``done`` afterwards
    (``PX`` = the dedup TTL). Claim and release are Lua scripts: atomic
    check-and-set and compare-and-delete.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "fintoro",
        timeout: float = DEFAULT_TIMEOUT_S,
        on_error: FailureMode = "closed",
    ) -> None:
        super().__init__(client, prefix=prefix, timeout=timeout, on_error=on_error)
        self._claim = self.redis.register_script(_CLAIM)
        self._release = self.redis.register_script(_RELEASE)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:wh:{key}"

    async def claim(self, key: str, lease: float) -> Lease | Seen:
        from .webhooks._dedup import Lease, Seen

        taken = Lease(key)
        # Failing open means "process it": a possible duplicate beats a lost event.
        found = await self._call(
            "webhook deduplication", self._claim(keys=[self._key(key)], args=[taken.token, _ms(lease)]), 1
        )
        return taken if int(found) == 1 else Seen.DONE if int(found) == 0 else Seen.IN_PROGRESS

    async def complete(self, lease: Lease, ttl: float) -> None:
        await self._call("webhook deduplication", self.redis.set(self._key(lease.key), _DONE, px=_ms(ttl)), None)

    async def release(self, lease: Lease) -> None:
        await self._call("webhook deduplication", self._release(keys=[self._key(lease.key)], args=[lease.token]), 0)

    async def mark_if_new(self, key: str, ttl: float) -> bool:
        """One-phase form (claim for ``ttl``, never completed): True only for the first caller."""
        from .webhooks._dedup import Lease

        return isinstance(await self.claim(key, ttl), Lease)

    async def forget(self, key: str) -> None:
        """Drop ``key`` whatever its state."""
        await self._call("webhook deduplication", self.redis.delete(self._key(key)), 0)


def _ms(seconds: float) -> int:
    if not 0 < seconds < 30 * 24 * 3600:  # every key carries a bounded TTL
        raise ValueError(f"a lease or TTL must be between 0 and 30 days, got {seconds!r} s")
    return max(1, int(seconds * 1000))


_DONE = b"done"
# KEYS: the id's key. ARGV: lease token, lease_ms. 1 = claimed, 0 = done, -1 = in progress elsewhere.
_CLAIM = """
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if held == 'done' then return 0 end
return -1
"""
# KEYS: the id's key. ARGV: lease token. Deletes only a claim still held by that token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
