"""The scale-out inbox: a Redis Stream with a consumer group, for many receiver replicas and workers.

Keys (``<prefix>:inbox:...``):

- ``stream``: due entries (``XADD``); the group ``workers`` hands each to one
  worker (``XREADGROUP``); a worker's claim is its pending entry, and an entry
  idle longer than the claiming worker's lease (its worker died) is taken over
  (``XAUTOCLAIM``), so give every worker the same lease.
- ``seen:<id>``: set with the append (``SET NX PX``, the dedup window), so a
  redelivery is not appended twice.
- ``attempts``: attempts started per id (a crash counts too).
- ``retry`` + ``delayed``: failed entries waiting for their backoff (a sorted
  set by due time, and their bodies); moved back to the stream when due.
- ``errors``: the last error per id; ``dead``: a stream of dead letters;
  ``done``: a counter.

Every change of state is one Lua script, so a crash between two commands
cannot lose or duplicate an entry. Only the ``seen`` keys carry TTLs; the
other keys hold live entries only (done entries are deleted).

Durability is Redis' own: run it with ``appendonly yes`` (``appendfsync
always`` for "2xx means on disk", ``everysec`` to risk one second on a power
cut). Without persistence a Redis restart loses the pending entries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis import asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from .._exceptions import InboxError
from ._dedup import DEFAULT_TTL_S
from ._group_commit import GroupCommit
from ._inbox import DeadLetter, InboxEntry, InboxStats, check_appendable, event_of

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 2.0
_GROUP = "workers"

# KEYS: seen, stream. ARGV: id, body, seen_ttl_ms.
_APPEND = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'body', ARGV[2])
  return 1
end
return 0
"""
# KEYS: retry, delayed, stream. ARGV: max. Moves due retries back into the stream.
_PROMOTE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(due) do
  redis.call('XADD', KEYS[3], '*', 'id', id, 'body', redis.call('HGET', KEYS[2], id))
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return #due
"""
# The owner check every settling script starts with: the entry is still pending for this consumer.
_OWNED = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
"""
# Takes the entry out of the stream and the group's pending list (KEYS[1] = stream, ARGV[1..2] = group, entry).
_REMOVE = """
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
"""
# KEYS: stream, attempts, done, errors. ARGV: group, entry, consumer, id.
_COMPLETE = (
    _REMOVE
    + """
redis.call('HDEL', KEYS[2], ARGV[4])
redis.call('HDEL', KEYS[4], ARGV[4])
if acked == 1 then redis.call('INCR', KEYS[3]) end  -- once, even if a lost reply makes the worker repeat this
return 1
"""
)
# KEYS: stream, retry, delayed, errors. ARGV: group, entry, consumer, id, body, delay_ms, error.
_RETRY = (
    _OWNED
    + _REMOVE
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[4])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[7])
return 1
"""
)
# KEYS: stream, attempts, dead, errors. ARGV: group, entry, consumer, id, body, attempts, error.
_DEAD = (
    _OWNED
    + _REMOVE
    + """
redis.call('HDEL', KEYS[2], ARGV[4])
redis.call('HDEL', KEYS[4], ARGV[4])
redis.call('XADD', KEYS[3], '*', 'id', ARGV[4], 'body', ARGV[5], 'attempts', ARGV[6], 'error', ARGV[7])
return 1
"""
)
# KEYS: stream, attempts. ARGV: group, entry, consumer, id, body. Due again now; the attempt is not counted.
_RELEASE = (
    _OWNED
    + _REMOVE
    + """
redis.call('HINCRBY', KEYS[2], ARGV[4], -1)
redis.call('XADD', KEYS[1], '*', 'id', ARGV[4], 'body', ARGV[5])
return 1
"""
)
# KEYS: dead, stream, attempts. Every dead letter goes back to the stream with a fresh budget.
_REQUEUE = """
local dead = redis.call('XRANGE', KEYS[1], '-', '+')
for _, entry in ipairs(dead) do
  local f = {}
  for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
  redis.call('XADD', KEYS[2], '*', 'id', f['id'], 'body', f['body'])
  redis.call('HDEL', KEYS[3], f['id'])
end
redis.call('DEL', KEYS[1])
return #dead
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fields(raw: Any) -> dict[str, bytes]:
    return {_text(key): value for key, value in raw.items()}


