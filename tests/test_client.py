"""Issue: client layer. FintoroClient, scopes, typed errors, request ids, facade, redaction."""

from __future__ import annotations

import asyncio
import enum
import importlib
import inspect
import logging
import os
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest
import respx

import fintoro_api
from fintoro_api import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    FintoroClient,
    IdempotencyConflictError,
    NoRateLimit,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnsafeURLError,
    ValidationError,
)
from fintoro_api._spec_index import OPERATIONS
from fintoro_api.api.countries import list_countries
from fintoro_api.api.invoices import create_invoice, show_invoice
from fintoro_api.models import BankAccountCreateInput, ClientCreateInput, InvoiceInput
from fintoro_api.testing import FakeFintoro

from .support.asgi import header, respond, serve
from .support.spec_data import example_body, operation_ids, vendored_spec

BASE = "https://api.test/v1"
TOKEN = "tok_live_SECRET_0123456789abcdef"


@pytest.fixture
async def fintoro() -> Any:
    async with FintoroClient(TOKEN, base_url=BASE, max_retries=0, rate_limiter=NoRateLimit()) as client:
        yield client


# --- typed errors -------------------------------------------------------------------------


ERROR_CASES = [
    # status, body, headers, expected class
    (401, {"message": "Unauthenticated."}, {}, AuthenticationError),  # undeclared on showInvoice
    (403, {"message": "This action is unauthorized."}, {}, PermissionDeniedError),
    (404, {"message": "No query results for model."}, {}, NotFoundError),
    (422, {"message": "The given data was invalid.", "errors": {"clientId": ["invalid"]}}, {}, ValidationError),
    (422, {"error": "Idempotency-Key reused with different request payload"}, {}, IdempotencyConflictError),
    (409, {"message": "Idempotency key already used with another payload."}, {}, IdempotencyConflictError),
    (
        429,
        {"message": "Too Many Attempts."},
        {
            "Retry-After": "3600",
            "X-RateLimit-Limit": "120",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "1774810800",
        },
        TooManyRequestsError,
    ),
    (500, {"message": "Server Error"}, {}, ServerError),
    (503, {"message": "Service Unavailable"}, {}, ServiceUnavailableError),
    (409, {"message": "Conflict"}, {}, ConflictError),
    (400, {"message": "Bad Request"}, {}, APIStatusError),
]


@pytest.mark.parametrize(("status", "body", "headers", "cls"), ERROR_CASES)
@respx.mock
async def test_every_status_raises_its_typed_error(
    fintoro: FintoroClient, status: int, body: Any, headers: dict[str, str], cls: type[APIStatusError]
) -> None:
    respx.get(f"{BASE}/invoices/5").respond(status, json=body, headers={"X-Request-Id": f"req-{status}", **headers})
    with pytest.raises(cls) as caught:
        await show_invoice.asyncio(5, client=fintoro)
    error = caught.value
    assert type(error) is cls
    assert error.status_code == status and error.request_id == f"req-{status}"
    assert error.body == body and error.headers["x-request-id"] == f"req-{status}"
    assert f"request id req-{status}" in str(error)
    if cls is ValidationError:
        assert error.errors == {"clientId": ["invalid"]}
        assert str(error) == "422 The given data was invalid. (clientId: invalid) (request id req-422)"
    if cls is IdempotencyConflictError:  # either shape: caught as a conflict and as a validation error
        assert isinstance(error, ConflictError) and isinstance(error, ValidationError)
    if isinstance(error, TooManyRequestsError):
        assert isinstance(error, RateLimitError)
        assert (error.retry_after, error.limit, error.remaining) == (3600.0, 120, 0)
        assert error.reset_at is not None and int(error.reset_at.timestamp()) == 1774810800


@respx.mock
async def test_non_json_502_body_still_gives_server_error_with_text(fintoro: FintoroClient) -> None:
    respx.get(f"{BASE}/invoices/5").respond(502, text="<html>Bad Gateway</html>", headers={"X-Request-Id": "r-502"})
    with pytest.raises(ServerError) as caught:
        await fintoro.invoices.show(5)
    assert caught.value.status_code == 502
    assert caught.value.body == "<html>Bad Gateway</html>"
    assert "Bad Gateway" in str(caught.value)


@respx.mock
async def test_transport_failures_are_typed(fintoro: FintoroClient) -> None:
    respx.get(f"{BASE}/invoices/1").mock(side_effect=httpx.ConnectError("refused"))
    respx.get(f"{BASE}/invoices/2").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(APIConnectionError) as connection:
        await fintoro.invoices.show(1)
    assert not isinstance(connection.value, APITimeoutError)
    with pytest.raises(APITimeoutError):
        await fintoro.invoices.show(2)


