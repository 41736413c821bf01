"""Webhooks under hostile review: secrets kept out of debug output, unusable secrets refused, ambiguous headers."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import subprocess
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from fintoro_api._secrets import Secret
from fintoro_api.webhooks import WebhookHeaderError, WebhookSignatureError, sign, verify, webhook_app

from .support.asgi import serve

SECRET = "whsec_REVIEW_secret_0123456789"
OLD_SECRET = "whsec_REVIEW_old_9876543210"
SERVED_SECRET = "whsec_gc_served_receiver_0123"  # tests/support/gc_served_receiver.py's
ROOT = Path(__file__).resolve().parent.parent


def event_body() -> bytes:
    payload = {
        "id": str(uuid.uuid4()),
        "type": "invoices.paid",
        "occurredAt": "2026-03-29T18:20:00Z",
        "resource": {"type": "invoice", "id": 301},
    }
    return json.dumps(payload).encode()


async def _noop(event: Any) -> None:
    return None


def _shows_a_secret(text: str) -> bool:
    return any(s in text for s in (SECRET, OLD_SECRET))


# --- secrets stay out of what debug tools dump ------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [SECRET, Secret(SECRET), [Secret(SECRET), OLD_SECRET]],
    ids=["str", "Secret", "rotation list"],
)
def test_a_receiver_keeps_its_secrets_out_of_vars_pickles_and_copies(secret: Any) -> None:
    receiver = webhook_app(secret, _noop)
    # What debuggers, Sentry-style "local variables" and `print(vars(app))` show.
    assert not _shows_a_secret(repr(vars(receiver)))
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(receiver)
    # The key set is immutable: a copy shares it and still verifies, and shows nothing either.
    for duplicate in (copy.copy(receiver), copy.deepcopy(receiver)):
        assert not _shows_a_secret(repr(vars(duplicate)))
        assert vars(duplicate)["_keys"] is vars(receiver)["_keys"]


def test_a_failed_verification_traceback_with_locals_shows_no_secret() -> None:
    body = event_body()
    headers = {**sign(body, SECRET), "webhook-signature": "0" * 64}
    with pytest.raises(WebhookSignatureError) as caught:
        verify(body, headers, [Secret(SECRET), Secret(OLD_SECRET)])
    rendered = "".join(traceback.TracebackException.from_exception(caught.value, capture_locals=True).format())
    assert "keys" in rendered, "the frames' locals were rendered"
    assert not _shows_a_secret(rendered)


# --- secrets that could never verify a delivery fail at construction -------------------------------------


@pytest.mark.parametrize(
    ("secret", "error", "message"),
    [
        (None, TypeError, "webhook secret is None"),
        ([SECRET, None], TypeError, "webhook secret is None"),
        (b"whsec_bytes", TypeError, "a str or Secret, not bytes"),
        (12345, TypeError, "a str or Secret, not int"),
        ("", ValueError, "empty"),
        ("   ", ValueError, "empty"),
        (SECRET + "\n", ValueError, "leading or trailing whitespace"),
        (Secret(" " + SECRET), ValueError, "leading or trailing whitespace"),
        ([OLD_SECRET, SECRET + "\r\n"], ValueError, "leading or trailing whitespace"),
        ([], ValueError, "at least one webhook secret"),
    ],
    ids=[
        "None",
        "None in a list",
        "bytes",
        "int",
        "empty",
        "blank",
        "newline",
        "space in Secret",
        "CRLF in list",
        "[]",
    ],
)
def test_a_secret_that_cannot_verify_anything_fails_at_construction_clearly(
    secret: Any, error: type[Exception], message: str
) -> None:
    # An unset environment variable (None) or a secret read from a file with its newline would otherwise
    # answer every delivery 401 (or crash on the first one) until Fintoro gives up on the subscription.
    with pytest.raises(error, match=message) as caught:
        webhook_app(secret, _noop)
    assert not _shows_a_secret(str(caught.value))
    with pytest.raises(error, match=message):
        verify(b"{}", {}, secret)


# --- ambiguous deliveries ---------------------------------------------------------------------------------


async def test_two_different_values_of_one_webhook_header_get_400_whatever_their_order() -> None:
    handled: list[str] = []

    async def handler(event: Any) -> None:
        handled.append(event.id)

    body = event_body()
    good = sign(body, SECRET)
    forged = "0" * 64
    base = [(name, value) for name, value in good.items() if name != "webhook-signature"]
    cases = {
        "good then forged": [*base, ("webhook-signature", good["webhook-signature"]), ("webhook-signature", forged)],
        "forged then good": [*base, ("Webhook-Signature", forged), ("webhook-signature", good["webhook-signature"])],
        "two ids": [*good.items(), ("webhook-id", str(uuid.uuid4()))],
    }
    async with serve(webhook_app(SECRET, handler)) as url, httpx.AsyncClient(base_url=url) as http:
        answers = {case: await http.post("/", content=body, headers=headers) for case, headers in cases.items()}
        repeated = [*good.items(), ("webhook-signature", good["webhook-signature"])]
        same_twice = await http.post("/", content=body, headers=repeated)
    for case, answer in answers.items():
        assert answer.status_code == 400, case
        assert "more than one" in answer.json()["error"], case
    assert same_twice.status_code == 204, "the same value twice is not ambiguous"
    assert handled == [json.loads(body)["id"]]


def test_verify_refuses_a_header_given_twice_in_different_case_with_different_values() -> None:
    body = event_body()
    good = sign(body, SECRET)
    headers = {**good, "Webhook-Signature": "0" * 64}
    with pytest.raises(WebhookHeaderError, match="more than one webhook-signature"):
        verify(body, headers, SECRET)
    assert verify(body, {**good, "WEBHOOK-SIGNATURE": good["webhook-signature"]}, SECRET).id == good["webhook-id"]


@pytest.mark.parametrize("declared", ["\u00b2", "9" * 5000], ids=["superscript digit", "5000 digits"])
async def test_a_content_length_only_a_broken_server_would_pass_is_no_crash(declared: str) -> None:
    # h11 and httptools reject these before the app; a non-compliant server or a test client may not.
    body = event_body()
    headers = [(k.encode(), v.encode()) for k, v in sign(body, SECRET).items()]
    headers.append((b"content-length", declared.encode("latin-1")))
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop() if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await webhook_app(SECRET, _noop)(scope, receive, send)
    assert sent[0]["status"] in (204, 413)


# --- the start-up collection under real uvicorn -----------------------------------------------------------


async def _serve_and_deliver(lifespan: str, deliveries: int, tmp_path: Path) -> list[str]:
    """The phases of the full collections in a fresh uvicorn process serving ``deliveries`` signed deliveries."""
    command = [sys.executable, "-m", "tests.support.gc_served_receiver", lifespan, str(tmp_path / f"{lifespan}.db")]
    with subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None and server.stdin is not None
            port = int((await asyncio.to_thread(server.stdout.readline)).split()[1])
            limits = httpx.Limits(max_connections=20)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as http:
                gate = asyncio.Semaphore(20)

                async def deliver() -> int:
                    body = event_body()
                    async with gate:
                        return (await http.post("/", content=body, headers=sign(body, SERVED_SECRET))).status_code

                statuses = await asyncio.gather(*(deliver() for _ in range(deliveries)))
            assert statuses == [204] * deliveries
            server.stdin.close()  # the server stops and reports
            report = await asyncio.to_thread(server.stdout.read)
            assert await asyncio.to_thread(server.wait, 30) == 0
        finally:
            if server.poll() is None:
                server.kill()
    phases: list[str] = json.loads(report.strip().splitlines()[-1])["full_collections"]
    return phases


async def test_under_uvicorn_the_full_collection_runs_in_the_lifespan_start_up_not_among_deliveries(
    tmp_path: Path,
) -> None:
    # README: served on its own, the receiver pays the collection the imports leave due at start-up. uvicorn's
    # default lifespan ("auto") runs it; with --lifespan off it never runs (README says so), and a fresh process
    # shows no full collection during start-up at all.
    served = await _serve_and_deliver("auto", 300, tmp_path)
    assert served.count("lifespan start-up") == 1
    assert "serving" not in served, "no full collection stalled the 300 deliveries"
    without_lifespan = await _serve_and_deliver("off", 20, tmp_path)
    assert "lifespan start-up" not in without_lifespan


# --- a body that never finishes arriving --------------------------------------------------------------------


async def test_a_body_dripped_slower_than_read_timeout_gets_408_and_runs_nothing() -> None:
    # Fintoro sends its small body at once and gives up after 10 s; a client that sends the headers and part of
    # the body, then nothing (or a byte now and then), held the request open for as long as it liked.
    handled: list[str] = []

    async def handler(event: Any) -> None:
        handled.append(event.id)

    body = event_body()
    head = "".join(f"{name}: {value}\r\n" for name, value in sign(body, SECRET).items())
    request = f"POST / HTTP/1.1\r\nhost: 127.0.0.1\r\n{head}content-length: {len(body)}\r\n\r\n".encode()
    async with serve(webhook_app(SECRET, handler, read_timeout=0.5)) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
        writer.write(request + body[:10])
        await writer.drain()

        async def drip() -> None:
            for byte in body[10:-1]:  # never the last byte
                await asyncio.sleep(0.05)
                writer.write(bytes([byte]))

        dripping = asyncio.create_task(drip())
        try:
            status_line = await asyncio.wait_for(reader.readline(), timeout=30)
        finally:
            dripping.cancel()
            writer.close()
    assert status_line.startswith(b"HTTP/1.1 408 ")
    assert handled == []
    with pytest.raises(ValueError, match="read_timeout"):
        webhook_app(SECRET, handler, read_timeout=0)
