"""Issue 13 review: attacks on the request pipeline that the first round of hostile tests missed.

Each test is a defect found by attacking the pipeline as a hostile server or a
careless caller; it failed before the commit that fixed it.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from fintoro_api import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    DownloadInterruptedError,
    FintoroClient,
    InMemoryRateLimiter,
    NoRateLimit,
    NotFoundError,
    RateLimitDeadlineError,
    RetryPolicy,
    ServiceUnavailableError,
    TooManyRequestsError,
)

from .support.rawhttp import Recorder, Reply, Request, raw_server

TOKEN = "tok_live_REVIEW_0123456789abcdef"
JSON = {"Content-Type": "application/json"}
WHOAMI = json.dumps({"name": "Acme"}).encode()
COUNTRIES = json.dumps({"data": [{"id": 1, "name": "Slovensko", "code": "SK"}]}).encode()
FAST = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.01)


@pytest.mark.parametrize("retry_after", ["inf", "Infinity", "1e400", "-inf"])
async def test_one_429_with_an_infinite_retry_after_does_not_block_the_company_forever(retry_after: str) -> None:
    # The default in-memory limiter holds the company after a 429; "inf" read as a number held it for ever.
    # An unreadable Retry-After now holds for at most one window, and a call whose deadline is shorter
    # is refused at once (nothing sent) with the finite wait, instead of blocking.
    def throttle_once(request: Request) -> Reply:
        if len(server.seen) == 1:
            return Reply(429, {**JSON, "Retry-After": retry_after}, b'{"message": "Too Many Attempts."}')
        return Reply(200, JSON, WHOAMI)

    server = Recorder(throttle_once)
    limiter = InMemoryRateLimiter()
    async with (
        raw_server(server) as url,
        FintoroClient(TOKEN, base_url=url, timeout=5, max_retries=0, rate_limiter=limiter) as client,
    ):
        with pytest.raises(TooManyRequestsError) as caught:
            await client.whoami.show()
        assert caught.value.retry_after is None, "an infinite wait is not a readable Retry-After"
        with pytest.raises(RateLimitDeadlineError) as held:
            await client.whoami.show()
        assert held.value.retry_after is not None
        assert 0 < held.value.retry_after <= limiter.budget.span, "the hold is capped at one window"
    assert len(server.seen) == 1, "nothing is sent while the company is held"


@pytest.mark.parametrize("suffix", ["/api?tenant=1", "/api#v1", "/api?"])
async def test_a_base_url_with_a_query_or_fragment_is_refused_instead_of_swallowing_every_path(suffix: str) -> None:
    # "https://host/api?tenant=1" + "/whoami" sent GET /api?tenant=1/whoami: every call hit /api.
    server = Recorder(lambda request: Reply(200, JSON, WHOAMI))
    async with raw_server(server) as url:
        with pytest.raises(ValueError, match="base_url"):
            FintoroClient(TOKEN, base_url=url + suffix)
    assert server.seen == []


@pytest.mark.parametrize("status", [218, 299])
async def test_a_2xx_status_python_does_not_know_is_a_typed_error_not_a_raw_value_error(status: int) -> None:
    # HTTPStatus(299) raised "ValueError: 299 is not a valid HTTPStatus" before the body was looked at.
    server = Recorder(lambda request: Reply(status, JSON, WHOAMI))
    async with raw_server(server) as url, FintoroClient(TOKEN, base_url=url, rate_limiter=NoRateLimit()) as client:
        with pytest.raises(APIResponseValidationError, match=f"status {status} is not declared"):
            await client.whoami.show()
    assert len(server.seen) == 1


class WaitForTransport(httpx.AsyncBaseTransport):
    """A caller's transport that bounds each exchange with asyncio.wait_for (it raises the builtin TimeoutError)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await asyncio.wait_for(self.inner.handle_async_request(request), self.seconds)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("timeout", [None, httpx.Timeout(30.0), 30.0], ids=["None", "httpx.Timeout", "deadline"])
async def test_a_transports_own_timeout_error_is_an_api_timeout_not_a_type_error_or_our_deadline(
    timeout: float | httpx.Timeout | None,
) -> None:
    # With no deadline, formatting "the call's deadline of None s" raised TypeError; with one, the
    # transport's timeout was reported as the 30 s deadline passing.
    async def never_answer(request: Request) -> Reply:
        await asyncio.sleep(5)
        return Reply(200, JSON, WHOAMI)

    seen: list[Request] = []

    async def handler(request: Request) -> Reply:
        seen.append(request)
        return await never_answer(request)

    async with (
        raw_server(handler) as url,
        FintoroClient(
            TOKEN,
            base_url=url,
            timeout=timeout,
            transport=WaitForTransport(0.2),
            rate_limiter=NoRateLimit(),
            retry=FAST,
        ) as client,
    ):
        with pytest.raises(APITimeoutError) as caught:
            await client.whoami.show()
    assert "deadline" not in str(caught.value) and TOKEN not in str(caught.value)
    assert len(seen) == 2, "a timed-out GET is retried like any other timeout"


