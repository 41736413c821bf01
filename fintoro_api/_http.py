"""The request pipeline every call goes through, generated functions included.

``Sender`` is what ``FintoroClient.get_async_httpx_client()`` hands to the
generated endpoint functions (they only call ``.request(**kwargs)``). Per
request, in order:

1. resolve the URL against the base URL and refuse any other origin;
2. check body rules the generator cannot express (``_body_rules``);
3. add an Idempotency-Key to create operations that accept one;
4. serve fixed lookups from the per-client cache;
5. send with the scope's bearer token (an httpx auth flow), pacing through
   the rate limiter, retrying what is safe to retry (``_retry``);
6. turn transport failures and non-2xx responses into typed errors.

All scopes of one client share one ``Core`` and so one httpx connection pool.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Generator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx

from . import _json, _spec_index
from ._body_rules import check_body
from ._exceptions import APIConnectionError, APITimeoutError, FintoroError, status_error
from ._headers import request_id_of
from ._logging import logger
from ._pagination import check_page_size
from ._ratelimit import RateLimiter
from ._retry import NOT_SENT_ERRORS, RETRYABLE_STATUSES, RetryPolicy
from ._secrets import Secret

_PATH_PARAM = re.compile(r"\{[^}]*\}")
_ROUTES: dict[tuple[str, str], _spec_index.Operation] | None = None
_BY_TEMPLATE: dict[tuple[str, str], _spec_index.Operation | None] = {}
LOOKUP_TAG = "Lookups"


class UnsafeURLError(FintoroError, ValueError):
    """A URL outside the client's base origin: the bearer token is never sent there."""


def operation_of_route(extensions: Mapping[str, Any] | None) -> _spec_index.Operation | None:
    """The spec operation a generated function is calling (its route travels in request extensions)."""
    global _ROUTES
    route = (extensions or {}).get("fintoro_route")
    if route is None:
        return None
    if _ROUTES is None:
        _ROUTES = {(op.method, _PATH_PARAM.sub("{}", op.path)): op for op in _spec_index.OPERATIONS.values()}
    method, path = route
    key = (method, path)
    if key not in _BY_TEMPLATE:  # each generated module's route is looked up once, not per request
        _BY_TEMPLATE[key] = _ROUTES.get((method, _PATH_PARAM.sub("{}", path)))
    return _BY_TEMPLATE[key]


def php_array_parts(files: list[tuple[str, Any]], arrays: tuple[str, ...]) -> list[tuple[str, Any]]:
    """Name array fields ``files[]``: PHP keeps only the last of several parts with one plain name."""
    return [(f"{name}[]" if name in arrays else name, value) for name, value in files]


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default_port


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer`` only for the client's own origin (scheme, host and port)."""

    def __init__(self, token: Secret, origin: tuple[str, str, int | None]) -> None:
        self._token = token
        self._origin = origin

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if origin_of(request.url) != self._origin:
            raise UnsafeURLError(f"refusing to send the API token to {request.url.scheme}://{request.url.host}")
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(token='<redacted>')"


@attrs.frozen
class ScopeOptions:
    """What differs between scopes of one client: token, language, timeout, retries, rate-limit key."""

    token: Secret
    accept_language: str | None
    timeout: httpx.Timeout
    retry: RetryPolicy
    company: str | None = None  # explicit rate-limit key; learned from /whoami otherwise


