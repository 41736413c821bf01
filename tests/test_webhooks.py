"""Issue: webhooks. Verification, deduplication, resource fetch, the ASGI receiver, URL rules."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import Any

import httpx
import pytest
import respx

from fintoro_api import FintoroClient, NoRateLimit
from fintoro_api.models import WebhookEventType
from fintoro_api.webhooks import (
    Deleted,
    Fetched,
    InMemoryDedupStore,
    Lease,
    NoDetailEndpoint,
    ReceiverURLError,
    Seen,
    WebhookHeaderError,
    WebhookPayloadError,
    WebhookSignatureError,
    WebhookTimestampError,
    fetch_resource,
    show_operations,
    sign,
    validate_receiver_url,
    verify,
    webhook_app,
)

from .support.asgi import serve

SECRET = "whsec_SECRET_test_0123456789"
OLD_SECRET = "whsec_OLD_secret_9876543210"
NOW = 1_774_810_000


def event_body(event_id: str | None = None, event_type: str = "invoices.paid", **extra: Any) -> bytes:
    payload = {
        "id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "occurredAt": "2026-03-29T18:20:00Z",
        "resource": {"type": "invoice", "id": 301},
        **extra,
    }
    return json.dumps(payload).encode()


def delivery(body: bytes, *, secret: str = SECRET, timestamp: int = NOW, **override: str | None) -> dict[str, str]:
    headers = sign(body, secret, timestamp=timestamp)
    for name, value in override.items():
        key = name.replace("_", "-")
        if value is None:
            headers.pop(key)
        else:
            headers[key] = value
    return headers


BODY = event_body("5b4f7c3e-2f0e-4e55-9a41-1a2b3c4d5e6f")
OTHER = event_body("00000000-0000-0000-0000-000000000000")


def _flip(body: bytes) -> bytes:
    return body[:10] + bytes([body[10] ^ 0x01]) + body[11:]


BAD_DELIVERIES = [
    ("no webhook-id", BODY, delivery(BODY, webhook_id=None), WebhookHeaderError, 400),
    ("no webhook-timestamp", BODY, delivery(BODY, webhook_timestamp=None), WebhookHeaderError, 400),
    ("no webhook-signature", BODY, delivery(BODY, webhook_signature=None), WebhookHeaderError, 400),
    ("non-integer timestamp", BODY, delivery(BODY, webhook_timestamp="yesterday"), WebhookHeaderError, 400),
    ("signature not hex", BODY, delivery(BODY, webhook_signature="z" * 64), WebhookHeaderError, 400),
    ("301 s old", BODY, delivery(BODY, timestamp=NOW - 301), WebhookTimestampError, 401),
    ("301 s in the future", BODY, delivery(BODY, timestamp=NOW + 301), WebhookTimestampError, 401),
    ("wrong secret", BODY, delivery(BODY, secret="whsec_wrong"), WebhookSignatureError, 401),
    ("one flipped body byte", _flip(BODY), delivery(BODY), WebhookSignatureError, 401),
    ("signature of another body", BODY, delivery(OTHER, webhook_id=json.loads(BODY)["id"]), WebhookSignatureError, 401),
    ("empty body", b"", delivery(b"", webhook_id="x"), WebhookPayloadError, 400),
    ("valid signature over non-JSON", b"<xml/>", delivery(b"<xml/>", webhook_id="x"), WebhookPayloadError, 400),
    ("id differs from webhook-id", BODY, delivery(BODY, webhook_id="another-id"), WebhookPayloadError, 400),
    ("missing resource", event_body()[:-1] + b', "resource": null}', None, WebhookPayloadError, 400),
]


@pytest.mark.parametrize(
    ("case", "body", "headers", "error", "status"), BAD_DELIVERIES, ids=[c[0] for c in BAD_DELIVERIES]
)
def test_bad_deliveries_raise_their_exact_error(
    case: str, body: bytes, headers: dict[str, str] | None, error: type[Exception], status: int
) -> None:
    headers = headers if headers is not None else delivery(body, webhook_id=json.loads(body)["id"])
    with pytest.raises(error) as caught:
        verify(body, headers, SECRET, now=NOW)
    assert type(caught.value) is error
    assert caught.value.http_status == status
    assert SECRET not in str(caught.value)


def test_valid_deliveries_pass() -> None:
    headers = delivery(BODY)
    event = verify(BODY, headers, SECRET, now=NOW)
    assert event.id == "5b4f7c3e-2f0e-4e55-9a41-1a2b3c4d5e6f" and event.type is WebhookEventType.INVOICES_PAID
    assert event.occurred_at.utcoffset() is not None and event.resource.id == 301
    upper = {k.upper(): (v.upper() if k == "webhook-signature" else v) for k, v in headers.items()}
    assert verify(BODY, upper, SECRET, now=NOW).id == event.id, "header names and hex case do not matter"
    rotated = delivery(BODY, secret=OLD_SECRET)
    assert verify(BODY, rotated, [SECRET, OLD_SECRET], now=NOW).id == event.id, "a rotated secret list works"
    assert verify(BODY, delivery(BODY, timestamp=NOW - 300), SECRET, now=NOW).id == event.id


def test_unknown_event_types_and_extra_fields_are_kept() -> None:
    body = event_body(event_type="invoices.refunded", company={"id": 1, "name": "Acme"})
    event = verify(body, delivery(body), SECRET, now=NOW)
    assert event.type == "invoices.refunded" and not event.type.is_known
    assert event.payload["company"] == {"id": 1, "name": "Acme"}


def test_secrets_are_not_in_reprs() -> None:
    receiver = webhook_app(SECRET, _noop)
    assert SECRET not in repr(receiver)
    with pytest.raises(ValueError, match="at least one"):
        webhook_app([], _noop)


async def _noop(event: Any) -> None:
    return None


async def test_served_receiver_runs_the_full_collection_at_start_up_not_during_deliveries() -> None:
    # The first full collection after the imports stalls the loop ~20-30 ms (bench/webhook_inbox.py); the
    # receiver's own ASGI lifespan runs it before it says it is ready.
    import gc

    full_collections: list[str] = []
    messages = [{"type": "lifespan.shutdown"}, {"type": "lifespan.startup"}]
    sent: list[str] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full_collections.append(sent[-1] if sent else "before start-up completed")

    async def receive() -> dict[str, Any]:
        return messages.pop()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    gc.callbacks.append(watch)
    try:
        await webhook_app(SECRET, _noop)({"type": "lifespan"}, receive, send)
    finally:
        gc.callbacks.remove(watch)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert full_collections[:1] == ["before start-up completed"]


# --- deduplication ----------------------------------------------------------------------------------


async def test_dedup_store_claims_once_completes_expires_and_stays_bounded() -> None:
    now = [0.0]
    store = InMemoryDedupStore(max_size=3, clock=lambda: now[0])
    lease = await store.claim("a", lease=10)
    assert isinstance(lease, Lease)
    assert await store.claim("a", lease=10) is Seen.IN_PROGRESS
    now[0] = 11
    expired = await store.claim("a", lease=10)
    assert isinstance(expired, Lease), "a lease expires (a crashed attempt gives the id back)"
    await store.release(lease)  # the old holder's late release must not free the new claim
    assert await store.claim("a", lease=10) is Seen.IN_PROGRESS
    await store.complete(expired, ttl=100)
    assert await store.claim("a", lease=10) is Seen.DONE
    for key in "bcde":
        await store.claim(key, lease=100)
    assert len(store) == 3
    released = await store.claim("f", lease=100)
    assert isinstance(released, Lease)
    await store.release(released)
    assert isinstance(await store.claim("f", lease=100), Lease)


# --- the receiver under uvicorn -------------------------------------------------------------------------


async def test_receiver_handles_each_of_200_double_deliveries_exactly_once() -> None:
    handled: list[str] = []

    async def handler(event: Any) -> None:
        await asyncio.sleep(0.002)
        handled.append(event.id)

    bodies = [event_body() for _ in range(200)]
    limits = httpx.Limits(max_connections=40)
    async with (
        serve(webhook_app(SECRET, handler)) as url,
        httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http,
    ):
        pairs = asyncio.Semaphore(20)

        async def deliver(body: bytes) -> int:
            # Like Fintoro: a 409 (another attempt of this id is running) means "deliver again later".
            for _ in range(100):
                response = await http.post("/", content=body, headers=sign(body, SECRET))
                if response.status_code != 409:
                    return response.status_code
                await asyncio.sleep(0.01)
            return 409

        async def deliver_twice_at_once(body: bytes) -> list[int]:
            async with pairs:
                return list(await asyncio.gather(deliver(body), deliver(body)))

        statuses = [s for pair in await asyncio.gather(*(deliver_twice_at_once(b) for b in bodies)) for s in pair]
    assert statuses == [204] * 400
    assert len(handled) == 200 and len(set(handled)) == 200


async def test_failing_handler_answers_5xx_and_a_redelivery_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[str] = []

    async def flaky(event: Any) -> None:
        attempts.append(event.id)
        if len(attempts) == 1:
            raise RuntimeError("database unavailable")

    body = event_body()
    caplog.set_level(logging.INFO, logger="fintoro_api")
    async with serve(webhook_app(SECRET, flaky)) as url, httpx.AsyncClient(base_url=url) as http:
        first = await http.post("/", content=body, headers=sign(body, SECRET))
        again = await http.post("/", content=body, headers=sign(body, SECRET))
        third = await http.post("/", content=body, headers=sign(body, SECRET))
        too_big = await http.post("/", content=b"x" * (2 * 1024 * 1024), headers=sign(b"x", SECRET))
        unsigned = await http.post("/", content=body, headers=sign(body, "whsec_wrong"))
        not_post = await http.get("/")
    assert (first.status_code, again.status_code, third.status_code) == (500, 204, 204)
    assert len(attempts) == 2, "processed again after the failure, then deduplicated"
    assert (too_big.status_code, unsigned.status_code, not_post.status_code) == (413, 401, 405)
    assert SECRET not in caplog.text


# --- fetching the resource ----------------------------------------------------------------------------------


def test_every_event_type_maps_to_a_show_operation_or_says_why_not(spec: dict[str, Any]) -> None:
    event_types = spec["components"]["schemas"]["WebhookEventType"]["enum"]
    assert event_types and len(event_types) == len(set(event_types))
    assert sorted(event_types) == sorted(member.value for member in WebhookEventType)
    shows = show_operations()
    unmapped = sorted({t.rsplit(".", 1)[0] for t in event_types if t.rsplit(".", 1)[0] not in shows})
    for collection in unmapped:  # no detail endpoint in the spec: no GET /<collection>/{id} at all
        assert not any(
            re.fullmatch(rf"/{re.escape(collection)}/\{{[^}}/]+\}}", path) and "get" in item
            for path, item in spec["paths"].items()
        ), collection
    for event_type in event_types:
        collection = event_type.rsplit(".", 1)[0]
        if collection in shows:
            assert shows[collection].path.startswith(f"/{collection}/{{"), event_type
    assert shows["price-list-items"].operation_id == "showPriceListItem"
    assert shows["invoices"].operation_id == "showInvoice"


@respx.mock
async def test_fetch_resource_returns_the_typed_detail_or_an_explicit_outcome() -> None:
    respx.get("https://api.test/invoices/301").respond(200, json={"id": 301, "number": "20260001"})
    respx.get("https://api.test/clients/42").respond(404, json={"message": "No query results for model."})
    async with FintoroClient("t", base_url="https://api.test", rate_limiter=NoRateLimit()) as client:

        def event(event_type: str, rid: int = 301) -> Any:
            body = event_body(event_type=event_type)
            body = body.replace(b'"id": 301', f'"id": {rid}'.encode())
            return verify(body, delivery(body), SECRET, now=NOW)

        fetched = await fetch_resource(event("invoices.paid"), client)
        assert isinstance(fetched, Fetched) and fetched.resource.id == 301
        assert type(fetched.resource).__name__ == "Invoice"
        gone = await fetch_resource(event("clients.updated", 42), client)
        assert isinstance(gone, Deleted) and "404" in gone.reason
        deleted = await fetch_resource(event("invoices.deleted"), client)
        assert isinstance(deleted, Deleted)
        received = await fetch_resource(event("received-invoices.created"), client)
        assert isinstance(received, NoDetailEndpoint) and "no GET /received-invoices" in received.reason


# --- receiver URL rules ---------------------------------------------------------------------------------------


def _resolver(addresses: list[str]) -> Any:
    async def resolve(host: str) -> list[str]:
        return addresses

    return resolve


@pytest.mark.parametrize(
    ("url", "addresses", "message"),
    [
        ("http://hooks.example.com/in", ["93.184.216.34"], "https://"),
        ("https://user:pw@hooks.example.com/in", ["93.184.216.34"], "user name or password"),
        ("https://localhost/in", [], "local"),
        ("https://printer.local/in", [], "local"),
        ("https://127.0.0.1/in", [], "non-public"),
        ("https://10.1.2.3/in", [], "non-public"),
        ("https://169.254.1.1/in", [], "non-public"),
        ("https://[::1]/in", [], "non-public"),
        ("https://hooks.example.com/in", ["93.184.216.34", "192.168.1.5"], "192.168.1.5"),
        ("https://hooks.example.com/in", ["240.0.0.1"], "non-public"),
    ],
)
async def test_receiver_url_rules(url: str, addresses: list[str], message: str) -> None:
    with pytest.raises(ReceiverURLError, match=message):
        await validate_receiver_url(url, resolver=_resolver(addresses))


async def test_public_https_receiver_url_passes() -> None:
    url = "https://hooks.example.com/fintoro"
    assert await validate_receiver_url(url, resolver=_resolver(["93.184.216.34", "2606:2800:220:1::1"])) == url


def test_sign_produces_headers_that_verify_now() -> None:
    body = event_body()
    assert verify(body, sign(body, SECRET), SECRET).id == json.loads(body)["id"]
    assert abs(int(sign(body, SECRET)["webhook-timestamp"]) - time.time()) < 5
