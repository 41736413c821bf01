"""Issue 15: kill -9 of the worker mid-event, of the receiver after its 2xx, and of Redis mid-run.

Every event is processed, none twice by a successful handler, none lost. Real processes (uvicorn and
the worker in subprocesses), a real SQLite file, a real redis-server with an append-only file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from fintoro_api.redis_backends import RedisStreamInbox
from fintoro_api.webhooks import (
    Inbox,
    InboxError,
    InboxStats,
    InboxWorker,
    SQLiteInbox,
    WebhookEvent,
    sign,
    webhook_app,
)
from tools.ports import free_loopback_port

from .conftest import ROOT
from .support.asgi import serve
from .support.redis_server import RedisServer, redis_server, require_redis_server

SECRET = "whsec_crash_SECRET_0123"
DEADLINE_S = 40.0


def event_body(event_id: str) -> bytes:
    payload = {
        "id": event_id,
        "type": "clients.updated",
        "occurredAt": "2026-03-29T18:20:00Z",
        "resource": {"type": "client", "id": 42},
    }
    return json.dumps(payload).encode()


@pytest.fixture(params=["sqlite", "sqlite-process-crash", "redis"])
def inbox_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param.startswith("sqlite"):
        yield str(tmp_path / ("inbox.nofsync.db" if request.param == "sqlite-process-crash" else "inbox.db"))
        return
    with redis_server(tmp_path) as server:
        yield server.url


def open_inbox(target: str) -> Inbox:
    if target.startswith("redis://"):
        return RedisStreamInbox.from_url(target, prefix="test")
    return SQLiteInbox(target, durable="process-crash" if target.endswith(".nofsync.db") else "power-loss")


def child_env(target: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "INBOX": target, "WEBHOOK_SECRET": SECRET, **extra}


@contextmanager
def child(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def worker_command() -> list[str]:
    return [sys.executable, "-m", "tests.support.webhook_inbox_app"]


def receiver_command(port: int) -> list[str]:
    app = "tests.support.webhook_inbox_app:receiver"
    return [sys.executable, "-m", "uvicorn", "--factory", app, "--port", str(port), "--log-level", "warning"]


def handled_lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


async def wait_until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def wait_for_port(port: int) -> None:
    def accepting() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    await wait_until(accepting, f"a server on port {port}")


async def deliver_all(port: int, ids: list[str]) -> list[int]:
    """Deliver each id once, 10 at a time, like Fintoro; return the statuses."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        slots = asyncio.Semaphore(10)

        async def deliver(event_id: str) -> int:
            body = event_body(event_id)
            async with slots:
                return (await http.post("/", content=body, headers=sign(body, SECRET))).status_code

        return list(await asyncio.gather(*(deliver(i) for i in ids)))


async def test_kill_9_of_the_worker_mid_event(inbox_target: str, tmp_path: Path) -> None:
    ids = [str(uuid.uuid4()) for _ in range(30)]
    inbox = open_inbox(inbox_target)
    for event_id in ids:
        assert await inbox.append(event_id, event_body(event_id))
    log, started = tmp_path / "handled.log", tmp_path / "started"
    settings = {"HANDLED_LOG": str(log), "HANDLER_TIMEOUT": "2", "LEASE": "3", "STARTED_FILE": str(started)}

    # Worker A works one event at a time and hangs in the 11th; it is killed there.
    with child(worker_command(), child_env(inbox_target, HANG_ON=ids[10], CONCURRENCY="1", **settings)) as worker_a:
        await wait_until(started.exists, "worker A to start the 11th event")
        os.kill(worker_a.pid, signal.SIGKILL)
        worker_a.wait(timeout=10)
    assert sorted(handled_lines(log)) == sorted(ids[:10])

    # Worker B takes the rest at once, and the killed event when A's lease runs out.
    with child(worker_command(), child_env(inbox_target, **settings)):
        await wait_until(lambda: len(handled_lines(log)) >= len(ids), "worker B to finish")
        await asyncio.sleep(0.5)  # room for a wrong second run to show up
    handled = handled_lines(log)
    assert sorted(handled) == sorted(ids), "every event handled, none twice"
    assert await inbox.stats() == InboxStats(pending=0, running=0, dead=0, done=len(ids))
    await inbox.aclose()