class LookupCache:
    """Fixed lookups (countries, currencies, ...) per URL and language; their ids never change in v1."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[int, list[tuple[bytes, bytes]], bytes]] = {}

    def get(self, request: httpx.Request) -> httpx.Response | None:
        entry = self._entries.get(self._key(request))
        if entry is None:
            return None
        status, headers, content = entry
        return httpx.Response(status, headers=headers, content=content, request=request)

    def put(self, request: httpx.Request, response: httpx.Response) -> None:
        self._entries[self._key(request)] = (response.status_code, response.headers.raw, response.content)

    def clear(self) -> None:
        self._entries.clear()

    @staticmethod
    def _key(request: httpx.Request) -> tuple[str, str]:
        return str(request.url), request.headers.get("accept-language", "")


@attrs.define
class Core:
    """State shared by a client and all its scopes: the connection pool and per-client caches."""

    http: httpx.AsyncClient
    owns_http: bool
    base_url: httpx.URL
    limiter: RateLimiter
    lookup_cache: LookupCache | None
    user_agent: str
    # token fingerprint -> company key, learned from /whoami (never the token itself)
    companies: dict[str, str] = attrs.field(factory=dict)
    closed: bool = False

    @property
    def origin(self) -> tuple[str, str, int | None]:
        return origin_of(self.base_url)

    def resolve(self, url: str | httpx.URL) -> httpx.URL:
        """An absolute URL for ``url``: paths are relative to the base URL; other origins are refused."""
        text = str(url)
        if text.startswith(("http://", "https://")):
            absolute = httpx.URL(text)
            if origin_of(absolute) != self.origin:
                raise UnsafeURLError(
                    f"{absolute.scheme}://{absolute.host} is not this client's API origin "
                    f"({self.base_url.scheme}://{self.base_url.host}); the token is only sent there"
                )
            return absolute
        return httpx.URL(str(self.base_url).rstrip("/") + "/" + text.lstrip("/"))


class Sender:
    """Sends requests for one scope; what generated endpoint functions receive as their httpx client."""

    def __init__(self, core: Core, options: ScopeOptions) -> None:
        self._core = core
        self._options = options
        self._auth = BearerAuth(options.token, core.origin)

    def __repr__(self) -> str:
        return f"Sender(base_url={str(self._core.base_url)!r})"

    @property
    def base_url(self) -> httpx.URL:
        return self._core.base_url

    def build_request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Any = None,
        json: Any = None,
        content: Any = None,
        data: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        cookies: Any = None,
        extensions: dict[str, Any] | None = None,
    ) -> httpx.Request:
        if self._core.closed:
            raise RuntimeError("this FintoroClient is closed")
        if json is not None:
            # Our encoder writes Decimal amounts digit for digit; httpx's would fail or go through float.
            content, json = _json.dumps(json), None
            headers = {"Content-Type": "application/json", **(headers or {})}
        merged = {"User-Agent": self._core.user_agent}
        if self._options.accept_language:
            merged["Accept-Language"] = self._options.accept_language
        merged.update(headers or {})
        return self._core.http.build_request(
            method,
            self._core.resolve(url),
            params=params,
            json=json,
            content=content,
            data=data,
            files=files,
            headers=merged,
            cookies=cookies,
            extensions=extensions,
            timeout=self._options.timeout,
        )

    async def request(self, method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """Send one logical call (with its retries) and return a 2xx response, body read."""
        operation = operation_of_route(kwargs.get("extensions"))
        if operation is not None and operation.per_page_max and isinstance(kwargs.get("params"), dict):
            per_page = kwargs["params"].get("perPage")
            if per_page is not None:
                check_page_size(per_page, operation.per_page_max)  # a ValueError before anything is sent
        if operation is not None and operation.multipart_arrays and kwargs.get("files"):
            kwargs["files"] = php_array_parts(kwargs["files"], operation.multipart_arrays)
        request = self.build_request(method, url, **kwargs)
        if operation is not None:
            if operation.body_schema and kwargs.get("json") is not None:
                check_body(operation.body_schema, kwargs["json"])
            if operation.idempotency_key and "idempotency-key" not in request.headers:
                request.headers["Idempotency-Key"] = str(uuid.uuid4())
            if self._core.lookup_cache is not None and operation.tag == LOOKUP_TAG and method.upper() == "GET":
                cached = self._core.lookup_cache.get(request)
                if cached is not None:
                    logger.debug("HTTP %s %s served from the lookup cache", request.method, request.url.path)
                    return cached
                response = await self.send(request)
                self._core.lookup_cache.put(request, response)
                return response
        return await self.send(request)

    @asynccontextmanager
    async def stream(self, method: str, url: str | httpx.URL, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """A 2xx response whose body is not read yet; closed on exit."""
        response = await self.send(self.build_request(method, url, **kwargs), stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    @property
    def rate_limit_key(self) -> str:
        if self._options.company:
            return self._options.company
        fingerprint = self._options.token.fingerprint
        return self._core.companies.get(fingerprint, f"token:{fingerprint}")

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send with retries; return a 2xx response or raise a typed error."""
        policy = self._options.retry
        retry = 0
        while True:
            key = self.rate_limit_key
            await self._core.limiter.acquire(key)
            started = time.monotonic()
            try:
                response = await self._core.http.send(request, auth=self._auth, stream=stream)
            except httpx.HTTPError as exc:
                self._log(request, None, started, retry, failure=type(exc).__name__)
                error: APIConnectionError = (
                    APITimeoutError(f"{type(exc).__name__}: request timed out", request=request)
                    if isinstance(exc, httpx.TimeoutException)
                    else APIConnectionError(f"{type(exc).__name__}: {exc}", request=request)
                )
                resendable = policy.may_resend(request) or isinstance(exc, NOT_SENT_ERRORS)
                if retry < policy.max_retries and resendable and _replayable(request):
                    await asyncio.sleep(policy.backoff(retry))
                    retry += 1
                    continue
                raise error from exc
            self._log(request, response, started, retry)
            await self._core.limiter.observe(key, response.headers, response.status_code)
            if response.is_success:
                return response
            if (
                response.status_code in RETRYABLE_STATUSES
                and retry < policy.max_retries
                and (policy.may_resend(request) or response.status_code == 429)
                and _replayable(request)
            ):
                delay = policy.delay_after(response, retry)
                if delay is not None:
                    await response.aclose()
                    await asyncio.sleep(delay)
                    retry += 1
                    continue
            if stream:
                await response.aread()
                await response.aclose()
            raise status_error(response)

    def _log(
        self,
        request: httpx.Request,
        response: httpx.Response | None,
        started: float,
        retry: int,
        failure: str | None = None,
    ) -> None:
        if not logger.isEnabledFor(10):  # logging.DEBUG, without importing logging here
            return
        outcome = failure or str(response.status_code if response is not None else "-")
        request_id = request_id_of(response.headers) if response is not None else None
        logger.debug(
            "HTTP %s %s -> %s (request id %s, %.0f ms, attempt %d)",
            request.method,
            request.url.path,
            outcome,
            request_id or "-",
            (time.monotonic() - started) * 1000,
            retry + 1,
        )


def _replayable(request: httpx.Request) -> bool:
    """A body that was streamed from a file object cannot be sent a second time."""
    return isinstance(request.stream, httpx.ByteStream)
