"""Redis backends: one rate-limit budget and one webhook dedup store for many processes.

Install with ``pip install fintoro-api[redis]``.

- ``RedisRateLimiter`` paces every process of a company on one schedule (the
  same GCRA as the in-memory limiter, kept in Redis and advanced by a Lua
  script using Redis' own clock, so process clocks need not agree).
- ``RedisDedupStore`` claims a webhook id under a lease (atomic Lua), marks it
  done after the handler succeeded, releases it on failure.

Keys are namespaced (``<prefix>:rl:<company>:...``, ``<prefix>:wh:<id>``) and
all carry TTLs, so nothing grows without bound. When Redis cannot be reached
within ``timeout`` seconds, ``on_error`` decides: ``"open"`` logs a warning
and lets the request or delivery through (the in-process behaviour of a
single worker), ``"closed"`` raises ``RedisUnavailableError``. Never a hang.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._exceptions import RedisUnavailableError as RedisUnavailableError  # defined with every other error
from ._headers import RateLimitInfo, parse_retry_after
from ._ratelimit import DEFAULT_LIMIT, DEFAULT_SAFETY, DEFAULT_WINDOW_S, check_limit

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

# KEYS: next-slot, held-until, limit. ARGV: window_ms, default_limit, safety, ttl_ms.
# Returns milliseconds to wait before the reserved slot (0 = go now).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(redis.call('GET', KEYS[3]) or ARGV[2])
local interval = tonumber(ARGV[1]) / (limit * tonumber(ARGV[3]))
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(redis.call('GET', KEYS[2]) or '0'))
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', ARGV[4])
return math.floor(slot - now)
"""

# KEYS: held-until. ARGV: hold_ms, ttl_ms. Extends the hold; never shortens it.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
if until_ms > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], tostring(until_ms), 'PX', ARGV[2])
end
return until_ms
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
    """A ``RateLimiter`` whose schedule is shared through Redis by every process using the same key."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW_S,
        safety: float = DEFAULT_SAFETY,
        prefix: str = "fintoro",
        timeout: float = DEFAULT_TIMEOUT_S,
        on_error: FailureMode = "open",
    ) -> None:
        check_limit(limit, window, safety)
        super().__init__(client, prefix=prefix, timeout=timeout, on_error=on_error)
        self.limit, self.window, self.safety = limit, float(window), float(safety)
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._hold = self.redis.register_script(_HOLD)

    def _keys(self, key: str) -> list[str]:
        base = f"{self.prefix}:rl:{key}"
        return [f"{base}:next", f"{base}:held", f"{base}:limit"]

    @property
    def _ttl_ms(self) -> int:
        return int(self.window * 2000) + 1000

    async def acquire(self, key: str, *, max_wait: float | None = None) -> None:
        args = [int(self.window * 1000), self.limit, self.safety, self._ttl_ms]
        wait_ms = await self._call("rate limiting", self._acquire(keys=self._keys(key), args=args), 0)
        if wait_ms and int(wait_ms) > 0:
            await asyncio.sleep(int(wait_ms) / 1000)

    async def observe(self, key: str, headers: Mapping[str, str], status: int) -> None:
        info = RateLimitInfo.from_headers(headers)
        _, held, limit_key = self._keys(key)
        if info.limit is not None and info.limit > 0 and info.limit != self.limit:
            await self._call("rate limiting", self.redis.set(limit_key, info.limit, px=self._ttl_ms * 30), None)
        if status == 429:
            wait = parse_retry_after(headers.get("retry-after"))
            if wait is None and info.reset_at is not None:
                wait = max(0.0, info.reset_at.timestamp() - time.time())
            if wait:
                hold_ms = int(wait * 1000)
                await self._call("rate limiting", self._hold(keys=[held], args=[hold_ms, hold_ms + 1000]), 0)


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
