"""Issue 13: the pipeline's pure parts, table-tested without HTTP: retry decision, contract, headers, surface."""

from __future__ import annotations

import ast
import inspect
import pydoc
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

import fintoro_api
from fintoro_api import FintoroClient, RequestValidationError, RetryPolicy
from fintoro_api._contract import operation_of, prepare
from fintoro_api._exceptions import FintoroError, status_error
from fintoro_api._headers import RateLimitInfo, parse_retry_after
from fintoro_api._spec_index import ENDPOINTS, OPERATIONS

from .support.spec_data import operation_ids, vendored_spec

ROOT = Path(__file__).resolve().parent.parent
URL = "https://api.test/v1/x"


def _request(method: str, key: str | None = None, *, streamed: bool = False) -> httpx.Request:
    headers = {"Idempotency-Key": key} if key is not None else {}
    if streamed:
        return httpx.Request(method, URL, headers=headers, content=iter([b"part"]))
    return httpx.Request(method, URL, headers=headers, content=b"{}")


def _response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


POLICY = RetryPolicy(max_retries=2, initial_delay=1.0, max_delay=8.0, max_retry_after=60.0)
BACKOFF = "backoff"  # expected: a jittered backoff delay in [0.75, 1.0] x 2**retries_done

NEXT_DELAY_CASES: list[tuple[str, httpx.Request, Any, int, Any]] = [
    # name, request, outcome, retries_done, expected delay (None: do not resend)
    ("GET after 503", _request("GET"), _response(503), 0, BACKOFF),
    ("GET after 503, retries spent", _request("GET"), _response(503), 2, None),
    ("GET after 404", _request("GET"), _response(404), 0, None),
    ("GET after 307", _request("GET"), _response(307, location="https://x.test/"), 0, None),
    ("GET honours Retry-After", _request("GET"), _response(503, **{"retry-after": "3"}), 0, 3.0),
    ("429 Retry-After over the cap", _request("GET"), _response(429, **{"retry-after": "3600"}), 0, None),
    ("unreadable Retry-After backs off", _request("GET"), _response(503, **{"retry-after": "nan"}), 0, BACKOFF),
    ("POST without key after 503", _request("POST"), _response(503), 0, None),
    ("POST without key after 429", _request("POST"), _response(429, **{"retry-after": "1"}), 0, 1.0),
    ("POST with key after 503", _request("POST", "k-1"), _response(503), 1, BACKOFF),
    ("POST with blank key after 503", _request("POST", "  "), _response(503), 0, None),
    ("PATCH with key after 500", _request("PATCH", "k-1"), _response(500), 0, BACKOFF),
    ("DELETE after a drop", _request("DELETE"), httpx.RemoteProtocolError("disconnected"), 0, BACKOFF),
    ("POST without key after a drop", _request("POST"), httpx.RemoteProtocolError("disconnected"), 0, None),
    ("POST without key, never connected", _request("POST"), httpx.ConnectError("refused"), 0, BACKOFF),
    ("POST without key, read timeout", _request("POST"), httpx.ReadTimeout("slow"), 0, None),
    ("GET read timeout", _request("GET"), httpx.ReadTimeout("slow"), 1, BACKOFF),
    ("illegal header: our fault", _request("GET"), httpx.LocalProtocolError("Illegal header value"), 0, None),
    ("unsupported protocol", _request("GET"), httpx.UnsupportedProtocol("ftp"), 0, None),
    ("streamed body cannot be replayed", _request("PUT", streamed=True), _response(503), 0, None),
]


@pytest.mark.parametrize(
    ("request_", "outcome", "retries_done", "expected"),
    [case[1:] for case in NEXT_DELAY_CASES],
    ids=[case[0] for case in NEXT_DELAY_CASES],
)
def test_next_delay(request_: httpx.Request, outcome: Any, retries_done: int, expected: Any) -> None:
    delay = POLICY.next_delay(request_, outcome, retries_done)
    if expected == BACKOFF:
        assert delay is not None and 0.75 * 2**retries_done <= delay <= 2**retries_done
    else:
        assert delay == expected


# --- contract preparation --------------------------------------------------------------------------


def _call(operation_id: str, **call: Any) -> tuple[Any, dict[str, Any]]:
    name = next(name for name, op_id in ENDPOINTS.items() if op_id == operation_id)
    return operation_of({"fintoro_operation": name}), call


