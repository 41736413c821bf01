"""The durable inbox protocol: the receiver appends verified deliveries, a worker drains them.

A receiver that must answer within Fintoro's 10 s appends the verified body and
answers 2xx once the append is durable; handlers run later in an
``InboxWorker`` (another task, or another process). Implementations:
``SQLiteInbox`` (embedded, zero set-up) and ``RedisStreamInbox`` (many
replicas and workers).

Entry states: *pending* (waiting, possibly until a retry time), *running*
(claimed by a worker under a lease; an expired lease makes it pending
again), *done*, *dead* (failed ``max_attempts`` times; kept with its last
error until you requeue or drop it).
"""

from __future__ import annotations

import json
from typing import Protocol

import attrs

from .._exceptions import WebhookPayloadError
from ._event import WebhookEvent


@attrs.frozen
class InboxEntry:
    """One claimed delivery: the event, which attempt this is (1 = first), the claim's token, the stored body."""

    event: WebhookEvent
    attempt: int
    token: str = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)


@attrs.frozen
class DeadLetter:
    """A delivery that failed every attempt."""

    event: WebhookEvent
    attempts: int
    last_error: str


@attrs.frozen
class InboxStats:
    """How many entries are in each state (``done`` counts what the inbox still remembers)."""

    pending: int
    running: int
    dead: int
    done: int


class Inbox(Protocol):
    """Durable storage between a verifying receiver and the workers that run the handler."""

    async def append(self, event_id: str, body: bytes) -> bool:
        """Store a verified delivery durably; False if this id is already in the inbox (a redelivery).

        ``WebhookPayloadError`` (nothing stored) for a body that is not an event with this id.
        """

    async def claim(self, consumer: str, lease: float, limit: int) -> list[InboxEntry]:
        """Take up to ``limit`` due entries for ``lease`` seconds (expired leases of crashed workers included)."""

    async def complete(self, entry: InboxEntry) -> None:
        """The handler succeeded: the entry is done."""

    async def retry(self, entry: InboxEntry, delay: float, error: str) -> None:
        """The handler failed: make the entry due again in ``delay`` seconds, keeping ``error``."""

    async def dead_letter(self, entry: InboxEntry, error: str) -> None:
        """The handler failed for the last time: park the entry as dead with ``error``."""

    async def release(self, entry: InboxEntry) -> None:
        """The worker stopped before the handler finished (cancelled): due again now, this attempt not counted."""

    async def stats(self) -> InboxStats:
        """Counts per state, for dashboards and health checks."""

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The dead entries with their last error, oldest first."""

    async def requeue_dead(self) -> int:
        """Make every dead entry pending again with a fresh attempt budget; return how many."""

    async def aclose(self) -> None:
        """Release connections and threads."""


def event_of(body: bytes) -> WebhookEvent:
    """Rebuild the event from the stored body (it was verified before it was appended)."""
    return WebhookEvent.from_payload(json.loads(body))


def check_appendable(event_id: str, body: bytes) -> None:
    """Refuse what a worker could never settle: a body that does not parse, or whose id is not ``event_id``.

    Stored, it would fail every claim of its batch (or run forever: outcomes are recorded under the body's id).
    """
    try:
        event = event_of(body)
    except ValueError:  # not JSON, not UTF-8; a JSON non-event raises WebhookPayloadError itself
        raise WebhookPayloadError("an inbox body must be a JSON webhook event") from None
    if event.id != event_id:
        raise WebhookPayloadError("the body's id differs from the event id it is appended under")