async def test_kill_9_of_the_receiver_after_its_2xx(inbox_target: str) -> None:
    ids = [str(uuid.uuid4()) for _ in range(100)]
    port = free_loopback_port()
    with child(receiver_command(port), child_env(inbox_target)) as receiver:
        await wait_for_port(port)
        statuses = await deliver_all(port, ids)
        os.kill(receiver.pid, signal.SIGKILL)  # right after the last 2xx
        receiver.wait(timeout=10)
    assert statuses == [204] * len(ids)

    inbox = open_inbox(inbox_target)
    handled: list[str] = []

    async def handler(event: WebhookEvent) -> None:
        handled.append(event.id)

    assert await InboxWorker(inbox, handler).drain() == len(ids), "everything acknowledged is in the inbox"
    # Fintoro redelivers some of them (it never saw our 2xx, say) to a restarted receiver.
    port = free_loopback_port()
    with child(receiver_command(port), child_env(inbox_target)):
        await wait_for_port(port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            again = [
                (await http.post("/", content=event_body(i), headers=sign(event_body(i), SECRET))).status_code
                for i in ids[:20]
            ]
    assert again == [204] * 20
    assert await InboxWorker(inbox, handler).drain() == 0
    assert sorted(handled) == sorted(ids), "every event handled once"
    await inbox.aclose()


class PersistentRedis(RedisServer):
    """A redis-server with an append-only file fsynced on every write, restartable on the same port."""

    persistence = ("--save", "", "--appendonly", "yes", "--appendfsync", "always")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@asynccontextmanager
async def persistent_redis(workdir: Path) -> AsyncIterator[PersistentRedis]:
    server = PersistentRedis(require_redis_server(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def test_redis_killed_and_restarted_mid_run(tmp_path: Path) -> None:
    ids = [str(uuid.uuid4()) for _ in range(200)]
    handled: list[str] = []

    async def handler(event: WebhookEvent) -> None:
        handled.append(event.id)

    async with persistent_redis(tmp_path) as redis:
        receiver_inbox = RedisStreamInbox.from_url(redis.url, timeout=0.5)
        worker_inbox = RedisStreamInbox.from_url(redis.url, timeout=0.5)
        worker = InboxWorker(worker_inbox, handler, handler_timeout=1, lease=3, poll_interval=0.05)
        stop = asyncio.Event()
        working = asyncio.create_task(worker.run(stop=stop))
        statuses: list[int] = []
        halfway = asyncio.Event()
        async with serve(webhook_app(SECRET, inbox=receiver_inbox)) as url, httpx.AsyncClient(base_url=url) as http:
            slots = asyncio.Semaphore(10)

            async def deliver_until_2xx(event_id: str) -> None:
                # Like Fintoro: a non-2xx means "deliver again later" (here: 50 ms later).
                body = event_body(event_id)
                async with slots:
                    for _ in range(400):
                        status = (await http.post("/", content=body, headers=sign(body, SECRET))).status_code
                        statuses.append(status)
                        if status == 204:
                            break
                        await asyncio.sleep(0.05)
                if len([s for s in statuses if s == 204]) >= len(ids) // 2:
                    halfway.set()

            async def restart_redis() -> None:
                await halfway.wait()
                redis.kill()
                await asyncio.sleep(0.5)
                redis.start()

            await asyncio.gather(restart_redis(), *(deliver_until_2xx(i) for i in ids))
        await wait_until(lambda: len(handled) >= len(ids), "the worker to handle every event")
        await asyncio.sleep(0.5)  # room for a wrong second run to show up
        stop.set()
        await asyncio.wait_for(working, 10)
        stats = await worker_inbox.stats()
        await receiver_inbox.aclose()
        await worker_inbox.aclose()
    assert statuses.count(204) == len(ids)
    assert sorted(handled) == sorted(ids), "every event handled once across the Redis restart"
    assert stats == InboxStats(pending=0, running=0, dead=0, done=len(ids))
    print(f"\nRedis killed mid-run: {len(statuses) - len(ids)} deliveries answered 503 and were redelivered")


async def test_a_redis_without_persistence_restarted_loses_acknowledged_events_and_the_workers_carry_on(
    tmp_path: Path,
) -> None:
    # What the README warns about, measured: no AOF, no snapshot. The 204 was given, the event is gone.
    handled: list[str] = []

    async def handler(event: WebhookEvent) -> None:
        handled.append(event.id)

    with redis_server(tmp_path) as redis:
        inbox = RedisStreamInbox.from_url(redis.url, timeout=0.5)
        worker = InboxWorker(inbox, handler, handler_timeout=1, lease=3, poll_interval=0.05)
        assert await inbox.append("evt-handled", event_body("evt-handled"))
        assert await worker.drain() == 1
        assert await inbox.append("evt-acknowledged", event_body("evt-acknowledged"))
        redis.stop()
        redis.start()
        stop = asyncio.Event()
        working = asyncio.create_task(worker.run(stop=stop))
        for _ in range(100):  # like Fintoro after a 503: a pooled connection may still point at the old server
            try:
                assert await inbox.append("evt-after", event_body("evt-after"))
                break
            except InboxError:
                await asyncio.sleep(0.05)
        await wait_until(lambda: "evt-after" in handled, "the worker to recreate its group and carry on")
        stop.set()
        await asyncio.wait_for(working, 10)
        redelivered_again = await inbox.append("evt-handled", event_body("evt-handled"))
        await inbox.aclose()
    assert handled == ["evt-handled", "evt-after"], "the acknowledged, unhandled event was lost with Redis' memory"
    assert redelivered_again, "and the dedup window too: a redelivery of a handled event is stored (and run) again"


async def test_one_receiver_and_two_worker_processes_share_the_inbox(inbox_target: str, tmp_path: Path) -> None:
    ids = [str(uuid.uuid4()) for _ in range(200)]
    log = tmp_path / "handled.log"
    port = free_loopback_port()
    env = child_env(inbox_target, HANDLED_LOG=str(log))
    with (
        child(receiver_command(port), env),
        child(worker_command(), env),
        child(worker_command(), env),
    ):
        await wait_for_port(port)
        statuses = await deliver_all(port, ids + ids[:50])
        await wait_until(lambda: len(handled_lines(log)) >= len(ids), "the workers to handle every event")
        await asyncio.sleep(0.5)  # room for a wrong second run to show up
    assert statuses == [204] * 250
    assert sorted(handled_lines(log)) == sorted(ids), "each event handled by exactly one of the two workers, once"
