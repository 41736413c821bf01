"""Issue 13, hostile review round 3: what a server can make the client hold, print or believe.

Each test failed before the commit that fixed it: a gzip bomb held whole in
memory, a 100 KB X-Request-Id copied into every message and log line, a
download read timeout that ``except APITimeoutError`` missed, a 304 reported
as a redirect "without Location", NaN accepted as a JSON number, and a rate
limiter slot left in flight after a request that got no answer.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import tracemalloc
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from fintoro_api import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    DownloadInterruptedError,
    DownloadTimeoutError,
    FintoroClient,
    NoRateLimit,
    NotFoundError,
    NotModifiedError,
    RedirectError,
    ResponseTooLargeError,
    RetryPolicy,
)

from .support.rawhttp import Recorder, Reply, Request, raw_server

TOKEN = "tok_live_BOUNDS_0123456789abcdef"
JSON = {"Content-Type": "application/json"}
PDF = {"Content-Type": "application/pdf"}
WHOAMI = b'{"name": "Acme"}'
MiB = 1024 * 1024
FAST = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.01)


def client_for(url: str, **options: Any) -> FintoroClient:
    options.setdefault("rate_limiter", NoRateLimit())
    return FintoroClient(TOKEN, base_url=url, **options)


def gzip_bomb(decoded_bytes: int, prefix: bytes = b"") -> bytes:
    """A gzip body that inflates to ``decoded_bytes`` (a JSON-ish prefix, then zeros), built 1 MiB at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(prefix)]
    zeros = b"0" * MiB
    for _ in range(decoded_bytes // MiB):
        parts.append(packer.compress(zeros))
    parts.append(packer.flush())
    return b"".join(parts)


async def peak_memory_of(call: Any) -> tuple[BaseException | None, int]:
    """(what ``call()`` raised, the most memory Python held above the start while it ran)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        raised: BaseException | None = None
        try:
            await call()
        except Exception as exc:
            raised = exc
        return raised, tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()


# --- 1. response bodies are read up to max_response_bytes, counted as they are inflated --------------------


async def test_a_gzip_bomb_is_refused_at_the_limit_while_inflating_not_after() -> None:
    # 60 KB on the wire, 60 MB inflated: httpx's aread() built the whole 60 MB before anything looked at it.
    bomb = gzip_bomb(60 * MiB, prefix=b'{"name": "')
    assert len(bomb) < 100 * 1024
    server = Recorder(lambda request: Reply(200, {**JSON, "Content-Encoding": "gzip"}, bomb))
    async with raw_server(server) as url, client_for(url, max_response_bytes=MiB, retry=FAST) as client:
        raised, peak = await peak_memory_of(client.whoami.show)
        assert isinstance(raised, ResponseTooLargeError)
        assert isinstance(raised, APIResponseValidationError), "except APIResponseValidationError catches it"
        assert raised.limit == MiB and raised.status_code == 200
        assert f"max_response_bytes={MiB}" in str(raised)
        assert peak < 8 * MiB, f"held {peak / MiB:.1f} MiB for a 1 MiB limit"
    assert len(server.seen) == 1, "a body too large is not fetched again"


async def test_an_error_body_over_the_limit_keeps_its_status_error_and_is_not_held() -> None:
    # A 404 (or a 503 to a download) with a bomb for a body: the typed error by status, without the body.
    bomb = gzip_bomb(40 * MiB, prefix=b'{"message": "')
    replies = iter(
        [
            Reply(404, {**JSON, "Content-Encoding": "gzip"}, bomb),
            Reply(503, {**JSON, "Content-Encoding": "gzip", "Retry-After": "0"}, bomb),
            Reply(200, PDF, b"%PDF-1.7 fine"),
        ]
    )
    server = Recorder(lambda request: next(replies))
    async with raw_server(server) as url, client_for(url, max_response_bytes=MiB, retry=FAST) as client:
        raised, peak = await peak_memory_of(lambda: client.invoices.show(1))
        assert isinstance(raised, NotFoundError) and raised.body is None
        assert str(raised) == f"404 Not Found (its body, over max_response_bytes={MiB} once decoded, was not kept)"
        assert peak < 8 * MiB, f"held {peak / MiB:.1f} MiB for a 1 MiB limit"

        async def download() -> bytes:
            async with client.stream("/invoices/2/pdf") as pdf:
                return b"".join([chunk async for chunk in pdf.iter_bytes()])

        raised, peak = await peak_memory_of(download)
        assert raised is None, "the 503 is still retried by its status; the retry's PDF arrives"
        assert peak < 8 * MiB, f"held {peak / MiB:.1f} MiB for a 1 MiB limit"
    assert [request.path.rsplit("/", 2)[-2:] for request in server.seen] == [
        ["invoices", "1"],
        ["2", "pdf"],
        ["2", "pdf"],
    ]


async def test_the_limit_is_exact_a_body_of_limit_bytes_passes_one_more_fails() -> None:
    limit = 4096
    exact = WHOAMI + b" " * (limit - len(WHOAMI))
    replies = iter([Reply(200, JSON, exact), Reply(200, JSON, exact + b" ")])
    server = Recorder(lambda request: next(replies))
    async with raw_server(server) as url, client_for(url, max_response_bytes=limit, max_retries=0) as client:
        assert (await client.whoami.show()).name == "Acme"
        with pytest.raises(ResponseTooLargeError, match="max_response_bytes=4096"):
            await client.whoami.show()


async def test_a_streamed_download_is_not_capped_by_the_limit() -> None:
    pdf = b"%PDF-1.7 " + bytes(range(256)) * 256  # 64 KB, 16x the limit
    server = Recorder(lambda request: Reply(200, PDF, pdf))
    async with (
        raw_server(server) as url,
        client_for(url, max_response_bytes=4096) as client,
        client.stream("/invoices/1/pdf") as download,
    ):
        assert b"".join([chunk async for chunk in download.iter_bytes()]) == pdf


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(WHOAMI)),
        ("x-gzip", gzip.compress(WHOAMI)),
        ("deflate", zlib.compress(WHOAMI)),  # zlib-wrapped, as RFC 9110 says
        ("deflate", zlib.compress(WHOAMI)[2:-4]),  # raw deflate, as some servers send it
        ("identity", WHOAMI),
        ("GZIP ", gzip.compress(WHOAMI)),
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "identity", "upper-case"],
)
async def test_every_coding_the_client_asks_for_still_decodes(encoding: str, body: bytes) -> None:
    server = Recorder(lambda request: Reply(200, {**JSON, "Content-Encoding": encoding}, body))
    async with raw_server(server) as url, client_for(url) as client:
        assert (await client.whoami.show()).name == "Acme"
    assert server.seen[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("br", b"\x1b\x0f\x00"), ("gzip", b"not gzip at all"), ("gzip, gzip", gzip.compress(gzip.compress(WHOAMI)))],
    ids=["not-asked-for", "corrupt", "stacked"],
)
async def test_a_body_in_a_coding_not_asked_for_or_corrupt_is_a_typed_decoding_error(
    encoding: str, body: bytes
) -> None:
    server = Recorder(lambda request: Reply(200, {**JSON, "Content-Encoding": encoding}, body))
    async with raw_server(server) as url, client_for(url, retry=FAST) as client:
        with pytest.raises(APIConnectionError, match="DecodingError: the response body could not be decoded"):
            await client.whoami.show()
    assert len(server.seen) == 1, "a body that cannot be decoded is not fetched again"


@pytest.mark.parametrize("bad", [0, -1, True, "1024", 1.5])
def test_max_response_bytes_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError, match="max_response_bytes"):
        FintoroClient(TOKEN, max_response_bytes=bad)  # type: ignore[arg-type]


# --- 2. X-Request-Id: bounded and printable in every message and log line -------------------------------------


async def test_a_100_kb_request_id_is_cut_and_cleaned_in_errors_and_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    # Tabs and Latin-1 bytes pass HTTP parsing; 60 KB of them was copied into str(error) and every log line.
    hostile = "req-\t\xe9" + "A" * 60_000
    replies = iter(
        [
            Reply(404, {**JSON, "X-Request-Id": hostile}, b'{"message": "No query results."}'),
            Reply(200, {**JSON, "X-Request-Id": hostile}, b'{"name": 5}'),
            Reply(404, {**JSON, "X-Request-Id": "6f1c2b3a-0d4e-4f5a-9b8c-7d6e5f4a3b2c"}, b'{"message": "gone"}'),
            Reply(200, {**JSON, "X-Request-Id": hostile}, WHOAMI),
        ]
    )
    server = Recorder(lambda request: next(replies))
    caplog.set_level(logging.DEBUG, logger="fintoro_api")
    async with raw_server(server) as url, client_for(url) as client:
        with pytest.raises(NotFoundError) as status:
            await client.invoices.show(1)
        with pytest.raises(APIResponseValidationError) as schema:
            await client.whoami.show()
        with pytest.raises(NotFoundError) as usual:
            await client.invoices.show(2)
        raw = await client.whoami.with_raw_response.show()
    assert raw.request_id == schema.value.request_id, "a 2xx keeps the same cut id"
    for error in (status.value, schema.value):
        assert error.request_id is not None and len(error.request_id) == 128
        assert error.request_id.startswith("req-A") and error.request_id.endswith("…")
        assert len(str(error)) < 600 and "\t" not in str(error) and "\xe9" not in str(error)
    assert usual.value.request_id == "6f1c2b3a-0d4e-4f5a-9b8c-7d6e5f4a3b2c", "an ordinary id is kept as sent"
    lines = [record.getMessage() for record in caplog.records if record.name == "fintoro_api"]
    assert len(lines) == 4 and all(len(line) < 400 and "\t" not in line for line in lines)


# --- 3. a read timeout mid-download is a timeout and an interruption -------------------------------------------


async def test_a_download_that_stalls_is_caught_by_except_api_timeout_error(tmp_path: Path) -> None:
    server = Recorder(lambda request: Reply(200, PDF, b"%PDF-1.7 stalls", drip_interval=2.0))
    async with raw_server(server) as url, client_for(url, timeout=0.5, max_retries=0) as client:
        with pytest.raises(APITimeoutError) as caught:
            async with client.stream("/invoices/1/pdf") as download:
                async for _ in download.iter_bytes():
                    pass
        assert isinstance(caught.value, DownloadTimeoutError)
        assert isinstance(caught.value, DownloadInterruptedError), "except DownloadInterruptedError still works"
        assert "ReadTimeout" in str(caught.value)
        with pytest.raises(APITimeoutError):
            await client.save("/invoices/1/pdf", tmp_path / "invoice.pdf")
    assert list(tmp_path.iterdir()) == [], "nothing saved, no temporary file left"


# --- 4. a 304 to a request that was never conditional ----------------------------------------------------------


async def test_a_304_is_a_broken_cache_error_not_a_redirect_without_location() -> None:
    server = Recorder(lambda request: Reply(304, {"X-Request-Id": "r-304"}))
    async with raw_server(server) as url, client_for(url, retry=FAST) as client:
        with pytest.raises(NotModifiedError) as caught:
            await client.whoami.show()
    assert not isinstance(caught.value, RedirectError)
    assert caught.value.status_code == 304 and caught.value.request_id == "r-304"
    assert "not conditional" in str(caught.value) and "Location" not in str(caught.value)
    assert len(server.seen) == 1, "not retried"
    assert not {"if-none-match", "if-modified-since"} & set(server.seen[0].headers)


# --- 5. NaN and Infinity are not JSON, wherever they stand ----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": NaN}',
        b'{"name": "Acme", "unknownField": NaN}',
        b'{"name": "Acme", "nested": {"list": [1, Infinity]}}',
        b'{"name": "Acme", "x": -Infinity}',
    ],
    ids=["in-a-field", "in-an-extra-field", "nested", "negative"],
)
async def test_nan_or_infinity_in_a_2xx_body_is_a_validation_error(body: bytes) -> None:
    # Python's json takes them; a field no model reads carried NaN into additional_properties unseen.
    countries = b'{"data": [{"id": 1, "name": "SK", "code": "SK", "rate": NaN}]}'
    good = b'{"data": [{"id": 1, "name": "Slovensko", "code": "SK"}]}'
    replies = iter([Reply(200, JSON, body), Reply(200, JSON, countries), Reply(200, JSON, good)])
    server = Recorder(lambda request: next(replies))
    async with raw_server(server) as url, client_for(url) as client:
        with pytest.raises(APIResponseValidationError, match=r"(NaN|Infinity) is not a JSON number"):
            await client.whoami.show()
        with pytest.raises(APIResponseValidationError, match="NaN is not a JSON number"):
            await client.countries.list()
        assert [country.code for country in (await client.countries.list()).data] == ["SK"], "NaN was not cached"


# --- 6. the rate limiter hears about every request it let go, answered or not ---------------------------------


class RecordingLimiter:
    """A limiter that lets everything go and records what it is told; ``observe`` can be made slow."""

    def __init__(self, observe_delay: float = 0.0) -> None:
        self.acquired: list[str] = []
        self.observed: list[tuple[str, dict[str, str], int]] = []
        self.observe_delay = observe_delay
        self.observing = asyncio.Event()
        self.observe_done = asyncio.Event()

    async def acquire(self, key: str, *, max_wait: float | None = None) -> None:
        self.acquired.append(key)

    async def observe(self, key: str, headers: Mapping[str, str], status: int) -> None:
        self.observing.set()
        await asyncio.sleep(self.observe_delay)
        self.observed.append((key, dict(headers), status))
        self.observe_done.set()


def unanswered(limiter: RecordingLimiter) -> list[tuple[str, dict[str, str], int]]:
    return [entry for entry in limiter.observed if entry[1:] == ({}, 0)]


@pytest.mark.parametrize(
    "reply",
    [Reply(drop_before_response=True), Reply(200, JSON, WHOAMI + b" " * 50, cut_body_after=5)],
    ids=["dropped", "body-cut"],
)
async def test_a_transport_error_frees_the_limiter_slot_on_every_attempt(reply: Reply) -> None:
    server = Recorder(lambda request: reply)
    limiter = RecordingLimiter()
    async with raw_server(server) as url, client_for(url, rate_limiter=limiter, retry=FAST) as client:
        with pytest.raises(APIConnectionError):
            await client.whoami.show()
    assert len(server.seen) == 2
    assert limiter.acquired == [client.rate_limit_key] * 2
    assert unanswered(limiter) == [(client.rate_limit_key, {}, 0)] * 2


async def test_the_deadline_passing_mid_request_frees_the_limiter_slot() -> None:
    async def never(request: Request) -> Reply:
        await asyncio.sleep(5)
        return Reply(200, JSON, WHOAMI)

    limiter = RecordingLimiter()
    async with raw_server(never) as url, client_for(url, rate_limiter=limiter, timeout=0.3) as client:
        with pytest.raises(APITimeoutError, match="deadline"):
            await client.whoami.show()
    assert limiter.acquired == [client.rate_limit_key]
    assert limiter.observed == [(client.rate_limit_key, {}, 0)]


async def test_a_cancelled_call_frees_the_limiter_slot_even_when_cancelled_again_meanwhile() -> None:
    arrived = asyncio.Event()

    async def hang(request: Request) -> Reply:
        arrived.set()
        await asyncio.sleep(5)
        return Reply(200, JSON, WHOAMI)

    limiter = RecordingLimiter(observe_delay=0.2)  # a Redis limiter's observe() is a round trip
    async with raw_server(hang) as url, client_for(url, rate_limiter=limiter, timeout=None) as client:
        call = asyncio.create_task(client.whoami.show())
        await asyncio.wait_for(arrived.wait(), 5)
        call.cancel()
        await asyncio.wait_for(limiter.observing.wait(), 5)
        call.cancel()  # a second cancellation while the limiter is being told
        with pytest.raises(asyncio.CancelledError):
            await call
        await asyncio.wait_for(limiter.observe_done.wait(), 5)  # the shielded observe() still finished
    assert limiter.acquired == [client.rate_limit_key]
    assert limiter.observed == [(client.rate_limit_key, {}, 0)]


async def test_an_answered_call_reports_its_status_and_headers_once() -> None:
    server = Recorder(lambda request: Reply(200, {**JSON, "X-RateLimit-Remaining": "7"}, WHOAMI))
    limiter = RecordingLimiter()
    async with raw_server(server) as url, client_for(url, rate_limiter=limiter) as client:
        assert (await client.whoami.show()).name == "Acme"
    [(key, headers, status)] = limiter.observed
    assert (key, headers["x-ratelimit-remaining"], status) == (client.rate_limit_key, "7", 200)
