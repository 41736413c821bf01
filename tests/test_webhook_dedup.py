"""Issue 15: two-phase dedup. In-flight duplicates get 409, every non-success exit gives the id back, leases expire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fintoro_api.redis_backends import RedisDedupStore
from fintoro_api.webhooks import DedupStore, InMemoryDedupStore, Lease, Seen, WebhookEvent, sign, webhook_app

from .conftest import ROOT
from .support.asgi import serve
from .support.redis_server import RedisServer, redis_server

SECRET = "whsec_dedup_SECRET_0123"


def event_body(event_id: str | None = None) -> bytes:
    payload = {
        "id": event_id or str(uuid.uuid4()),
        "type": "invoices.paid",
        "occurredAt": "2026-03-29T18:20:00Z",
        "resource": {"type": "invoice", "id": 301},
    }
    return json.dumps(payload).encode()


@pytest.fixture
def redis(tmp_path: Path) -> Any:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DedupStore]:
    if request.param == "memory":
        yield InMemoryDedupStore()
        return
    with redis_server(tmp_path) as server:
        redis_store = RedisDedupStore.from_url(server.url)
        yield redis_store
        await redis_store.aclose()


async def test_claim_then_done_or_released(store: DedupStore) -> None:
    first = await store.claim("evt-1", lease=30)
    assert isinstance(first, Lease)
    assert await store.claim("evt-1", lease=30) is Seen.IN_PROGRESS
    await store.release(first)
    second = await store.claim("evt-1", lease=30)
    assert isinstance(second, Lease), "released: the redelivery runs"
    await store.release(first)  # a stale token releases nothing
    assert await store.claim("evt-1", lease=30) is Seen.IN_PROGRESS
    await store.complete(second, ttl=60)
    assert await store.claim("evt-1", lease=30) is Seen.DONE
    await store.release(second)  # release after done changes nothing
    assert await store.claim("evt-1", lease=30) is Seen.DONE


async def test_an_expired_lease_lets_the_next_attempt_in(store: DedupStore) -> None:
    stale = await store.claim("evt-2", lease=0.2)
    assert isinstance(stale, Lease)
    for _ in range(100):
        fresh = await store.claim("evt-2", lease=30)
        if isinstance(fresh, Lease):
            break
        await asyncio.sleep(0.02)
    assert isinstance(fresh, Lease)
    await store.release(stale)  # the crashed holder comes back late: it must not free the new claim
    assert await store.claim("evt-2", lease=30) is Seen.IN_PROGRESS


async def test_a_killed_process_lease_expires_in_redis(redis: RedisServer) -> None:
    script = (
        "import asyncio, sys\n"
        "from fintoro_api.redis_backends import RedisDedupStore\n"
        "async def main():\n"
        "    store = RedisDedupStore.from_url(sys.argv[1])\n"
        "    print(type(await store.claim('evt-kill', lease=1.0)).__name__, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen([sys.executable, "-c", script, redis.url], stdout=subprocess.PIPE, env=env) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == b"Lease"
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    store = RedisDedupStore.from_url(redis.url)
    assert await store.claim("evt-kill", lease=30) is Seen.IN_PROGRESS, "the lease outlives the process for a while"
    for _ in range(200):
        claim = await store.claim("evt-kill", lease=30)
        if isinstance(claim, Lease):
            break
        await asyncio.sleep(0.02)
    assert isinstance(claim, Lease), "then it expires and the id can be processed"
    await store.aclose()


async def test_redis_keys_carry_bounded_ttls(redis: RedisServer) -> None:
    store = RedisDedupStore.from_url(redis.url, prefix="acme")
    lease = await store.claim("evt-3", lease=30)
    assert isinstance(lease, Lease)
    assert 0 < await store.redis.pttl("acme:wh:evt-3") <= 30_000
    await store.complete(lease, ttl=3600)
    assert 30_000 < await store.redis.pttl("acme:wh:evt-3") <= 3_600_000
    with pytest.raises(ValueError, match="between 0 and 30 days"):
        await store.claim("evt-4", lease=0)
    with pytest.raises(ValueError, match="between 0 and 30 days"):
        await store.claim("evt-4", lease=float("inf"))
    await store.aclose()


# --- the receiver under uvicorn ------------------------------------------------------------------


async def test_a_duplicate_while_the_first_attempt_runs_gets_409_and_is_processed_if_the_first_fails(
    store: DedupStore,
) -> None:
    started, finish = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def slow_then_failing(event: WebhookEvent) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            started.set()
            await finish.wait()
            raise RuntimeError("downstream failed after 10 s")

    body = event_body()
    app = webhook_app(SECRET, slow_then_failing, store=store)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        first = asyncio.create_task(http.post("/", content=body, headers=sign(body, SECRET)))
        await asyncio.wait_for(started.wait(), 10)
        duplicate = await http.post("/", content=body, headers=sign(body, SECRET))
        finish.set()
        assert (await first).status_code == 500
        redelivery = await http.post("/", content=body, headers=sign(body, SECRET))
        late = await http.post("/", content=body, headers=sign(body, SECRET))
    assert duplicate.status_code == 409, "not 2xx: Fintoro must come back"
    assert int(duplicate.headers["retry-after"]) > 0
    assert (redelivery.status_code, late.status_code) == (204, 204)
    assert len(calls) == 2, "the failed first attempt was processed again, then deduplicated"


async def test_a_handler_timing_out_releases_the_id(store: DedupStore) -> None:
    calls: list[str] = []

    async def stuck_once(event: WebhookEvent) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            await asyncio.sleep(30)

    body = event_body()
    app = webhook_app(SECRET, stuck_once, store=store, handler_timeout=0.2, lease=30)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        first = await http.post("/", content=body, headers=sign(body, SECRET))
        again = await http.post("/", content=body, headers=sign(body, SECRET))
        duplicate = await http.post("/", content=body, headers=sign(body, SECRET))
    assert (first.status_code, again.status_code, duplicate.status_code) == (500, 204, 204)
    assert len(calls) == 2


async def test_a_handler_cancelled_at_shutdown_releases_the_id(store: DedupStore) -> None:
    started = asyncio.Event()

    async def long_running(event: WebhookEvent) -> None:
        started.set()
        await asyncio.sleep(30)

    body = event_body()
    app = webhook_app(SECRET, long_running, store=store)
    async with httpx.AsyncClient(timeout=10) as http:
        async with serve(app, timeout_graceful_shutdown=0.2) as url:
            request = asyncio.create_task(http.post(url, content=body, headers=sign(body, SECRET)))
            await asyncio.wait_for(started.wait(), 10)
        # uvicorn cancelled the handler when its graceful shutdown ran out: a 500 or a dropped connection, no 2xx.
        try:
            status = (await request).status_code
        except httpx.HTTPError:
            status = None
    assert status is None or status >= 500
    event_id = json.loads(body)["id"]
    assert isinstance(await store.claim(event_id, lease=30), Lease), "the id was handed back on cancellation"


async def test_a_handler_raising_cancelled_error_releases_the_id(store: DedupStore) -> None:
    calls: list[str] = []

    async def cancelled_once(event: WebhookEvent) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            raise asyncio.CancelledError

    body = event_body()
    async with serve(webhook_app(SECRET, cancelled_once, store=store)) as url, httpx.AsyncClient(base_url=url) as http:
        try:
            status = (await http.post("/", content=body, headers=sign(body, SECRET))).status_code
        except httpx.HTTPError:
            status = None
        again = await http.post("/", content=body, headers=sign(body, SECRET))
    assert status is None or status >= 500, "no 2xx for a cancelled attempt"
    assert again.status_code == 204 and len(calls) == 2


async def test_a_handler_ignoring_its_cancellation_gets_500_in_time_and_keeps_its_claim_until_it_ends(
    store: DedupStore,
) -> None:
    # A handler that swallows CancelledError (a retry loop with a bare except) cannot be stopped. The answer must
    # still go out inside Fintoro's 10 s, and while the handler runs on no redelivery may start a second run.
    give_up = asyncio.Event()
    calls: list[str] = []

    async def stubborn_once(event: WebhookEvent) -> None:
        calls.append(event.id)
        if len(calls) > 1:
            return
        while not give_up.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # the bare-except retry loop, in short
                await give_up.wait()
        raise RuntimeError("gave up long after its timeout")

    body = event_body()
    app = webhook_app(SECRET, stubborn_once, store=store, handler_timeout=0.2, lease=30)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        try:
            first = await http.post("/", content=body, headers=sign(body, SECRET))
            while_running = await http.post("/", content=body, headers=sign(body, SECRET))
        finally:
            give_up.set()
        for _ in range(200):  # the claim is released once the handler really ends
            after = await http.post("/", content=body, headers=sign(body, SECRET))
            if after.status_code != 409:
                break
            await asyncio.sleep(0.02)
        late = await http.post("/", content=body, headers=sign(body, SECRET))
    assert (first.status_code, while_running.status_code) == (500, 409)
    assert (after.status_code, late.status_code) == (204, 204)
    assert len(calls) == 2, "never two runs at once; the failed one ran again after it ended"