def test_every_operation_is_found_by_the_name_its_module_passes() -> None:
    assert len(ENDPOINTS) == len(OPERATIONS) == len(operation_ids(vendored_spec()))
    for name, operation_id in ENDPOINTS.items():
        assert operation_of({"fintoro_operation": name}) is OPERATIONS[operation_id]
    assert operation_of(None) is None and operation_of({"fintoro_operation": "no_such"}) is None


def test_prepare_adds_a_key_to_creates_that_take_one_and_keeps_a_callers() -> None:
    operation, call = _call("createOrder", json={"clientId": 1, "items": []}, headers={})
    generated = prepare(operation, call)["headers"]["Idempotency-Key"]
    assert re.fullmatch(r"[0-9a-f-]{36}", generated)
    assert prepare(operation, call)["headers"]["Idempotency-Key"] != generated, "one key per call"
    operation, call = _call("createOrder", headers={"Idempotency-Key": "order-1"})
    assert prepare(operation, call)["headers"] == {"Idempotency-Key": "order-1"}
    operation, call = _call("createBankAccount", headers={})
    assert "Idempotency-Key" not in prepare(operation, call).get("headers", {})


@pytest.mark.parametrize("key", ["", " ", "a b", "k\r\n", "é", "x" * 256, 5])
def test_prepare_refuses_an_unusable_key_by_its_argument_name(key: Any) -> None:
    operation, call = _call("createOrder", headers={"Idempotency-Key": key})
    with pytest.raises(ValueError, match="idempotency_key"):
        prepare(operation, call)


def test_prepare_checks_page_size_parts_and_body_rules() -> None:
    operation, call = _call("listInvoices", params={"perPage": 501})
    with pytest.raises(ValueError, match="per_page must be an integer from 1 to 500"):
        prepare(operation, call)
    operation, call = _call("uploadContactActivityAttachments", files=[("files", b"a"), ("files", b"b")])
    assert [name for name, _ in prepare(operation, call)["files"]] == ["files[]", "files[]"]
    operation, call = _call("createOrder", json={"items": []})
    with pytest.raises(RequestValidationError, match="clientId"):
        prepare(operation, call)


def test_lookup_ness_and_maxima_are_table_columns() -> None:
    lookups = sorted(op.operation_id for op in OPERATIONS.values() if op.lookup)
    assert "listCountries" in lookups and "listCurrencies" in lookups
    assert all(OPERATIONS[op_id].method == "GET" for op_id in lookups)
    assert OPERATIONS["listInvoices"].per_page_max == 500