@respx.mock
async def test_2xx_body_not_matching_the_schema_is_a_response_validation_error(fintoro: FintoroClient) -> None:
    respx.get(f"{BASE}/countries").respond(200, json={"data": [{"id": "one"}]}, headers={"X-Request-Id": "r-bad"})
    with pytest.raises(APIResponseValidationError) as caught:
        await list_countries.asyncio(client=fintoro)
    assert caught.value.request_id == "r-bad" and "data[0].id: expected integer" in str(caught.value)
    respx.get(f"{BASE}/invoices/3").respond(200, text="not json", headers={"X-Request-Id": "r-text"})
    with pytest.raises(APIResponseValidationError):
        await fintoro.invoices.show(3)


# --- metadata, language, idempotency, body rules ------------------------------------------


@respx.mock
async def test_detailed_response_carries_metadata_without_parsing_twice(fintoro: FintoroClient) -> None:
    respx.get(f"{BASE}/countries").respond(
        200,
        json={"data": [{"id": 1, "name": "Slovensko", "code": "SK"}]},
        headers={
            "X-Request-Id": "r-1",
            "Content-Language": "sk",
            "X-RateLimit-Limit": "120",
            "X-RateLimit-Remaining": "119",
        },
    )
    detailed = await list_countries.asyncio_detailed(client=fintoro)
    assert detailed.parsed.data[0].name == "Slovensko"
    assert (detailed.status_code, detailed.request_id, detailed.content_language) == (200, "r-1", "sk")
    info = FintoroClient.rate_limit_info(detailed.http_response)
    assert (info.limit, info.remaining) == (120, 119)


@respx.mock
async def test_accept_language_default_and_per_call_override(fintoro: FintoroClient) -> None:
    route = respx.get(f"{BASE}/invoices/1").respond(404, json={"message": "x"})
    async with FintoroClient(TOKEN, base_url=BASE, accept_language="sk", rate_limiter=NoRateLimit()) as client:
        with pytest.raises(NotFoundError):
            await client.invoices.show(1)
        assert route.calls.last.request.headers["accept-language"] == "sk"
        with pytest.raises(NotFoundError):
            await client.with_options(accept_language="de").invoices.show(1)
        assert route.calls.last.request.headers["accept-language"] == "de"
        assert client.accept_language == "sk", "the parent is unchanged"


def _invoice(**item: Any) -> InvoiceInput:
    return InvoiceInput.from_dict({"clientId": 101, "items": [{"quantity": 1, **item}]})


@respx.mock
async def test_create_operations_get_an_idempotency_key_others_do_not(fintoro: FintoroClient) -> None:
    invoices = respx.post(f"{BASE}/invoices").respond(422, json={"message": "x", "errors": {}})
    accounts = respx.post(f"{BASE}/bank-accounts").respond(422, json={"message": "x", "errors": {}})
    with pytest.raises(ValidationError):
        await fintoro.invoices.create(body=_invoice(priceListItemId=7))
    key = invoices.calls.last.request.headers["idempotency-key"]
    assert re.fullmatch(r"[0-9a-f-]{36}", key)
    with pytest.raises(ValidationError):
        await create_invoice.asyncio(client=fintoro, body=_invoice(priceListItemId=7), idempotency_key="order-42")
    assert invoices.calls.last.request.headers["idempotency-key"] == "order-42"
    with pytest.raises(ValidationError):
        await fintoro.bank_accounts.create(
            body=BankAccountCreateInput.from_dict({"name": "Main", "iban": "SK00", "swift": "TATRSKBX"})
        )
    assert "idempotency-key" not in accounts.calls.last.request.headers


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"items": [{"quantity": 1, "priceListItemId": 7}]}, "body must include clientId or client"),
        ({"clientId": 1, "items": [{"quantity": 1, "name": "x", "unitPrice": 1}]}, r"body\.items\[0\] must include"),
    ],
)
@respx.mock
async def test_body_rules_fail_before_sending(fintoro: FintoroClient, body: dict[str, Any], message: str) -> None:
    route = respx.post(f"{BASE}/invoices").respond(201, json={})
    with pytest.raises(RequestValidationError, match=message):
        await fintoro.invoices.create(body=InvoiceInput.from_dict(body))
    assert not route.called


def test_item_rule_accepts_either_alternative() -> None:
    from fintoro_api._body_rules import check_body

    check_body("InvoiceInput", {"client": {"name": "A"}, "items": [{"quantity": 1, "priceListItemId": 1}]})
    # Neither body may raise: each satisfies one alternative of both rules.
    manual = {"quantity": 1, "name": "A", "unitId": 1, "unitPrice": 1, "vatRate": 20}  # unitId: older pins need it
    check_body("InvoiceInput", {"clientId": 1, "items": [manual]})


# --- lookups cache ---------------------------------------------------------------------------


