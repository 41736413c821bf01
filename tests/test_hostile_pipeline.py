"""Issue 13: the request pipeline against hostile servers on 127.0.0.1 (raw sockets and uvicorn).

Each test attacks one README promise the way a broken or malicious server
(or a careless caller) would, and checks what reached the wire.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from fintoro_api import (
    AlreadyDeletedError,
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    FintoroClient,
    IdempotencyConflictError,
    NoRateLimit,
    NotFoundError,
    RateLimitDeadlineError,
    RateLimitError,
    RedirectError,
    RetryPolicy,
    ServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
    ValidationError,
)
from fintoro_api._ratelimit import WaitTooLong
from fintoro_api.api.invoices import delete_invoice
from fintoro_api.api.orders import create_order
from fintoro_api.models import OrderInput

from .support.asgi import read_body, respond, serve
from .support.rawhttp import Recorder, Reply, Request, raw_server

TOKEN = "tok_live_HOSTILE_0123456789abcdef"
JSON = {"Content-Type": "application/json"}
WHOAMI = b'{"name": "Acme"}'
COUNTRIES = json.dumps({"data": [{"id": 1, "name": "Slovensko", "code": "SK"}]}).encode()
ORDER = {"clientId": 101, "items": [{"quantity": 1, "priceListItemId": 5}]}
FAST = RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.01)


def client_for(url: str, token: str = TOKEN, **options: Any) -> FintoroClient:
    options.setdefault("rate_limiter", NoRateLimit())
    return FintoroClient(token, base_url=url, **options)


# --- 1. the token never reaches an exception message ---------------------------------------------


@pytest.mark.parametrize("bad", [TOKEN + "\n", " " + TOKEN, TOKEN + "\r\nX-Injected: 1", "tok en", "tök_" + TOKEN])
async def test_a_token_that_cannot_be_a_header_is_refused_at_construction_without_echo(bad: str) -> None:
    server = Recorder(lambda r: Reply(200, JSON, WHOAMI))
    async with raw_server(server) as url:
        with pytest.raises(ValueError, match="token") as caught:
            FintoroClient(bad, base_url=url)
        assert TOKEN not in str(caught.value) and "tok en" not in str(caught.value)
        async with client_for(url) as client:
            with pytest.raises(ValueError, match="token") as scoped:
                client.with_token(bad)
            assert TOKEN not in str(scoped.value)
    assert server.seen == []


async def test_an_illegal_header_value_fails_once_and_its_text_is_never_quoted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fintoro_api")
    server = Recorder(lambda r: Reply(200, JSON, WHOAMI))
    smuggled = "sk\r\nX-Smuggled: SMUGGLED_SECRET"
    async with raw_server(server) as url, client_for(url, retry=FAST) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.get_async_httpx_client().request("GET", "/whoami", headers={"X-Note": smuggled})
    error = caught.value
    assert "LocalProtocolError" in str(error)
    shown = [str(error), repr(error), str(error.__cause__), caplog.text]
    assert not any("SMUGGLED_SECRET" in text or TOKEN in text for text in shown)
    assert error.__cause__ is None and error.__suppress_context__
    assert server.seen == []
    assert caplog.text.count("-> LocalProtocolError") == 1, "a request-side error is not retried"


# --- 2. cookies never persist ------------------------------------------------------------------------


async def test_cookies_set_by_the_server_never_come_back_in_any_scope_or_client() -> None:
    def set_cookie(request: Request) -> Reply:
        company = request.headers.get("authorization", "")[-1:]
        return Reply(200, {**JSON, "Set-Cookie": f"session=company-{company}; Path=/"}, WHOAMI)

    server = Recorder(set_cookie)
    async with raw_server(server) as url:
        async with client_for(url, token="tok_A") as client_a:
            client_b = client_a.with_token("tok_B")
            for client in (client_a, client_a, client_b, client_a, client_b):
                await client.whoami.show()
        # A caller's own http_client with a cookie of its own and a jar that accepts cookies.
        async with (
            httpx.AsyncClient(cookies={"theirs": "1"}) as http,
            client_for(url, token="tok_C", http_client=http) as client_c,
        ):
            await client_c.whoami.show()
            await client_c.with_token("tok_D").whoami.show()
    assert len(server.seen) == 7
    assert [r.headers.get("cookie") for r in server.seen] == [None] * 7


# --- 3. the lookup cache: compression and revoked tokens ----------------------------------------------


async def test_a_gzip_lookup_is_cached_decoded_and_replays_as_plain_json() -> None:
    server = Recorder(lambda r: Reply(200, {**JSON, "Content-Encoding": "gzip"}, gzip.compress(COUNTRIES)))
    async with raw_server(server) as url, client_for(url) as client:
        results = [await client.countries.list() for _ in range(3)]
    assert [country.code for result in results for country in result.data] == ["SK", "SK", "SK"]
    assert len(server.seen) == 1
    assert "gzip" in server.seen[0].headers["accept-encoding"]


async def test_a_revoked_token_gets_its_own_401_not_another_tokens_cached_lookup() -> None:
    def by_token(request: Request) -> Reply:
        if request.headers.get("authorization") == "Bearer tok_revoked":
            return Reply(401, JSON, b'{"message": "Unauthenticated."}')
        return Reply(200, JSON, COUNTRIES)

    server = Recorder(by_token)
    async with raw_server(server) as url, client_for(url, token="tok_good") as client:
        await client.countries.list()
        with pytest.raises(AuthenticationError):
            await client.with_token("tok_revoked").countries.list()
        await client.countries.list()
    assert [r.headers["authorization"] for r in server.seen] == ["Bearer tok_good", "Bearer tok_revoked"]


# --- 4. Idempotency-Keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "   ", "two words", "k\n", "x" * 256])
async def test_an_unusable_idempotency_key_is_a_value_error_and_nothing_is_sent(key: str) -> None:
    server = Recorder(lambda r: Reply(201, JSON, b'{"id": 1}'))
    async with raw_server(server) as url, client_for(url) as client:
        with pytest.raises(ValueError, match="idempotency_key"):
            await create_order.asyncio(client=client, body=OrderInput.from_dict(ORDER), idempotency_key=key)
    assert server.seen == []


async def test_a_callers_key_is_resent_after_a_drop_and_the_server_commits_once() -> None:
    stored: dict[str, bytes] = {}

    def commit_then_drop(request: Request) -> Reply:
        key = request.headers["idempotency-key"]
        if key not in stored:
            stored[key] = request.body
            return Reply(drop_before_response=True)
        return Reply(201, {**JSON, "Idempotency-Status": "Repeated"}, b'{"id": 1, "number": "OBJ-1"}')

    server = Recorder(commit_then_drop)
    async with raw_server(server) as url, client_for(url, retry=FAST) as client:
        order = await create_order.asyncio(
            client=client, body=OrderInput.from_dict(ORDER), idempotency_key="order-4711"
        )
    assert order.id == 1 and list(stored) == ["order-4711"]
    assert [r.headers["idempotency-key"] for r in server.seen] == ["order-4711", "order-4711"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (409, b'{"message": "Idempotency-Key already used with a different payload."}'),
        (422, b'{"error": "Idempotency-Key reused with different request payload"}'),
    ],
)
async def test_an_idempotency_conflict_in_either_shape_is_caught_as_conflict_and_validation(
    status: int, body: bytes
) -> None:
    server = Recorder(lambda r: Reply(status, JSON, body))
    async with raw_server(server) as url, client_for(url) as client:
        with pytest.raises(ValidationError) as caught:
            await create_order.asyncio(client=client, body=OrderInput.from_dict(ORDER), idempotency_key="k-1")
    assert isinstance(caught.value, IdempotencyConflictError) and isinstance(caught.value, ConflictError)
    assert len(server.seen) == 1


# --- 5. header parsing never raises ---------------------------------------------------------------------


@pytest.mark.parametrize("reset", ["1000000000000", "-5", "99999999999999999999999", "soon", "1e9", ""])
async def test_absurd_rate_limit_headers_never_raise(reset: str) -> None:
    headers = {**JSON, "X-RateLimit-Limit": reset, "X-RateLimit-Remaining": reset, "X-RateLimit-Reset": reset}

    def answer(request: Request) -> Reply:
        if request.path.endswith("/limited"):
            return Reply(429, {**headers, "Retry-After": reset or "x"}, b'{"message": "Too Many Attempts."}')
        return Reply(200, headers, WHOAMI)

    server = Recorder(answer)
    async with raw_server(server) as url, client_for(url, rate_limiter=None, max_retries=0) as client:
        assert (await client.whoami.show()).name == "Acme"
        with pytest.raises(TooManyRequestsError) as caught:
            await client.get_async_httpx_client().request("GET", "/limited")
    assert caught.value.reset_at is None


# --- 6. one total deadline per call ----------------------------------------------------------------------


async def test_a_dripping_server_cannot_stretch_a_call_past_its_deadline() -> None:
    # One byte every 0.1 s never trips a per-read timeout; only a total deadline ends it.
    server = Recorder(lambda r: Reply(200, JSON, b'{"name": "' + b"A" * 60 + b'"}', drip_interval=0.1))
    async with raw_server(server) as url, client_for(url, timeout=1.0, retry=FAST) as client:
        with pytest.raises(APITimeoutError, match="deadline of 1 s"):
            await client.whoami.show()
    assert len(server.seen) == 1, "the deadline is spent: no retry starts a fresh one"


async def test_retries_share_the_deadline_instead_of_each_getting_a_fresh_one() -> None:
    server = Recorder(lambda r: Reply(503, {**JSON, "Retry-After": "0.4"}, b'{"message": "down"}'))
    async with raw_server(server) as url, client_for(url, timeout=1.0, max_retries=10) as client:
        with pytest.raises(ServiceUnavailableError):
            await client.whoami.show()
    # 0.4 s apart inside 1 s: at most three attempts fit, never the eleven max_retries allows.
    assert 1 <= len(server.seen) <= 3


class BudgetLimiter:
    """A limiter whose next slot is ``wait`` seconds away; refuses like the agreed interface."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.max_waits: list[float | None] = []

    async def acquire(self, key: str, *, max_wait: float | None = None) -> None:
        self.max_waits.append(max_wait)
        if max_wait is not None and self.wait > max_wait:
            raise WaitTooLong(self.wait, "company budget spent")
        await asyncio.sleep(self.wait)

    async def observe(self, key: str, headers: Mapping[str, str], status: int) -> None:
        return None


