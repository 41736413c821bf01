"""Issue: scale-out. One rate-limit budget and one dedup store shared by processes, through a real redis-server."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import asyncio as aioredis

from fintoro_api import FintoroClient
from fintoro_api._ratelimit import WaitTooLong
from fintoro_api.redis_backends import RedisDedupStore, RedisRateLimiter, RedisUnavailableError
from fintoro_api.webhooks import sign, webhook_app
from tools.ports import free_loopback_port

from .conftest import ROOT
from .support.asgi import serve
from .support.budget_servers import WindowedBudget
from .support.redis_server import RedisServer, redis_server

SECRET = "whsec_scaleout_SECRET"
WORKERS, CALLS_PER_WORKER, LIMIT = 4, 50, 40


@pytest.fixture
def redis(tmp_path: Path) -> Any:
    with redis_server(tmp_path) as server:
        yield server


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("sliding", [False, True], ids=["fixed-window", "sliding-window"])
async def test_four_workers_share_one_company_budget(redis: RedisServer, sliding: bool) -> None:
    server = WindowedBudget(limit=LIMIT, window=1.0, sliding=sliding)
    async with serve(server) as api_url:
        started = time.monotonic()
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.support.scaleout_worker",
                api_url,
                redis.url,
                str(CALLS_PER_WORKER),
                str(LIMIT),
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
                env=_env(),
            )
            for _ in range(WORKERS)
        ]
        outputs = [json.loads((await asyncio.wait_for(w.communicate(), timeout=120))[0]) for w in workers]
        elapsed = time.monotonic() - started
    total = WORKERS * CALLS_PER_WORKER
    print(
        f"\n{WORKERS} processes, {total} calls, server limit {LIMIT}/s: {server.throttled} x 429 in {elapsed:.1f} s "
        "(with process start-up)"
    )
    assert server.throttled == 0 and server.ok == total
    assert sum(o["ok"] for o in outputs) == total


async def test_two_replicas_handle_each_of_1000_double_deliveries_once(redis: RedisServer) -> None:
    ports = []
    replicas = []
    for name in ("a", "b"):
        ports.append(free_loopback_port())
        replicas.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.support.redis_receiver:app_factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports[-1]),
                "--log-level",
                "warning",
                cwd=ROOT,
                env={**_env(), "REDIS_URL": redis.url, "WEBHOOK_SECRET": SECRET, "REPLICA": name},
            )
        )
    try:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=40)) as http:
            deadline = time.monotonic() + 20
            for port in ports:
                while True:
                    try:
                        await http.get(f"http://127.0.0.1:{port}/")
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline, "a receiver did not start"
                        await asyncio.sleep(0.1)
            pairs = asyncio.Semaphore(20)

            async def deliver_to_both(body: bytes) -> list[int]:
                headers = sign(body, SECRET)
                async with pairs:
                    responses = await asyncio.gather(
                        *(http.post(f"http://127.0.0.1:{port}/", content=body, headers=headers) for port in ports)
                    )
                    for _ in range(100):  # 409: the other replica is still on it; Fintoro delivers again later
                        if all(r.status_code != 409 for r in responses):
                            break
                        await asyncio.sleep(0.01)
                        responses = [
                            r if r.status_code != 409 else await http.post(str(r.url), content=body, headers=headers)
                            for r in responses
                        ]
                return [r.status_code for r in responses]

            ids = [str(uuid.uuid4()) for _ in range(1000)]
            bodies = [
                json.dumps(
                    {
                        "id": i,
                        "type": "invoices.paid",
                        "occurredAt": "2026-03-29T18:20:00Z",
                        "resource": {"type": "invoice", "id": 1},
                    }
                ).encode()
                for i in ids
            ]
            statuses = [s for pair in await asyncio.gather(*(deliver_to_both(b) for b in bodies)) for s in pair]
    finally:
        for replica in replicas:
            replica.terminate()
            await replica.wait()
    assert statuses == [204] * 2000
    client = aioredis.Redis.from_url(redis.url)
    handled = [item.decode() for item in await client.lrange("test:handled", 0, -1)]
    await client.aclose()
    handled_ids = [entry.split(":", 1)[1] for entry in handled]
    assert sorted(handled_ids) == sorted(ids), "every webhook-id handled exactly once across both replicas"
    replicas_used = {entry.split(":", 1)[0] for entry in handled}
    print(
        f"\n2 replicas, 1000 events delivered twice: handled {len(handled)} times; by replicas {sorted(replicas_used)}"
    )


async def test_redis_stopped_mid_run_follows_the_failure_mode(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    closed = RedisRateLimiter.from_url(redis.url, limit=100, window=1.0, timeout=0.3, on_error="closed")
    opened = RedisRateLimiter.from_url(redis.url, limit=100, window=1.0, timeout=0.3, on_error="open")
    store = RedisDedupStore.from_url(redis.url, timeout=0.3)  # fails closed by default
    await closed.acquire("acme")
    await opened.acquire("acme")
    assert await store.mark_if_new("evt-1", ttl=60) and not await store.mark_if_new("evt-1", ttl=60)

    redis.stop()
    caplog.set_level(logging.WARNING, logger="fintoro_api.redis")
    async with asyncio.timeout(30):  # a hang guard, not a timing assertion: each call gives up after 0.3 s
        with pytest.raises(RedisUnavailableError):
            await closed.acquire("acme")
        await opened.acquire("acme")  # fails open: the request goes ahead
        with pytest.raises(RedisUnavailableError):
            await store.mark_if_new("evt-2", ttl=60)
    assert "failing open" in caplog.text

    receiver = webhook_app(SECRET, _never_called, store=store)
    body = json.dumps(
        {
            "id": "evt-3",
            "type": "invoices.paid",
            "occurredAt": "2026-03-29T18:20:00Z",
            "resource": {"type": "invoice", "id": 1},
        }
    ).encode()
    async with serve(receiver) as url, httpx.AsyncClient() as http:
        response = await http.post(url, content=body, headers=sign(body, SECRET))
    assert response.status_code == 503, "Fintoro will retry once Redis is back"
    for backend in (closed, opened, store):
        await backend.aclose()


async def _never_called(event: Any) -> None:
    raise AssertionError("the handler must not run without deduplication")


async def test_keys_are_namespaced_and_expire(redis: RedisServer) -> None:
    limiter = RedisRateLimiter.from_url(redis.url, limit=120, window=60.0, prefix="acme-sync")
    store = RedisDedupStore.from_url(redis.url, prefix="acme-sync")
    await limiter.acquire("company:Acme")
    await store.mark_if_new("evt-9", ttl=30)
    client = aioredis.Redis.from_url(redis.url)
    keys = sorted(k.decode() for k in await client.keys("*"))
    ttls = [await client.pttl(k) for k in keys]
    await client.aclose()
    assert keys == ["acme-sync:rl:company:Acme:log", "acme-sync:wh:evt-9"]
    assert all(0 < ttl <= 121_200 for ttl in ttls), ttls  # two windows (+1% margin) at most
    await limiter.aclose()
    await store.aclose()


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="on_error"):
        RedisDedupStore.from_url("redis://127.0.0.1:1/0", on_error="maybe")
    with pytest.raises(ValueError, match="positive integer"):
        RedisRateLimiter.from_url("redis://127.0.0.1:1/0", limit=0)


# --- the rate budget in Redis: the same "burst", "ignored" and "never stuck" cases as tests/test_ratelimit.py ---


async def _redis_limiter(redis: RedisServer, **kwargs: Any) -> tuple[RedisRateLimiter, aioredis.Redis]:
    return RedisRateLimiter.from_url(redis.url, **kwargs), aioredis.Redis.from_url(redis.url)


async def test_redis_an_idle_company_bursts_and_then_raises_instead_of_waiting(redis: RedisServer) -> None:
    limiter, client = await _redis_limiter(redis, limit=10, window=60.0)
    for _ in range(10):
        await limiter.acquire("acme", max_wait=0)  # would raise if any of them had to wait
    with pytest.raises(WaitTooLong, match="10 requests per 60 s spent") as caught:
        await limiter.acquire("acme", max_wait=5)
    assert 60 < caught.value.wait <= 60.6
    assert await client.zcard("fintoro:rl:acme:log") == 10, "the refused call took no slot"
    await limiter.aclose()
    await client.aclose()


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "3600"},
        {"retry-after": "inf"},
        {"retry-after": "nan"},
        {"retry-after": "1e308"},
        {"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"},
        {"x-ratelimit-reset": str(int(time.time()) + 3600)},
        {"x-ratelimit-reset": "1000000000000"},
        {},
    ],
)
async def test_redis_a_429_hold_is_capped_and_written_with_a_capped_ttl(
    redis: RedisServer, headers: dict[str, str]
) -> None:
    limiter, client = await _redis_limiter(redis, limit=10, window=60.0)
    await limiter.observe("acme", headers, 429)  # never raises (inf and 1e308 used to raise OverflowError)
    ttl = await client.pttl("fintoro:rl:acme:held")
    assert 0 < ttl <= 60_600, f"hold TTL {ttl} ms: at most one window plus margin"
    with pytest.raises(WaitTooLong, match="held after a 429") as caught:
        await limiter.acquire("acme", max_wait=1)
    assert caught.value.wait <= 60.6
    await limiter.aclose()
    await client.aclose()


async def test_redis_remaining_counts_other_clients_and_absurd_limits_are_ignored(redis: RedisServer) -> None:
    limiter, client = await _redis_limiter(redis, limit=20, window=60.0)
    await limiter.observe("acme", {"x-ratelimit-limit": "1", "x-ratelimit-remaining": "nan"}, 200)
    assert await client.get("fintoro:rl:acme:limit") is None, "a limit of 1 against 20 configured is ignored"
    await limiter.acquire("acme", max_wait=0)
    await limiter.observe("acme", {"x-ratelimit-limit": "20", "x-ratelimit-remaining": "14"}, 200)
    assert await client.zcard("fintoro:rl:acme:log") == 6, "five sends of other clients logged beside ours"
    for _ in range(14):
        await limiter.acquire("acme", max_wait=0)
    with pytest.raises(WaitTooLong):
        await limiter.acquire("acme", max_wait=5)
    await limiter.aclose()
    await client.aclose()


async def test_redis_waiters_recheck_a_hold_and_a_cancelled_waiter_takes_nothing(redis: RedisServer) -> None:
    limiter, client = await _redis_limiter(redis, limit=2, window=1.0)
    await limiter.acquire("acme")
    await limiter.acquire("acme")
    waiters = [asyncio.create_task(limiter.acquire("acme")) for _ in range(3)]
    cancelled = asyncio.create_task(limiter.acquire("acme"))
    await asyncio.sleep(0.1)
    cancelled.cancel()
    await limiter.observe("acme", {"retry-after": "0.8"}, 429)  # begins while they wait
    held_until = int(await client.get("fintoro:rl:acme:held"))
    async with asyncio.timeout(30):  # a hang guard, not a timing assertion
        await asyncio.gather(*waiters)
    assert cancelled.cancelled()
    scores = [score for _, score in await client.zrange("fintoro:rl:acme:log", 0, -1, withscores=True)]
    sent_after_first_two = sorted(scores)[-3:]
    assert all(score >= held_until for score in sent_after_first_two), "nothing was sent inside the hold"
    assert await client.zcard("fintoro:rl:acme:log") <= 5, "the cancelled caller logged no send"
    await limiter.aclose()
    await client.aclose()


async def test_redis_idle_companies_expire_with_their_keys(redis: RedisServer) -> None:
    limiter, client = await _redis_limiter(redis, limit=120, window=60.0)
    for n in range(200):
        await limiter.acquire(f"company-{n}")
    ttls = [await client.pttl(key) for key in await client.keys("fintoro:rl:*")]
    assert len(ttls) == 200 and all(0 < ttl <= 121_200 for ttl in ttls), "every key leaves two windows after use"
    await limiter.aclose()
    await client.aclose()


async def test_redis_a_wait_is_logged_at_debug(redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    limiter, client = await _redis_limiter(redis, limit=1, window=0.3)
    caplog.set_level(logging.DEBUG, logger="fintoro_api")
    await limiter.acquire("acme")
    await limiter.acquire("acme")
    assert "a request of acme waits" in caplog.text and "1 requests per 0.3 s spent" in caplog.text
    await limiter.aclose()
    await client.aclose()


async def test_redis_state_from_an_older_client_or_a_clock_step_never_holds_longer_than_a_window(
    redis: RedisServer,
) -> None:
    # The previous release wrote holds with PX = the Retry-After (PTTL ~8,000 years seen) and adopted
    # X-RateLimit-Limit: 1 unchecked, under these same key names; a Redis host whose clock steps back
    # (failover, VM restore) leaves hold times and log scores in the future. Processes of a rolling
    # deploy share that state.
    limiter, client = await _redis_limiter(redis, limit=20, window=60.0)
    seconds, micros = await client.time()
    now_ms = seconds * 1000 + micros // 1000
    far = now_ms + 8_000 * 365 * 24 * 3600 * 1000
    await client.set("fintoro:rl:acme:held", far, px=far - now_ms)
    with pytest.raises(WaitTooLong) as caught:
        await limiter.acquire("acme", max_wait=1)
    assert caught.value.wait <= 60.6, "a hold is one window at most, whoever wrote it"
    assert 0 < await client.pttl("fintoro:rl:acme:held") <= 60_600, "and is rewritten with that TTL"

    await client.delete("fintoro:rl:acme:held")
    await client.zadd("fintoro:rl:acme:log", {f"future-{n}": now_ms + 3_600_000 for n in range(10)})
    await client.set("fintoro:rl:acme:limit", 1)  # below a tenth of the 20 configured
    for _ in range(20):
        await limiter.acquire("acme", max_wait=0)  # the hour-ahead entries and the limit of 1 are dropped
    await limiter.aclose()
    await client.aclose()


async def test_redis_an_answer_keeps_its_log_entry_for_a_window_after_it(redis: RedisServer) -> None:
    limiter, client = await _redis_limiter(redis, limit=1, window=60.0)
    await limiter.acquire("acme")
    # A slow answer: by the time it arrives, the TTL set when the request went out is nearly over.
    await client.pexpire("fintoro:rl:acme:log", 50)
    await limiter.observe("acme", {}, 200)
    assert await client.pttl("fintoro:rl:acme:log") > 60_000, "the answer counts for a window from now"
    with pytest.raises(WaitTooLong):
        await limiter.acquire("acme", max_wait=1)
    await limiter.aclose()
    await client.aclose()


async def test_redis_requests_never_answered_are_forgotten_in_process_too(redis: RedisServer) -> None:
    limiter, client = await _redis_limiter(redis, limit=5, window=0.05)
    try:
        for n in range(1000):
            await limiter.acquire(f"company-{n}")  # cancelled or cut off: observe() never comes
        await asyncio.sleep(0.15)  # at least two spans pass (not a timing assertion: nothing is measured)
        await limiter.acquire("company-new")
        assert list(limiter._in_flight) == ["company-new"], "memory stays bounded with many companies"
    finally:
        await limiter.aclose()
        await client.aclose()


async def test_redis_a_garbled_hold_value_is_ignored_not_an_error(redis: RedisServer) -> None:
    limiter, client = await _redis_limiter(redis, limit=5, window=60.0, on_error="closed")
    await client.set("fintoro:rl:acme:held", "not-a-number", px=60_000)
    await limiter.observe("acme", {"retry-after": "2"}, 429)  # a script error here was RedisUnavailableError
    with pytest.raises(WaitTooLong, match="held after a 429") as caught:
        await limiter.acquire("acme", max_wait=0.5)
    assert caught.value.wait <= 2
    await limiter.aclose()
    await client.aclose()


async def test_redis_failing_closed_never_fails_a_request_that_was_already_answered(redis: RedisServer) -> None:
    server = WindowedBudget(limit=100, window=1.0)
    limiter = RedisRateLimiter.from_url(redis.url, limit=100, window=1.0, timeout=0.3, on_error="closed")
    try:
        async with serve(server) as url:
            client = FintoroClient("t", base_url=url, rate_limiter=limiter, max_retries=0)
            real_acquire = limiter.acquire

            async def acquire_then_redis_dies(key: str, *, max_wait: float | None = None) -> None:
                await real_acquire(key, max_wait=max_wait)
                redis.stop()  # between the send and its answer

            limiter.acquire = acquire_then_redis_dies
            async with client:
                me = await client.whoami.show()  # the answer arrived: raising now would lose it (a POST: a duplicate)
        assert me.name == "Acme" and server.ok == 1
        limiter.acquire = real_acquire
        with pytest.raises(RedisUnavailableError):  # the next send is what failing closed refuses
            await limiter.acquire("acme")
    finally:
        await limiter.aclose()


class ReplyGate:
    """A TCP proxy to Redis on 127.0.0.1 that forwards commands at once and holds replies while closed."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.open = asyncio.Event()
        self.open.set()
        self.held = 0  # reply chunks waiting at the closed gate
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        for pump in (self._pump(reader, up_writer, gated=False), self._pump(up_reader, writer, gated=True)):
            task = asyncio.create_task(pump)
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, gated: bool) -> None:
        try:
            while chunk := await reader.read(65536):
                if gated and not self.open.is_set():
                    self.held += 1
                    await self.open.wait()
                    self.held -= 1
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def aclose(self) -> None:
        self.open.set()
        assert self._server is not None
        self._server.close()
        for task in list(self._pumps):
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)