@respx.mock
async def test_lookups_are_cached_per_language_with_opt_out() -> None:
    route = respx.get(f"{BASE}/countries").respond(200, json={"data": [{"id": 1, "name": "Slovensko", "code": "SK"}]})
    async with FintoroClient(TOKEN, base_url=BASE, rate_limiter=NoRateLimit()) as client:
        first = await client.countries.list()
        second = await client.countries.list()
        assert first.data[0].id == second.data[0].id == 1
        assert route.call_count == 1
        await client.with_options(accept_language="en").countries.list()
        assert route.call_count == 2
        await client.with_token("other-token").countries.list()
        assert route.call_count == 3, "each token fetches once: a revoked one must get its own 401"
        await client.with_token("other-token").countries.list()
        assert route.call_count == 3
    async with FintoroClient(TOKEN, base_url=BASE, rate_limiter=NoRateLimit(), cache_lookups=False) as client:
        await client.countries.list()
        await client.countries.list()
    assert route.call_count == 5


# --- scopes on one pool ------------------------------------------------------------------------


class ConnectionLog:
    """Serves the fake over real HTTP, recording each request's TCP peer and bearer token."""

    def __init__(self, fake: FakeFintoro) -> None:
        self.fake = fake
        self.connections: set[tuple[str, int]] = set()
        self.seen: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.connections.add(tuple(scope["client"]))
            self.seen.append((header(scope, "authorization") or "").removeprefix("Bearer "))
        await self.fake.app(scope, receive, send)


async def test_1000_concurrent_requests_across_20_tokens_never_cross_and_share_one_pool() -> None:
    # 20 companies in the fake, each holding one client record named after it; each token must see only its own.
    fake = FakeFintoro()
    tokens = [fake.add_company(f"Company {n:02d}") for n in range(20)]
    root_token = fake.add_company("Root s.r.o.")
    server = ConnectionLog(fake)
    body = example_body("ClientCreateInput")
    # Idle connections stay open on both sides (uvicorn and httpx close them after 5 s, which a loaded machine
    # reaches): a connection beyond the first 10 can then only be the pool breaking its limit.
    async with serve(server, timeout_keep_alive=600) as url:
        limits = httpx.Limits(max_connections=10, max_keepalive_connections=10, keepalive_expiry=600)
        transport = httpx.AsyncHTTPTransport(limits=limits)
        base_url = f"{url}/api/public/v1"
        root = FintoroClient(root_token, base_url=base_url, transport=transport, rate_limiter=NoRateLimit())
        async with root:
            scopes = [root.with_token(token) for token in tokens]
            for n, scoped in enumerate([*scopes, root]):
                await scoped.clients.create(body=ClientCreateInput.from_dict({**body, "name": f"client-of-{n:02d}"}))

            async def call(n: int) -> tuple[int, list[str]]:
                page = await scopes[n % 20].clients.list()
                return n % 20, [c.name for c in page.data]

            results = await asyncio.gather(*(call(n) for n in range(1000)))
            await scopes[3].aclose()  # closing a scope leaves the shared pool open
            assert [c.name for c in (await root.clients.list()).data] == ["client-of-20"]
    assert all(names == [f"client-of-{n:02d}"] for n, names in results)
    assert len(server.seen) == 21 + 1001
    per_token = {token: server.seen.count(token) for token in set(server.seen)}
    assert per_token == {**{token: 51 for token in tokens}, root_token: 2}
    assert len(server.connections) <= 10, f"{len(server.connections)} connections for a pool limit of 10"


def test_scopes_are_immutable_and_do_not_touch_the_parent() -> None:
    root = FintoroClient(TOKEN, base_url=BASE)
    scoped = root.with_token("other").with_options(max_retries=0, timeout=3.0)
    assert (root.max_retries, scoped.max_retries) == (2, 0)
    assert root.timeout.read == 60.0 and scoped.timeout.read == 3.0
    assert root.rate_limit_key != scoped.rate_limit_key
    assert scoped.get_async_httpx_client() is not root.get_async_httpx_client()
    assert scoped._core is root._core, "one pool"


# --- the token only goes home ---------------------------------------------------------------------


async def test_other_hosts_are_refused_and_receive_nothing() -> None:
    hits: list[str] = []

    async def other_host(scope: dict[str, Any], receive: Any, send: Any) -> None:
        hits.append(header(scope, "authorization") or "")
        await respond(send, 200, raw=b"%PDF")

    async with serve(other_host) as evil, FintoroClient(TOKEN, base_url=BASE, rate_limiter=NoRateLimit()) as client:
        sender = client.get_async_httpx_client()
        for url in (f"{evil}/invoices/1/pdf", "https://api.test:8443/v1/x", "http://api.test/v1/x"):
            with pytest.raises(UnsafeURLError):
                await sender.request("GET", url)
    assert hits == []