async def test_a_rate_limit_wait_past_the_deadline_is_a_rate_limit_error_and_nothing_is_sent() -> None:
    server = Recorder(lambda r: Reply(200, JSON, WHOAMI))
    limiter = BudgetLimiter(wait=30.0)
    async with raw_server(server) as url, client_for(url, timeout=5.0, rate_limiter=limiter) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.whoami.show()
    assert isinstance(caught.value, RateLimitDeadlineError) and caught.value.retry_after == 30.0
    assert limiter.max_waits[0] is not None and 0 < limiter.max_waits[0] <= 5.0
    assert server.seen == []


# --- 7. redirects and a caller's http_client ----------------------------------------------------------------


async def test_redirects_are_never_followed_even_by_a_following_http_client() -> None:
    elsewhere = Recorder(lambda r: Reply(201, JSON, b'{"id": 666}'))
    async with raw_server(elsewhere) as evil:
        api = Recorder(lambda r: Reply(307, {"Location": f"{evil}/steal?key=SECRET_QUERY"}))
        async with (
            raw_server(api) as url,
            httpx.AsyncClient(follow_redirects=True, headers={"X-Their-Header": "LEAK"}) as http,
            client_for(url, http_client=http) as client,
        ):
            with pytest.raises(RedirectError) as caught:
                await create_order.asyncio(client=client, body=OrderInput.from_dict(ORDER), idempotency_key="k-9")
    assert elsewhere.seen == [], "neither the body, the key nor the token went to the other origin"
    assert caught.value.location_origin == evil
    assert evil in str(caught.value) and "steal" not in str(caught.value) and "SECRET_QUERY" not in str(caught.value)
    assert len(api.seen) == 1 and "x-their-header" not in api.seen[0].headers