# --- header parsing never raises ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1700000000", 1700000000),
        ("1000000000000", None),
        ("-5", None),
        ("1e9", None),
        ("99999999999999999999999", None),
        ("", None),
        ("٣", None),
    ],
)
def test_reset_header_reads_as_unknown_when_it_is_not_a_unix_time(value: str, expected: int | None) -> None:
    info = RateLimitInfo.from_headers({"x-ratelimit-reset": value})
    assert (None if info.reset_at is None else int(info.reset_at.timestamp())) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("-3", 0.0), ("nan", None), ("inf", None), ("1e400", None), ("Wed, 21 Oct 99999 07:28:00 GMT", None)],
)
def test_retry_after_never_raises(value: str, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


# --- errors ------------------------------------------------------------------------------------------------


def test_validation_error_str_shows_the_first_field_errors_shortened() -> None:
    errors = {f"items.{n}.name": ["The name field is required."] for n in range(5)}
    response = httpx.Response(
        422, json={"message": "The given data was invalid.", "errors": errors}, request=httpx.Request("POST", URL)
    )
    text = str(status_error(response))
    assert text.startswith("422 The given data was invalid. (items.0.name: The name field is required.; ")
    assert "items.2.name" in text and "items.3.name" not in text and "and 2 more" in text


def test_every_fintoro_error_lives_in_the_exceptions_module() -> None:
    import fintoro_api.redis_backends
    import fintoro_api.webhooks  # noqa: F401 - imported for its error classes

    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    modules = {cls.__module__ for cls in subclasses(FintoroError) if cls.__module__.startswith("fintoro_api")}
    assert modules == {"fintoro_api._exceptions"}
    from fintoro_api.webhooks import ReceiverURLError, WebhookSignatureError

    assert ReceiverURLError.__module__ == WebhookSignatureError.__module__ == "fintoro_api._exceptions"


# --- the public surface ------------------------------------------------------------------------------------


def test_the_public_names_are_declared_once_and_listed_here() -> None:
    exported = set(fintoro_api.__all__)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- public-names -->", 1)[1].split("<!-- /public-names -->", 1)[0]
    assert set(re.findall(r"`([A-Za-z_]+)`", block)) == exported
    # The TYPE_CHECKING imports (for type checkers) name exactly the same things.
    tree = ast.parse(Path(fintoro_api.__file__).read_text(encoding="utf-8"))
    guarded = next(node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test))
    imported = {
        alias.asname or alias.name
        for node in ast.walk(guarded)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported | {"__version__"} == exported
    for name in exported:
        assert getattr(fintoro_api, name) is not None


def test_with_options_shows_readable_defaults_in_help() -> None:
    text = pydoc.render_doc(FintoroClient.with_options, renderer=pydoc.plaintext)
    assert "max_retries: 'int | Unset' = UNSET" in text
    assert "object at 0x" not in text
    signature = inspect.signature(FintoroClient.with_options)
    assert {repr(p.default) for p in signature.parameters.values() if p.name != "self"} == {"UNSET"}


def test_the_generated_binary_routes_table_names_each_download_once() -> None:
    from fintoro_api import _spec_index, _transfers

    routes = _transfers._binary_routes()
    binary = {op.operation_id for op in _spec_index.OPERATIONS.values() if op.binary}
    assert {op.operation_id for _, op in routes} == binary
    for _, op in routes:  # each pattern matches its own path with ids filled in, and no other binary route
        concrete = op.path.replace("{", "").replace("}", "")
        assert [other.operation_id for p, other in routes if p.match(concrete)] == [op.operation_id]


@pytest.mark.parametrize("retries_done", [1023, 1024, 5000])
def test_backoff_stays_capped_however_many_retries_were_made(retries_done: int) -> None:
    # 0.5 * 2**1024 is past float's range: a long-running job with a large max_retries hit OverflowError.
    policy = RetryPolicy(max_retries=10_000, initial_delay=0.5, max_delay=8.0)
    assert 6.0 <= policy.backoff(retries_done) <= 8.0
    assert 6.0 <= (policy.next_delay(_request("GET"), _response(503), retries_done) or 0) <= 8.0


@pytest.mark.parametrize(
    ("location", "origin"),
    [
        ("http://[::1]:8443/steal?k=1", "http://[::1]:8443"),
        ("https://user:pw@evil.test/x", "https://evil.test"),
        ("/relative", "https://api.test"),
    ],
)
def test_a_redirects_location_origin_is_a_url_origin_without_path_or_credentials(location: str, origin: str) -> None:
    # An IPv6 host came out as "http://::1:8443": not an origin anyone can parse or compare.
    response = httpx.Response(302, headers={"location": location}, request=httpx.Request("GET", URL))
    assert status_error(response).location_origin == origin  # type: ignore[attr-defined]


async def test_a_transport_handing_over_a_read_body_still_meets_the_limit() -> None:
    # httpx.MockTransport returns responses already read: their body is checked by its length.
    from fintoro_api import NoRateLimit, ResponseTooLargeError

    body = b'{"name": "Acme"}'
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with FintoroClient("tok", base_url="https://x.test", transport=transport, rate_limiter=NoRateLimit()) as fits:
        assert (await fits.whoami.show()).name == "Acme"
    async with FintoroClient(
        "tok", base_url="https://x.test", transport=transport, rate_limiter=NoRateLimit(), max_response_bytes=8
    ) as small:
        with pytest.raises(ResponseTooLargeError, match="max_response_bytes=8"):
            await small.whoami.show()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"name": NaN}', "name: NaN is not a JSON number"),
        (b'{"a": {"b": [1, -Infinity]}}', "a.b[1]: -Infinity is not a JSON number"),
        (b"[Infinity]", "[0]: Infinity is not a JSON number"),
        (b"NaN", "NaN is not a JSON number"),
    ],
)
def test_nan_and_infinity_are_refused_while_decoding_naming_where(body: bytes, message: str) -> None:
    from fintoro_api import _json

    with pytest.raises(_json.NotJSONNumberError) as caught:
        _json.loads(body)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("6f1c2b3a-0d4e-4f5a-9b8c-7d6e5f4a3b2c", "6f1c2b3a-0d4e-4f5a-9b8c-7d6e5f4a3b2c"),
        ("req\t1\xe9\x7f", "req1"),
        ("x" * 129, "x" * 127 + "…"),
        ("\t\xe9", None),
        ("", None),
    ],
    ids=["uuid", "controls", "long", "nothing-printable", "empty"],
)
def test_request_id_is_kept_printable_and_bounded(sent: str, kept: str | None) -> None:
    from fintoro_api._headers import request_id_of

    assert request_id_of({"x-request-id": sent}) == kept
