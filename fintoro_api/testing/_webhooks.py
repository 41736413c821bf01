"""Outbound webhooks as Fintoro sends them: thin signed events, at least once, on Fintoro's retry schedule.

Each create/update/delete queues one delivery per active subscription of the
company subscribed to the event type. ``deliver_due()`` sends what is due on
the fake's clock: POST of the JSON body with ``webhook-id``,
``webhook-timestamp`` (the real send time) and ``webhook-signature`` (fintoro_api.webhooks.sign,
the subscription's current secret), the receiver URL checked again before
every send. Non-2xx, a network error or a timeout (10 s) schedules the next of
5 attempts, 10 s, 100 s, 1000 s and 10000 s after the previous one.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from ..webhooks import ReceiverURLError, sign, validate_receiver_url
from ._clock import Clock
from ._store import Company

BACKOFF_S = (10.0, 100.0, 1000.0, 10000.0)
MAX_ATTEMPTS = 1 + len(BACKOFF_S)
TIMEOUT_S = 10.0
# A registered in-process receiver's host resolves here (a public address, never contacted).
_REGISTERED_ADDRESS = "93.184.215.14"

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[MutableMapping[str, Any]]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]
Resolver = Callable[[str], Awaitable[list[str]]]


def resource_type(collection: str) -> str:
    """``business-case-statuses`` -> ``businessCaseStatus`` (Fintoro's camelCase singular)."""
    head, *rest = collection.split("-")
    words = [head, *(word.capitalize() for word in rest)]
    last = words[-1]
    words[-1] = last[:-2] if last.endswith(("uses", "sses")) else last[:-1] if last.endswith("s") else last
    return "".join(words)


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


@attrs.define(eq=False)
class Attempt:
    at: float  # fake-clock time of the send
    status: int | None  # the receiver's status, None on a network error or a refused URL
    error: str | None = None


@attrs.define(eq=False)
class Delivery:
    """One event for one subscription, with every attempt made so far."""

    company: Company
    subscription_id: int
    url: str
    event: dict[str, Any]
    body: bytes
    next_at: float | None  # when the next attempt is due; None once delivered or given up
    attempts: list[Attempt] = attrs.field(factory=list)

    @property
    def type(self) -> str:
        return str(self.event["type"])

    @property
    def delivered(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].status is not None and 200 <= self.attempts[-1].status < 300

    @property
    def failed(self) -> bool:
        return not self.delivered and len(self.attempts) >= MAX_ATTEMPTS


class Dispatcher:
    def __init__(self, clock: Clock, resolver: Resolver | None = None, *, receiver_rules: bool = True) -> None:
        self.clock = clock
        self.receiver_rules = receiver_rules
        self.deliveries: list[Delivery] = []
        self._receivers: dict[str, ASGIApp] = {}  # scheme://host[:port] -> in-process app
        self._resolver = resolver

    def register(self, url: str, app: ASGIApp) -> None:
        parts = urlsplit(url)
        self._receivers[f"{parts.scheme}://{parts.netloc}".lower()] = app

    async def resolve(self, host: str) -> list[str]:
        """Addresses of ``host``: a registered in-process receiver's host counts as public; else the resolver or DNS."""
        if any(urlsplit(origin).hostname == host for origin in self._receivers):
            return [_REGISTERED_ADDRESS]
        if self._resolver is not None:
            return await self._resolver(host)
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return sorted({str(info[4][0]) for info in infos})

    async def check_url(self, url: str) -> str:
        """Fintoro's receiver URL rules (fintoro_api.webhooks.validate_receiver_url) with this resolver.

        With ``receiver_rules=False`` (local development only, unlike Fintoro) any http(s) URL is accepted.
        """
        if not self.receiver_rules and urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname:
            return url
        return await validate_receiver_url(url, resolver=self.resolve)

    def emit(self, company: Company, event_type: str, collection: str, resource_id: int) -> None:
        now = self.clock.now()
        for subscription in company.collection("webhook-subscriptions").values():
            if not subscription.get("isActive") or event_type not in subscription.get("subscribedEvents", []):
                continue
            event = {
                "id": str(uuid.uuid4()),
                "type": event_type,
                "occurredAt": iso(now),
                "resource": {"type": resource_type(collection), "id": resource_id},
                "company": {"id": company.id, "name": company.name},
            }
            body = json.dumps(event, separators=(",", ":")).encode()
            self.deliveries.append(
                Delivery(company, int(subscription["id"]), str(subscription["url"]), event, body, now)
            )

    async def deliver_due(self) -> list[Delivery]:
        """Send every delivery due on the clock now; return those attempted."""
        now = self.clock.now()
        due = [d for d in self.deliveries if d.next_at is not None and d.next_at <= now]
        for delivery in due:
            delivery.next_at = None  # in flight: a concurrent deliver_due() must not send it again
        pending = list(due)
        try:
            while pending:
                await self._attempt(pending[0], now)
                pending.pop(0)
        finally:  # cancelled or failed midway: what was not attempted stays due, uncounted
            for delivery in pending:
                delivery.next_at = now
        return due

    async def _attempt(self, delivery: Delivery, now: float) -> None:
        secret = delivery.company.webhook_secrets.get(delivery.subscription_id)
        subscription = delivery.company.collection("webhook-subscriptions").get(delivery.subscription_id)
        if secret is None or subscription is None:  # the subscription was deleted: nothing more to send
            delivery.next_at = None
            return
        status: int | None = None
        error: str | None = None
        try:
            await self.check_url(delivery.url)
            # Stamped with the real send time: receivers check it against their own (real) clock, so the
            # fake clock, which only schedules the attempts, must not make every delivery stale.
            sent_at = int(time.time())
            headers = {"content-type": "application/json", **sign(delivery.body, secret, timestamp=sent_at)}
            status = await self._post(delivery.url, delivery.body, headers)
        except ReceiverURLError as exc:
            error = f"receiver URL refused: {exc}"
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery.attempts.append(Attempt(now, status, error))
        stamp = iso(now)
        if delivery.delivered:
            delivery.next_at = None
            subscription["lastSuccessAt"] = stamp
        else:
            subscription["lastFailureAt"] = stamp
            count = len(delivery.attempts)
            delivery.next_at = now + BACKOFF_S[count - 1] if count < MAX_ATTEMPTS else None

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        parts = urlsplit(url)
        app = self._receivers.get(f"{parts.scheme}://{parts.netloc}".lower())
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False) if app is not None else None
        # In process there is no socket for httpx's timeout to watch: bound the whole exchange instead.
        try:
            async with asyncio.timeout(TIMEOUT_S), httpx.AsyncClient(transport=transport, timeout=TIMEOUT_S) as http:
                response = await http.post(url, content=body, headers=headers)
                return response.status_code
        except TimeoutError:
            raise httpx.ReadTimeout(f"the receiver did not answer within {TIMEOUT_S:g} s") from None
