"""Issue 15: the durable inbox (SQLite file and Redis Streams on a real redis-server) and its worker."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fintoro_api.redis_backends import RedisStreamInbox
from fintoro_api.webhooks import (
    Backoff,
    Inbox,
    InboxError,
    InboxStats,
    InboxWorker,
    SQLiteInbox,
    WebhookEvent,
    WebhookPayloadError,
    after_failure,
    sign,
    webhook_app,
)
from fintoro_api.webhooks._group_commit import GroupCommit

from .support.asgi import serve
from .support.redis_server import redis_server

SECRET = "whsec_inbox_SECRET_0123"


def event_body(event_id: str | None = None, event_type: str = "invoices.paid") -> bytes:
    payload = {
        "id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "occurredAt": "2026-03-29T18:20:00Z",
        "resource": {"type": "invoice", "id": 301},
        "company": {"id": 15},
    }
    return json.dumps(payload).encode()


def event_id_of(body: bytes) -> str:
    return str(json.loads(body)["id"])


@pytest.fixture(params=["sqlite", "redis"])
async def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Inbox]:
    if request.param == "sqlite":
        sqlite_inbox = SQLiteInbox(tmp_path / "inbox.db")
        yield sqlite_inbox
        await sqlite_inbox.aclose()
        return
    with redis_server(tmp_path) as server:
        redis_inbox = RedisStreamInbox.from_url(server.url)
        yield redis_inbox
        await redis_inbox.aclose()


async def wait_for_stats(inbox: Inbox, expected: InboxStats) -> None:
    for _ in range(300):
        if await inbox.stats() == expected:
            return
        await asyncio.sleep(0.02)
    assert await inbox.stats() == expected


async def test_append_deduplicates_and_the_worker_completes_each_once(inbox: Inbox) -> None:
    bodies = [event_body() for _ in range(20)]
    assert [await inbox.append(event_id_of(b), b) for b in bodies] == [True] * 20
    assert [await inbox.append(event_id_of(b), b) for b in bodies[:5]] == [False] * 5, "redeliveries"
    twice = event_body()
    at_once = await asyncio.gather(*(inbox.append(event_id_of(twice), twice) for _ in range(3)))
    assert sorted(at_once) == [False, False, True], "concurrent deliveries of one id (one write batch): stored once"
    bodies.append(twice)
    assert await inbox.stats() == InboxStats(pending=21, running=0, dead=0, done=0)
    handled: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        handled.append(event)

    assert await InboxWorker(inbox, handler).drain() == 21
    assert sorted(e.id for e in handled) == sorted(event_id_of(b) for b in bodies)
    assert handled[0].payload["company"] == {"id": 15}, "the stored body keeps fields the model does not name"
    assert await inbox.stats() == InboxStats(pending=0, running=0, dead=0, done=21)
    assert await inbox.append(event_id_of(bodies[0]), bodies[0]) is False, "done ids stay deduplicated"
    assert await InboxWorker(inbox, handler).drain() == 0


async def test_failures_retry_with_backoff_then_dead_letter_with_the_last_error(inbox: Inbox) -> None:
    flaky, broken = event_body(), event_body()
    await inbox.append(event_id_of(flaky), flaky)
    await inbox.append(event_id_of(broken), broken)
    attempts: dict[str, int] = {}

    async def handler(event: WebhookEvent) -> None:
        attempts[event.id] = attempts.get(event.id, 0) + 1
        if event.id == event_id_of(broken) or attempts[event.id] < 3:
            raise RuntimeError(f"downstream said no (attempt {attempts[event.id]})")

    worker = InboxWorker(inbox, handler, max_attempts=4, backoff=Backoff(base=0.05, cap=0.2), poll_interval=0.02)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop=stop))
    await wait_for_stats(inbox, InboxStats(pending=0, running=0, dead=1, done=1))
    stop.set()
    await asyncio.wait_for(running, 10)
    assert attempts == {event_id_of(flaky): 3, event_id_of(broken): 4}
    [dead] = await inbox.dead_letters()
    assert dead.event.id == event_id_of(broken) and dead.attempts == 4
    assert dead.last_error == "RuntimeError: downstream said no (attempt 4)"

    attempts.clear()
    assert await inbox.requeue_dead() == 1
    assert await inbox.stats() == InboxStats(pending=1, running=0, dead=0, done=1)
    await worker.drain()
    assert attempts == {event_id_of(broken): 1}, "a requeued dead letter gets a fresh attempt budget"


async def test_a_handler_timing_out_is_retried(inbox: Inbox) -> None:
    body = event_body()
    await inbox.append(event_id_of(body), body)
    calls: list[int] = []

    async def stuck_once(event: WebhookEvent) -> None:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(30)

    worker = InboxWorker(inbox, stuck_once, handler_timeout=0.2, backoff=Backoff(base=1.0, cap=1.0))
    assert await worker.drain() == 1, "after the timeout the event waits for its backoff (0.5-1 s)"
    assert await inbox.stats() == InboxStats(pending=1, running=0, dead=0, done=0)
    await asyncio.sleep(1.05)
    assert await worker.drain() == 1
    assert len(calls) == 2 and await inbox.stats() == InboxStats(pending=0, running=0, dead=0, done=1)


async def test_a_cancelled_worker_hands_its_entries_back_uncounted(inbox: Inbox) -> None:
    body = event_body()
    await inbox.append(event_id_of(body), body)
    started = asyncio.Event()
    seen_attempts: list[int] = []

    async def slow(event: WebhookEvent) -> None:
        started.set()
        await asyncio.sleep(30)

    worker = InboxWorker(inbox, slow, poll_interval=0.02)
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    assert (await inbox.stats()).running == 1
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await inbox.stats() == InboxStats(pending=1, running=0, dead=0, done=0), "due again at once"
    [entry] = await inbox.claim("inspector", lease=30, limit=10)
    seen_attempts.append(entry.attempt)
    assert seen_attempts == [1], "the cancelled attempt was not counted"


async def test_an_expired_lease_is_claimed_by_another_worker(inbox: Inbox) -> None:
    body = event_body()
    await inbox.append(event_id_of(body), body)
    [crashed] = await inbox.claim("worker-a", lease=0.5, limit=10)
    assert await inbox.claim("worker-b", lease=0.5, limit=10) == [], "leased to worker-a"
    for _ in range(100):
        taken = await inbox.claim("worker-b", lease=0.5, limit=10)
        if taken:
            break
        await asyncio.sleep(0.02)
    [entry] = taken
    assert entry.event.id == crashed.event.id and entry.attempt == 2, "the crashed attempt counts"
    await inbox.retry(crashed, 0, "late")  # the crashed worker's late outcome must not touch the new claim
    await inbox.release(crashed)
    assert (await inbox.stats()).running == 1
    await inbox.complete(entry)
    assert await inbox.stats() == InboxStats(pending=0, running=0, dead=0, done=1)


async def test_an_event_whose_every_attempt_was_abandoned_is_dead_lettered_not_run_forever(inbox: Inbox) -> None:
    # An event that kills every worker running it (OOM, a segfault in a C extension): each attempt ends in a
    # kill -9, never in a recorded failure. The budget counts those attempts too, so it must end dead.
    body = event_body()
    await inbox.append(event_id_of(body), body)
    for attempt in range(1, 4):
        for _ in range(200):
            abandoned = await inbox.claim(f"killed-{attempt}", lease=0.2, limit=10)
            if abandoned:
                break
            await asyncio.sleep(0.02)
        assert [e.attempt for e in abandoned] == [attempt]  # ... and this worker dies without a word
    ran: list[int] = []

    async def handler(event: WebhookEvent) -> None:
        ran.append(1)

    worker = InboxWorker(inbox, handler, max_attempts=3, handler_timeout=0.1, lease=0.2)
    for _ in range(200):
        if await worker.drain():
            break
        await asyncio.sleep(0.02)
    assert ran == [], "attempt 3 of 3 was started already; a 4th would let a poison event crash workers forever"
    assert await inbox.stats() == InboxStats(pending=0, running=0, dead=1, done=0)
    [dead] = await inbox.dead_letters()
    assert dead.event.id == event_id_of(body) and "attempt 3 never finished" in dead.last_error


async def test_append_refuses_what_no_worker_could_settle_and_the_good_events_still_run(inbox: Inbox) -> None:
    # Inbox.append is public (replaying events from logs, a migration). A body that does not parse failed every
    # claim of its batch, the good events in it included; one stored under another id than its own was run
    # again after every lease, because outcomes are recorded under the body's id.
    good, other = event_body(), event_body()
    with pytest.raises(WebhookPayloadError, match="JSON webhook event"):
        await inbox.append("evt-garbage", b"{not json")
    with pytest.raises(WebhookPayloadError, match="no 'occurredAt'"):
        await inbox.append("evt-thin", json.dumps({"id": "evt-thin", "type": "invoices.paid"}).encode())
    with pytest.raises(WebhookPayloadError, match="differs from the event id"):
        await inbox.append("evt-renamed", other)
    assert await inbox.append(event_id_of(good), good) is True
    handled: list[str] = []

    async def handler(event: WebhookEvent) -> None:
        handled.append(event.id)

    assert await InboxWorker(inbox, handler, max_attempts=1).drain() == 1
    assert handled == [event_id_of(good)]
    assert await inbox.stats() == InboxStats(pending=0, running=0, dead=0, done=1), "nothing else was stored"


async def test_the_receiver_answers_204_once_the_event_is_in_the_inbox(inbox: Inbox) -> None:
    bodies = [event_body() for _ in range(50)]
    async with serve(webhook_app(SECRET, inbox=inbox)) as url, httpx.AsyncClient(base_url=url) as http:

        async def deliver(body: bytes) -> int:
            return (await http.post("/", content=body, headers=sign(body, SECRET))).status_code

        statuses = await asyncio.gather(*(deliver(b) for b in bodies + bodies[:10]))
        unsigned = await http.post("/", content=bodies[0], headers=sign(bodies[0], "whsec_wrong"))
    assert statuses == [204] * 60 and unsigned.status_code == 401
    assert await inbox.stats() == InboxStats(pending=50, running=0, dead=0, done=0)


async def test_the_receiver_answers_503_when_the_inbox_cannot_store(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    await inbox.aclose()
    body = event_body()
    async with serve(webhook_app(SECRET, inbox=inbox)) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/", content=body, headers=sign(body, SECRET))
    assert response.status_code == 503


async def test_a_locked_inbox_file_gets_503_before_fintoro_gives_up_and_the_redelivery_is_stored_once(
    tmp_path: Path,
) -> None:
    # Another process holds the SQLite file's write lock (a backup, a sqlite3 shell, a stuck worker). SQLite's
    # busy timeout is 30 s; Fintoro waits 10 s. The receiver must answer (503) while Fintoro still listens.
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    locker = sqlite3.connect(tmp_path / "inbox.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    body = event_body()
    async with serve(webhook_app(SECRET, inbox=inbox)) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        try:
            locked = await http.post("/", content=body, headers=sign(body, SECRET))
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        redelivery = await http.post("/", content=body, headers=sign(body, SECRET))
    assert (locked.status_code, redelivery.status_code) == (503, 204)
    assert await inbox.stats() == InboxStats(pending=1, running=0, dead=0, done=0), "stored once"
    await inbox.aclose()


async def test_a_full_disk_is_a_typed_inbox_error_that_stores_nothing_and_heals(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    stored = event_body()
    await inbox.append(event_id_of(stored), stored)

    def cap_the_file_at_its_size(conn: sqlite3.Connection) -> None:  # what a full disk looks like to SQLite
        conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")

    def uncap(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA max_page_count=4294967294")

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(inbox._executor, inbox._autocommit, cap_the_file_at_its_size)
    padded = [json.dumps({**json.loads(event_body()), "pad": "x" * 4000}).encode() for _ in range(20)]
    with pytest.raises(InboxError, match="disk is full") as raised:
        for body in padded:
            await inbox.append(event_id_of(body), body)
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
    async with serve(webhook_app(SECRET, inbox=inbox)) as url, httpx.AsyncClient(base_url=url) as http:
        full = await http.post("/", content=padded[-1], headers=sign(padded[-1], SECRET))
        assert full.status_code == 503
        before = await inbox.stats()
        await loop.run_in_executor(inbox._executor, inbox._autocommit, uncap)
        healed = await http.post("/", content=padded[-1], headers=sign(padded[-1], SECRET))
    assert healed.status_code == 204
    assert (await inbox.stats()).pending == before.pending + 1, "the refused append left nothing behind"
    await inbox.aclose()


async def test_bad_inbox_files_and_settings_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(InboxError, match="cannot open the webhook inbox"):
        SQLiteInbox(tmp_path / "no-such-dir" / "inbox.db")
    (tmp_path / "text.db").write_text("not a database " * 100)
    with pytest.raises(InboxError, match="not a usable webhook inbox"):
        SQLiteInbox(tmp_path / "text.db")
    newer = sqlite3.connect(tmp_path / "newer.db")
    newer.execute("PRAGMA user_version=7")
    newer.close()
    with pytest.raises(InboxError, match="schema 7"):
        SQLiteInbox(tmp_path / "newer.db")
    assert not (tmp_path / "no-such-dir").exists()
    with pytest.raises(ValueError, match="durable must be"):
        SQLiteInbox(tmp_path / "ok.db", durable="sometimes")  # type: ignore[arg-type]
    inbox = SQLiteInbox(tmp_path / "ok.db")

    async def handler(event: WebhookEvent) -> None:
        return None

    with pytest.raises(ValueError, match="shorter than lease"):
        InboxWorker(inbox, handler, handler_timeout=10, lease=5)
    with pytest.raises(ValueError, match="exactly one of handler"):
        webhook_app(SECRET, handler, inbox=inbox)
    with pytest.raises(ValueError, match="exactly one of handler"):
        webhook_app(SECRET)
    await inbox.aclose()


@pytest.mark.parametrize(
    ("attempt", "max_attempts", "outcome"),
    [(1, 5, "retry"), (4, 5, "retry"), (5, 5, "dead"), (6, 5, "dead"), (1, 1, "dead")],
)
def test_after_failure(attempt: int, max_attempts: int, outcome: str) -> None:
    assert after_failure(attempt, max_attempts) == outcome


@pytest.mark.parametrize(("failures", "low", "high"), [(1, 0.5, 1.0), (2, 1.0, 2.0), (4, 4.0, 8.0), (10, 5.0, 10.0)])
def test_backoff_doubles_with_jitter_and_is_capped(failures: int, low: float, high: float) -> None:
    backoff = Backoff(base=1.0, cap=10.0)
    assert backoff.delay(failures, rng=lambda: 0.0) == low
    assert backoff.delay(failures, rng=lambda: 1.0) == high


async def test_group_commit_answers_each_caller_with_its_own_outcome() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        await release.wait()
        return [ValueError(f"item {i} refused") if i == 3 else i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(flush)
    first = asyncio.create_task(group.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(group.submit(i)) for i in (1, 2, 3, 4)]
    await asyncio.sleep(0)
    rest[0].cancel()  # a caller that goes away
    release.set()
    assert await first == 0
    assert await rest[1] == 20 and await rest[3] == 40
    with pytest.raises(ValueError, match="item 3 refused"):
        await rest[2]
    with pytest.raises(asyncio.CancelledError):
        await rest[0]
    await group.idle()
    assert batches == [[0], [1, 2, 3, 4]], "callers that arrived during a write shared the next one, the gone one too"