async def test_redis_a_caller_cancelled_while_its_script_ran_gives_the_slot_back(redis: RedisServer) -> None:
    # The script ran on Redis (the send is logged) but its reply is late; the caller is cancelled meanwhile.
    gate = ReplyGate(redis.port)
    limiter = RedisRateLimiter.from_url(await gate.start(), limit=3, window=60.0, timeout=5.0)
    client = aioredis.Redis.from_url(redis.url)
    try:
        await limiter.acquire("acme")  # loads the script; one slot of three is used
        gate.open.clear()
        caller = asyncio.create_task(limiter.acquire("acme"))
        async with asyncio.timeout(10):  # a hang guard, not a timing assertion
            while not gate.held:
                await asyncio.sleep(0.01)
        assert await client.zcard("fintoro:rl:acme:log") == 2, "the script logged the second send"
        caller.cancel()
        await asyncio.sleep(0.05)
        gate.open.set()  # the reply and the give-back's reply flow again
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert await client.zcard("fintoro:rl:acme:log") == 1, "the cancelled caller's slot was given back"
        await limiter.acquire("acme", max_wait=0)
        await limiter.acquire("acme", max_wait=0)  # both free slots are there
    finally:
        await limiter.aclose()
        await client.aclose()
        await gate.aclose()