# --- 8. the smaller ones --------------------------------------------------------------------------------------


def test_a_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="user name or password") as caught:
        FintoroClient(TOKEN, base_url="https://admin:PASSWORD_123@app.fintoro.sk/api/public/v1")
    assert "PASSWORD_123" not in str(caught.value)


async def test_json_nested_100k_deep_is_a_typed_error_not_a_recursion_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    def answer(request: Request) -> Reply:
        return Reply(200 if request.path.endswith("/whoami") else 500, JSON, deep)

    async with raw_server(Recorder(answer)) as url, client_for(url, max_retries=0) as client:
        with pytest.raises(APIResponseValidationError, match="nested too deeply"):
            await client.whoami.show()
        with pytest.raises(ServerError) as caught:
            await client.invoices.show(1)
    assert caught.value.status_code == 500 and isinstance(caught.value.body, str)


async def test_a_delete_retried_after_a_drop_and_answered_404_says_it_was_already_deleted() -> None:
    invoices = {7}

    def delete_then_drop(request: Request) -> Reply:
        if 7 in invoices:
            invoices.discard(7)
            return Reply(drop_before_response=True)
        return Reply(404, JSON, b'{"message": "No query results for model."}')

    server = Recorder(delete_then_drop)
    async with raw_server(server) as url, client_for(url, retry=FAST) as client:
        with pytest.raises(NotFoundError) as caught:
            await delete_invoice.asyncio(7, client=client)
        assert isinstance(caught.value, AlreadyDeletedError)
        # A first attempt answered 404 is a plain NotFoundError: nothing says it ever existed.
        with pytest.raises(NotFoundError) as plain:
            await delete_invoice.asyncio(7, client=client)
    assert not isinstance(plain.value, AlreadyDeletedError)
    assert invoices == set() and len(server.seen) == 3


