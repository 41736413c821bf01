"""The embedded inbox: one SQLite file (WAL, ``synchronous=FULL`` by default), zero set-up.

All database work runs on one dedicated thread per ``SQLiteInbox`` (stdlib
``sqlite3``; no extra dependency), so the event loop never blocks on disk.
Writes (appends, claims, outcomes) that arrive while a commit is in flight are
committed together (group commit): under load, one fsync covers many of them
and each caller still gets its answer only after its change is durable. The
write-ahead log is checkpointed by workers (at most once a second, as they
claim), never inside an append's commit. A receiver process and worker
processes may open the same file; SQLite's locks serialize their writes and
every state change is one short ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from .._exceptions import InboxError
from ._dedup import DEFAULT_TTL_S
from ._group_commit import GroupCommit
from ._inbox import DeadLetter, InboxEntry, InboxStats, check_appendable, event_of

T = TypeVar("T")
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS fintoro_webhook_inbox (
    id TEXT PRIMARY KEY,          -- webhook-id: a redelivery is a no-op insert
    body BLOB NOT NULL,           -- the verified raw body
    state TEXT NOT NULL,          -- pending | running | done | dead
    attempts INTEGER NOT NULL,    -- attempts started (a crash counts too)
    due_at REAL NOT NULL,         -- pending: not before; running: the lease's end
    token TEXT,                   -- the running claim's token
    received_at REAL NOT NULL,
    finished_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS fintoro_webhook_inbox_due ON fintoro_webhook_inbox (state, due_at);
"""
_PURGE_EVERY_S = 60.0
_CHECKPOINT_EVERY_S = 1.0
_ROWS_PER_STATEMENT = 200  # 4 parameters each, well under SQLite's limit of bound parameters