async def test_a_rate_limit_wait_cut_by_the_deadline_says_so_in_a_sentence() -> None:
    # The default limiter holds the company after a 429; the next call's wait is cut by its deadline.
    def throttle_once(request: Request) -> Reply:
        if len(server.seen) == 1:
            return Reply(429, {**JSON, "Retry-After": "30"}, b'{"message": "Too Many Attempts."}')
        return Reply(200, JSON, WHOAMI)

    server = Recorder(throttle_once)
    async with raw_server(server) as url, FintoroClient(TOKEN, base_url=url, timeout=0.5, max_retries=0) as client:
        with pytest.raises(TooManyRequestsError):
            await client.whoami.show()
        with pytest.raises(RateLimitDeadlineError) as caught:
            await client.whoami.show()
    assert str(caught.value) == "rate limit: the company's next request slot is 30.0 s away, past this call's deadline"
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    "first",
    [
        Reply(200, {"Content-Type": "text/html"}, b"<html>maintenance</html>"),
        Reply(200, JSON, b'{"data": [{"id": 1, "name": "Slovensko", "co'),
        Reply(200, JSON, b""),
    ],
    ids=["html", "cut-json", "empty"],
)
async def test_a_2xx_lookup_that_is_not_json_is_not_cached_so_the_next_call_asks_again(first: Reply) -> None:
    # A proxy's 200 maintenance page was stored and replayed: every later call failed until the cache was cleared.
    server = Recorder(lambda request: first if len(server.seen) == 1 else Reply(200, JSON, COUNTRIES))
    async with raw_server(server) as url, FintoroClient(TOKEN, base_url=url, rate_limiter=NoRateLimit()) as client:
        with pytest.raises(APIResponseValidationError):
            await client.countries.list()
        assert [country.code for country in (await client.countries.list()).data] == ["SK"]
        assert [country.code for country in (await client.countries.list()).data] == ["SK"]
    assert len(server.seen) == 2, "the good answer is cached, the bad one was not"


@pytest.mark.parametrize("language", ["slovenčina", "sk\r\nX-Injected: 1", "sk\x00", " sk"])
async def test_an_accept_language_that_cannot_be_a_header_is_refused_when_the_client_is_made(language: str) -> None:
    # "slovenčina" raised a raw UnicodeEncodeError from httpx on every call; "sk\r\n..." failed every call.
    server = Recorder(lambda request: Reply(200, JSON, WHOAMI))
    async with raw_server(server) as url:
        with pytest.raises(ValueError, match="accept_language"):
            FintoroClient(TOKEN, base_url=url, accept_language=language)
        async with FintoroClient(TOKEN, base_url=url, rate_limiter=NoRateLimit()) as client:
            with pytest.raises(ValueError, match="accept_language"):
                client.with_options(accept_language=language)
            with pytest.raises(ValueError, match="accept_language"):
                await client.countries.list(accept_language=language)  # the lookups take it per call
            assert (await client.with_options(accept_language="sk-SK, en;q=0.8").whoami.show()).name == "Acme"
    assert [request.headers.get("accept-language") for request in server.seen] == ["sk-SK, en;q=0.8"]


async def test_a_raise_for_status_hook_on_a_callers_http_client_keeps_typed_errors_and_retries() -> None:
    # The hook's HTTPStatusError is an httpx.HTTPError: a 404 surfaced as APIConnectionError("transport failure")
    # and a 503 was never retried.
    def answer(request: Request) -> Reply:
        if request.path.endswith("/invoices/1"):
            return Reply(404, JSON, b'{"message": "No query results for model."}')
        if len(server.seen) == 2:
            return Reply(503, {**JSON, "Retry-After": "0"}, b'{"message": "down"}')
        return Reply(200, JSON, WHOAMI)

    async def raise_for_status(response: httpx.Response) -> None:
        response.raise_for_status()

    server = Recorder(answer)
    async with (
        raw_server(server) as url,
        httpx.AsyncClient(event_hooks={"response": [raise_for_status]}) as http,
        FintoroClient(TOKEN, base_url=url, http_client=http, rate_limiter=NoRateLimit(), retry=FAST) as client,
    ):
        with pytest.raises(NotFoundError) as caught:
            await client.invoices.show(1)
        assert caught.value.status_code == 404
        assert (await client.whoami.show()).name == "Acme"
    assert [request.path.rsplit("/", 1)[-1] for request in server.seen] == ["1", "whoami", "whoami"]


async def test_a_client_closed_during_a_call_sends_no_retry_on_a_new_connection() -> None:
    # The retry after aclose() opened a fresh connection in the closed pool (and left it open).
    clients: list[FintoroClient] = []

    async def close_then_fail(request: Request) -> Reply:
        server.seen.append(request)
        await clients[0].aclose()  # the caller shuts down while this attempt is in flight
        return Reply(503, {**JSON, "Retry-After": "0"}, b'{"message": "down"}')

    server = Recorder(None)
    async with raw_server(close_then_fail) as url:
        clients.append(FintoroClient(TOKEN, base_url=url, rate_limiter=NoRateLimit(), retry=FAST))
        # The attempt in flight ends as the close left it (a 503 or a cut read); either way it is the last.
        with pytest.raises((ServiceUnavailableError, APIConnectionError)):
            await clients[0].whoami.show()
    assert len(server.seen) == 1


async def test_a_download_body_outlives_the_deadline_but_each_read_is_bounded_by_the_same_seconds() -> None:
    # README: the deadline covers reaching the body; the body then streams with a per-read limit of `timeout`.
    pdf = b"%PDF-1.7 " + b"x" * 30

    def answer(request: Request) -> Reply:
        if request.path.endswith("/1/pdf"):  # 39 bytes, 0.05 s apart: ~2 s in all, never 1 s without a byte
            return Reply(200, {"Content-Type": "application/pdf"}, pdf, drip_interval=0.05)
        return Reply(200, {"Content-Type": "application/pdf"}, pdf[:5], drip_interval=1.5)  # stalls after a byte

    server = Recorder(answer)
    async with raw_server(server) as url, FintoroClient(TOKEN, base_url=url, timeout=1.0, max_retries=0) as client:
        async with client.stream("/invoices/1/pdf") as download:
            assert b"".join([chunk async for chunk in download.iter_bytes()]) == pdf
        with pytest.raises(DownloadInterruptedError, match="ReadTimeout"):
            async with client.stream("/invoices/2/pdf") as stalled:
                async for _ in stalled.iter_bytes():
                    pass