# --- connection reuse -------------------------------------------------------------------------------------------


async def test_1000_requests_at_concurrency_100_open_no_more_connections_than_the_pool_holds() -> None:
    connections: set[tuple[str, int]] = set()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        connections.add(tuple(scope["client"]))
        await read_body(receive)
        await respond(send, 200, {"name": "Acme"})

    async with serve(app) as url, client_for(url) as client:
        gate = asyncio.Semaphore(100)

        async def one() -> str:
            async with gate:
                return (await client.whoami.show()).name

        for _ in range(2):  # two bursts: the second must reuse the first one's connections
            names = await asyncio.gather(*(one() for _ in range(500)))
            assert set(names) == {"Acme"}
    assert len(connections) <= 20, f"{len(connections)} connections for a pool of 20"


async def test_an_environment_proxy_is_honoured_and_its_set_cookie_never_comes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = Recorder(lambda r: Reply(200, {**JSON, "Set-Cookie": "via=proxy; Path=/"}, WHOAMI))
    async with raw_server(proxy) as proxy_url:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        async with client_for("http://api.test/v1") as client:
            assert (await client.whoami.show()).name == "Acme"
            assert (await client.with_token("tok_other").whoami.show()).name == "Acme"
    assert [r.target for r in proxy.seen] == ["http://api.test/v1/whoami"] * 2
    assert [r.headers.get("cookie") for r in proxy.seen] == [None, None]


async def test_a_download_redirected_elsewhere_saves_nothing_and_names_only_the_origin(tmp_path: Path) -> None:
    storage = Recorder(lambda r: Reply(200, {"Content-Type": "application/pdf"}, b"%PDF-1.7 elsewhere"))
    async with raw_server(storage) as other:
        api = Recorder(lambda r: Reply(302, {"Location": f"{other}/bucket/invoice-301.pdf?signature=SIGNED"}))
        async with raw_server(api) as url, client_for(url) as client:
            with pytest.raises(RedirectError) as caught:
                await client.save("/invoices/301/pdf", tmp_path / "invoice.pdf")
    assert storage.seen == [] and list(tmp_path.iterdir()) == []
    assert caught.value.location_origin == other and "SIGNED" not in str(caught.value)