class SQLiteInbox:
    """An ``Inbox`` in a SQLite file; done entries are remembered for ``retain_done`` seconds (dedup window).

    ``durable="power-loss"`` (default) fsyncs every commit (``synchronous=FULL``):
    a 2xx means the event is on disk. ``durable="process-crash"``
    (``synchronous=NORMAL``) skips that fsync: the event survives the process
    being killed, not the machine losing power.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: Literal["power-loss", "process-crash"] = "power-loss",
        retain_done: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if durable not in ("power-loss", "process-crash"):
            raise ValueError(f"durable must be 'power-loss' or 'process-crash', got {durable!r}")
        self._synchronous = "FULL" if durable == "power-loss" else "NORMAL"
        self.path = os.fspath(path)
        self._retain = retain_done
        self._clock = clock  # wall clock: processes sharing the file must agree on it
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fintoro-inbox")
        self._conn: sqlite3.Connection | None = None
        self._writes: GroupCommit[Callable[[sqlite3.Connection], Any], Any] = GroupCommit(self._write_batch)
        # Appends have their own group: a few statements per batch, not per row. Every statement hands the GIL
        # to this thread and back, and each hand-back may wait for the busy event loop (the switch interval).
        self._appends: GroupCommit[tuple[str, bytes], bool] = GroupCommit(self._append_batch)
        self._purged = self._checkpointed = 0.0
        self._closed = False
        try:
            self._executor.submit(self._open).result()  # a bad path fails here, at start-up
        except Exception:
            self._executor.shutdown(wait=False)
            raise

    def __repr__(self) -> str:
        return f"SQLiteInbox({self.path!r})"

    # --- the database thread ---------------------------------------------------------------
    def _open(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
        except sqlite3.Error as exc:
            raise InboxError(f"cannot open the webhook inbox {self.path!r}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # Not inside an append's commit (a stall for every delivery waiting on it): workers checkpoint.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise InboxError(f"{self.path!r} holds inbox schema {version}; this version reads {_SCHEMA_VERSION}")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            conn.close()
            raise InboxError(f"{self.path!r} is not a usable webhook inbox: {exc}") from exc
        except InboxError:
            conn.close()
            raise
        self._conn = conn

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise InboxError("the webhook inbox is closed")
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def _autocommit(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise InboxError("the webhook inbox is closed")
        return work(conn)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise InboxError("the webhook inbox is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._transaction, work)
        except sqlite3.Error as exc:
            # Disk full, locked past the busy timeout, a damaged file: the same typed error as the Redis inbox's.
            raise InboxError(f"the webhook inbox {self.path!r} failed: {type(exc).__name__}: {exc}") from exc

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in the next write transaction, together with whatever else is waiting for one."""
        if self._closed:
            raise InboxError("the webhook inbox is closed")
        result: T = await self._writes.submit(work)
        return result

    async def _write_batch(self, works: list[Callable[[sqlite3.Connection], Any]]) -> list[Any]:
        # All in one transaction: if one fails, none is applied and every caller gets the error (and may retry).
        return await self._run(lambda conn: [work(conn) for work in works])

    # --- receiver side ---------------------------------------------------------------------
    async def append(self, event_id: str, body: bytes) -> bool:
        if self._closed:
            raise InboxError("the webhook inbox is closed")
        check_appendable(event_id, body)
        return await self._appends.submit((event_id, bytes(body)))

    async def _append_batch(self, rows: list[tuple[str, bytes]]) -> list[bool | Exception]:
        return list(await self._run(functools.partial(_insert_new, rows, self._clock())))

    # --- worker side -----------------------------------------------------------------------
    async def claim(self, consumer: str, lease: float, limit: int) -> list[InboxEntry]:
        token = f"{consumer}:{secrets.token_hex(8)}"

        def work(conn: sqlite3.Connection) -> list[Any]:
            now = self._clock()
            if now - self._purged > _PURGE_EVERY_S:
                self._purged = now
                conn.execute(
                    "DELETE FROM fintoro_webhook_inbox WHERE state = 'done' AND finished_at < ?", (now - self._retain,)
                )
            return conn.execute(
                "UPDATE fintoro_webhook_inbox SET state = 'running', attempts = attempts + 1, due_at = ?, token = ?"
                " WHERE id IN (SELECT id FROM fintoro_webhook_inbox"
                "  WHERE state IN ('pending', 'running') AND due_at <= ? ORDER BY due_at LIMIT ?)"
                " RETURNING body, attempts",
                (now + lease, token, now, limit),
            ).fetchall()

        rows = await self._write(work)
        if self._clock() - self._checkpointed > _CHECKPOINT_EVERY_S:
            self._checkpointed = self._clock()
            await asyncio.get_running_loop().run_in_executor(self._executor, self._autocommit, _checkpoint)
        return [InboxEntry(event_of(body), attempts, token, body) for body, attempts in rows]

    async def _execute(self, sql: str, *params: Any) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(sql, params)

        await self._write(work)

    async def complete(self, entry: InboxEntry) -> None:
        # Done even if the lease ran out meanwhile: the handler did succeed.
        await self._execute(
            "UPDATE fintoro_webhook_inbox SET state = 'done', token = NULL, finished_at = ? WHERE id = ?",
            self._clock(),
            entry.event.id,
        )

    async def retry(self, entry: InboxEntry, delay: float, error: str) -> None:
        await self._execute(
            "UPDATE fintoro_webhook_inbox SET state = 'pending', token = NULL, due_at = ?, last_error = ?"
            " WHERE id = ? AND token = ? AND state = 'running'",
            self._clock() + delay,
            error,
            entry.event.id,
            entry.token,
        )

    async def dead_letter(self, entry: InboxEntry, error: str) -> None:
        await self._execute(
            "UPDATE fintoro_webhook_inbox SET state = 'dead', token = NULL, finished_at = ?, last_error = ?"
            " WHERE id = ? AND token = ? AND state = 'running'",
            self._clock(),
            error,
            entry.event.id,
            entry.token,
        )

    async def release(self, entry: InboxEntry) -> None:
        await self._execute(
            "UPDATE fintoro_webhook_inbox SET state = 'pending', token = NULL, due_at = ?, attempts = attempts - 1"
            " WHERE id = ? AND token = ? AND state = 'running'",
            self._clock(),
            entry.event.id,
            entry.token,
        )

    # --- visibility ------------------------------------------------------------------------
    async def stats(self) -> InboxStats:
        def work(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute("SELECT state, count(*) FROM fintoro_webhook_inbox GROUP BY state").fetchall()
            return {state: count for state, count in rows}

        counts = await self._run(work)
        return InboxStats(
            pending=counts.get("pending", 0),
            running=counts.get("running", 0),
            dead=counts.get("dead", 0),
            done=counts.get("done", 0),
        )

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT body, attempts, last_error FROM fintoro_webhook_inbox WHERE state = 'dead'"
                " ORDER BY finished_at LIMIT ?",
                (limit,),
            ).fetchall()

        return [DeadLetter(event_of(body), attempts, error or "") for body, attempts, error in await self._run(work)]

    async def requeue_dead(self) -> int:
        def work(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE fintoro_webhook_inbox SET state = 'pending', attempts = 0, due_at = ?, finished_at = NULL"
                " WHERE state = 'dead'",
                (self._clock(),),
            ).rowcount

        return await self._write(work)

    async def aclose(self) -> None:
        if self._closed:
            return
        await self._appends.idle()
        await self._writes.idle()
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the write-ahead log back into the database without blocking writers (PASSIVE)."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _insert_new(rows: list[tuple[str, bytes]], now: float, conn: sqlite3.Connection) -> list[bool]:
    """Insert the rows whose id is not in the inbox yet (nor earlier in ``rows``); True for each one inserted."""
    inserted: list[bool] = []
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        marks = ", ".join("?" * len(chunk))
        found = conn.execute(f"SELECT id FROM fintoro_webhook_inbox WHERE id IN ({marks})", [i for i, _ in chunk])  # noqa: S608
        seen = {row[0] for row in found.fetchall()}
        fresh: list[str | bytes | float] = []
        for event_id, body in chunk:
            inserted.append(event_id not in seen)
            if event_id not in seen:
                seen.add(event_id)  # a second delivery of the same id in this batch is a redelivery
                fresh.extend((event_id, body, now, now))
        if fresh:
            values = ", ".join(["(?, ?, 'pending', 0, ?, ?)"] * (len(fresh) // 4))
            conn.execute(
                "INSERT INTO fintoro_webhook_inbox (id, body, state, attempts, due_at, received_at)"  # noqa: S608
                f" VALUES {values}",
                fresh,
            )
    return inserted