class RedisStreamInbox:
    """An ``Inbox`` on Redis Streams: any number of receiver replicas append, any number of workers claim."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "fintoro",
        retain_done: float = DEFAULT_TTL_S,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if timeout <= 0 or retain_done <= 0:
            raise ValueError("timeout and retain_done must be > 0 seconds")
        self.redis = client
        self.prefix = prefix
        self.timeout = timeout
        self._retain_ms = int(retain_done * 1000)
        base = f"{prefix}:inbox"
        self._stream, self._attempts, self._retry = f"{base}:stream", f"{base}:attempts", f"{base}:retry"
        self._delayed, self._errors, self._dead, self._done = (
            f"{base}:delayed",
            f"{base}:errors",
            f"{base}:dead",
            f"{base}:done",
        )
        self._seen = f"{base}:seen:"
        self._scripts = {
            name: client.register_script(source)
            for name, source in {
                "append": _APPEND,
                "promote": _PROMOTE,
                "complete": _COMPLETE,
                "retry": _RETRY,
                "dead": _DEAD,
                "release": _RELEASE,
                "requeue": _REQUEUE,
            }.items()
        }
        self._group_ready = False
        self._cursor = "0-0"
        self._pipelined: GroupCommit[tuple[str, list[str], list[Any]], Any] = GroupCommit(self._script_batch)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisStreamInbox:
        """Connect lazily to ``url`` with bounded socket timeouts."""
        timeout = float(kwargs.get("timeout", DEFAULT_TIMEOUT_S))
        client = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, **kwargs)

    def __repr__(self) -> str:
        return f"RedisStreamInbox(prefix={self.prefix!r})"

    async def _call(self, what: str, operation: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await operation
        except (RedisError, OSError, TimeoutError) as exc:
            raise InboxError(f"Redis unavailable for the webhook inbox ({what}): {type(exc).__name__}") from exc

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of the Lua scripts, in the next pipeline with every other script call waiting for one."""
        return await self._pipelined.submit((name, keys, args))

    async def _script_batch(self, calls: list[tuple[str, list[str], list[Any]]]) -> list[Any]:
        # One round trip for many receivers' appends or workers' outcomes; each script stays atomic on its own.
        # ``async with``: a pipeline cut off by the timeout gives its connection back.
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, keys, args in calls:
                await self._scripts[name](keys, args, pipe)
            results = await self._call("scripts", pipe.execute(raise_on_error=False))
        return [_refused(result) if isinstance(result, Exception) else result for result in results]

    # --- receiver side ---------------------------------------------------------------------
    async def append(self, event_id: str, body: bytes) -> bool:
        check_appendable(event_id, body)
        added = await self._script("append", [self._seen + event_id, self._stream], [event_id, body, self._retain_ms])
        return bool(added)

    # --- worker side -----------------------------------------------------------------------
    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._call("create group", self.redis.xgroup_create(self._stream, _GROUP, id="0", mkstream=True))
        except InboxError as exc:
            if not (isinstance(exc.__cause__, ResponseError) and "BUSYGROUP" in str(exc.__cause__)):
                raise
        self._group_ready = True

    async def claim(self, consumer: str, lease: float, limit: int) -> list[InboxEntry]:
        await self._ensure_group()
        try:
            return await self._claim(consumer, lease, limit)
        except InboxError as exc:
            if isinstance(exc.__cause__, ResponseError) and "NOGROUP" in str(exc.__cause__):
                self._group_ready = False  # Redis lost its data (no persistence): recreate the group next time
            raise

    async def _claim(self, consumer: str, lease: float, limit: int) -> list[InboxEntry]:
        await self._script("promote", [self._retry, self._delayed, self._stream], [limit])
        # Entries whose worker died (idle past the lease) first, then new ones. The scan resumes where the
        # last one stopped, so stale entries deep in a long pending list are reached too.
        cursor, raw, *_ = await self._call(
            "claim",
            self.redis.xautoclaim(self._stream, _GROUP, consumer, int(lease * 1000), self._cursor, count=limit),
        )
        self._cursor = _text(cursor)
        entries = [(entry_id, fields) for entry_id, fields in raw if fields]
        if len(entries) < limit:
            read = await self._call(
                "read",
                self.redis.xreadgroup(_GROUP, consumer, {self._stream: ">"}, count=limit - len(entries)),
            )
            for _, stream_entries in read or []:
                entries.extend(stream_entries)
        if not entries:
            return []
        found = [(_text(entry_id), _fields(raw_fields)) for entry_id, raw_fields in entries]
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, fields in found:
                pipe.hincrby(self._attempts, _text(fields["id"]), 1)
            attempts = await self._call("count attempts", pipe.execute())
        return [
            InboxEntry(event_of(fields["body"]), int(attempt), f"{consumer} {entry_id}", fields["body"])
            for (entry_id, fields), attempt in zip(found, attempts, strict=True)
        ]

    def _owner_args(self, entry: InboxEntry) -> list[Any]:
        consumer, entry_id = entry.token.rsplit(" ", 1)
        return [_GROUP, entry_id, consumer, entry.event.id]

    async def complete(self, entry: InboxEntry) -> None:
        # Done even if another worker took the entry over meanwhile: the handler did succeed.
        keys = [self._stream, self._attempts, self._done, self._errors]
        await self._script("complete", keys, self._owner_args(entry))

    async def retry(self, entry: InboxEntry, delay: float, error: str) -> None:
        keys = [self._stream, self._retry, self._delayed, self._errors]
        args = [*self._owner_args(entry), entry.body, int(delay * 1000), error]
        await self._script("retry", keys, args)

    async def dead_letter(self, entry: InboxEntry, error: str) -> None:
        keys = [self._stream, self._attempts, self._dead, self._errors]
        args = [*self._owner_args(entry), entry.body, entry.attempt, error]
        await self._script("dead", keys, args)

    async def release(self, entry: InboxEntry) -> None:
        await self._script("release", [self._stream, self._attempts], [*self._owner_args(entry), entry.body])

    # --- visibility ------------------------------------------------------------------------
    async def stats(self) -> InboxStats:
        await self._ensure_group()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xlen(self._stream)
            pipe.xpending(self._stream, _GROUP)
            pipe.zcard(self._retry)
            pipe.xlen(self._dead)
            pipe.get(self._done)
            stream_len, pending, retrying, dead, done = await self._call("stats", pipe.execute())
        running = int(pending["pending"])
        return InboxStats(
            pending=int(stream_len) - running + int(retrying), running=running, dead=int(dead), done=int(done or 0)
        )

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        raw = await self._call("dead letters", self.redis.xrange(self._dead, count=limit))
        letters = []
        for _, raw_fields in raw:
            fields = _fields(raw_fields)
            letters.append(DeadLetter(event_of(fields["body"]), int(fields["attempts"]), fields["error"].decode()))
        return letters

    async def requeue_dead(self) -> int:
        return int(await self._script("requeue", [self._dead, self._stream, self._attempts], []))

    async def aclose(self) -> None:
        await self._pipelined.idle()
        await self.redis.aclose()


def _refused(error: Exception) -> InboxError:
    return InboxError(f"Redis refused a webhook inbox script: {type(error).__name__}: {error}")