def test_client_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        FintoroClient(TOKEN, max_retries=-1)
    with pytest.raises(ValueError, match="base_url"):
        FintoroClient(TOKEN, base_url="ftp://example.com")
    with pytest.raises(ValueError, match="non-empty"):
        FintoroClient("")
    with pytest.raises(ValueError, match="timeout"):
        FintoroClient(TOKEN, timeout=-1)


# --- redaction ---------------------------------------------------------------------------------------


@respx.mock
async def test_token_never_appears_in_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="fintoro_api")
    respx.get(f"{BASE}/invoices/1").respond(401, json={"message": "Unauthenticated."}, headers={"X-Request-Id": "a"})
    respx.get(f"{BASE}/invoices/2").mock(side_effect=httpx.ConnectError(f"boom {BASE}"))
    texts: list[str] = []
    async with FintoroClient(TOKEN, base_url=BASE, rate_limiter=NoRateLimit(), max_retries=1) as client:
        texts += [
            repr(client),
            str(client),
            repr(client.with_token(TOKEN + "2")),
            repr(client.get_async_httpx_client()),
        ]
        for call in (client.invoices.show(1), client.invoices.show(2)):
            try:
                await call
            except fintoro_api.FintoroError as exc:
                texts += [str(exc), repr(exc), repr(exc.__cause__), str(getattr(exc, "request", ""))]
    texts.append(caplog.text)
    assert "HTTP GET /v1/invoices/1 -> 401 (request id a" in caplog.text, "one DEBUG line per attempt"
    assert "attempt 2" in caplog.text, "the retry is logged with its attempt number"
    assert all(TOKEN not in text and "SECRET" not in text for text in texts)


def test_fintoro_log_env_turns_on_debug_logging() -> None:
    code = (
        "import asyncio, httpx, fintoro_api\n"
        "async def main():\n"
        "    t = httpx.MockTransport(lambda r: httpx.Response(404, json={}, headers={'X-Request-Id': 'zz'}))\n"
        "    async with fintoro_api.FintoroClient('tok_SECRET', base_url='https://x.test', transport=t) as c:\n"
        "        try:\n"
        "            await c.invoices.show(1)\n"
        "        except fintoro_api.NotFoundError:\n"
        "            pass\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "FINTORO_LOG": "debug"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "HTTP GET /invoices/1 -> 404 (request id zz" in proc.stderr
    assert "tok_SECRET" not in proc.stderr


# --- the facade -----------------------------------------------------------------------------------------


class _AnyBody:
    """Stands in for any request model: satisfies the body rules; the server side is mocked."""

    def to_dict(self) -> dict[str, Any]:
        return {"clientId": 1, "items": [{"quantity": 1, "priceListItemId": 1}]}

    def to_multipart(self) -> list[Any]:
        return [("files", ("a.txt", b"a", "text/plain"))]


async def test_every_operation_is_reachable_through_the_facade_on_its_own_path(fintoro: FintoroClient) -> None:
    seen: list[tuple[str, str]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        return httpx.Response(599, json={"message": "recorded"})

    with respx.mock(assert_all_mocked=True) as router:
        router.route(host="api.test").mock(side_effect=record)
        reached = await _call_every_facade_method(fintoro, seen)
    assert reached == len(OPERATIONS) == len(operation_ids(vendored_spec()))


def _sample(annotation: Any) -> Any:
    """A value of a required parameter's type: the first member of an enum, else a plain value."""
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return next(iter(annotation))
    return 1 if annotation is int else "x"


async def _call_every_facade_method(fintoro: FintoroClient, seen: list[tuple[str, str]]) -> int:
    reached = 0
    for op in OPERATIONS.values():
        resource = re.sub(r"[^a-z0-9]+", "_", op.path.strip("/").split("/")[0].lower())
        facade = getattr(fintoro, resource)
        methods = {
            name: fn for name, fn in inspect.getmembers(facade, inspect.iscoroutinefunction) if not name.startswith("_")
        }
        module = importlib.import_module(f"fintoro_api.api.{op.module}")
        matching = [fn for fn in methods.values() if f"fintoro_api.api.{op.module}.asyncio" in (fn.__doc__ or "")]
        assert len(matching) == 1, op.operation_id
        method = matching[0]
        params = inspect.signature(method).parameters
        args = [1 for p in params.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
        kwargs = {"body": _AnyBody()} if "body" in params else {}
        generated = inspect.signature(module.asyncio).parameters
        for name, p in params.items():
            if p.kind is p.KEYWORD_ONLY and p.default is p.empty and name != "body":
                kwargs[name] = _sample(generated[name].annotation)
        with pytest.raises(ServerError):
            await method(*args, **kwargs)
        expected_path = "/v1" + re.sub(r"\{[^}]*\}", "1", module.PATH)
        assert seen[-1] == (module.METHOD, expected_path), op.operation_id
        reached += 1
    return reached
