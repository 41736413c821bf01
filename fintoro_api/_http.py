"""The request pipeline every call goes through, generated functions included.

``Sender`` is what ``FintoroClient.get_async_httpx_client()`` hands to the
generated endpoint functions (they only call ``.request(**kwargs)``). One
call, top to bottom:

``request``       contract preparation (``_contract.prepare``), build the request,
                  the lookup cache around sending (``_lookup_cache``);
``send``          the call's total deadline and the retry loop
                  (``RetryPolicy.next_delay`` decides every resend);
``_attempt``      rate-limit wait (``max_wait`` = what the deadline has left),
                  one exchange with redirects off (``Core.exchange``), its body read
                  up to ``max_response_bytes`` (``_body``), limiter feedback (also
                  when no answer came: a transport error, the deadline, a cancellation);
``_error``        the typed error for the last outcome (``_exceptions``).

Requests are built here, not by the httpx client: only our headers travel
(never a user-supplied client's headers or cookies), and the URL's origin is
checked once, where the bearer token is added.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar
from typing import Any

import attrs
import httpx

from . import _json
from ._body import DEFAULT_MAX_RESPONSE_BYTES, read_bounded
from ._contract import operation_of, prepare
from ._exceptions import (
    BODY_OVER_LIMIT,
    AlreadyDeletedError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    RateLimitDeadlineError,
    ResponseTooLargeError,
    UnsafeURLError,
    status_error,
)
from ._headers import without_wire_headers
from ._logging import log_attempt, logger
from ._lookup_cache import LookupCache
from ._ratelimit import RateLimiter, WaitTooLong
from ._retry import NOT_SENT_ERRORS, RetryPolicy
from ._secrets import Secret

__all__ = ["Core", "NoCookies", "ScopeOptions", "Sender", "UnsafeURLError"]

# Exceptions whose text comes from the operating system, never from our headers.
_QUOTABLE_ERRORS = (httpx.NetworkError, httpx.TimeoutException)
# What the others mean, said without their text (h11 quotes the offending header value).
_MEANINGS: dict[type[httpx.HTTPError], str] = {
    httpx.RemoteProtocolError: "the server closed the connection or broke the HTTP protocol",
    httpx.LocalProtocolError: "the request cannot be sent as HTTP (an illegal header value?)",
    httpx.DecodingError: "the response body could not be decoded",
    httpx.UnsupportedProtocol: "the URL's scheme is not supported",
    httpx.ProxyError: "the proxy refused the request",
}


class NoCookies(CookieJar):
    """A cookie jar that stores nothing: no cookie outlives its response or crosses to another scope.

    For the httpx.AsyncClient we make when environment proxies must be honoured.
    """

    def set_cookie(self, cookie: Any) -> None:
        return None

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default_port


@attrs.frozen
class ScopeOptions:
    """What differs between scopes of one client: token, language, deadline, retries, rate-limit key."""

    token: Secret
    accept_language: str | None
    timeout: httpx.Timeout  # per connect / read / write / pool wait
    deadline: float | None  # seconds for the whole call: rate-limit wait, every attempt, every backoff
    retry: RetryPolicy
    company: str | None = None  # explicit rate-limit key; learned from /whoami otherwise


@attrs.define
class Core:
    """State shared by a client and all its scopes: the connection pool and per-client caches.

    Requests go straight to ``transport`` (our pool) when there is one, else through a caller's
    ``http_client`` (its transport, proxy mounts and event hooks); ``owns_pool``: ``aclose()`` closes it.
    ``max_response_bytes`` bounds every body read into memory (streamed downloads excepted).
    """

    http: httpx.AsyncClient | httpx.AsyncBaseTransport
    owns_pool: bool
    base_url: httpx.URL
    limiter: RateLimiter
    lookup_cache: LookupCache | None
    user_agent: str
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    # token fingerprint -> company key, learned from /whoami (never the token itself)
    companies: dict[str, str] = attrs.field(factory=dict)
    closed: bool = False
    origin: tuple[str, str, int | None] = attrs.field(init=False)
    _base: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.origin = origin_of(self.base_url)
        self._base = str(self.base_url).rstrip("/")

    async def exchange(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        """One HTTP exchange, never following a redirect; the body is read (bounded) unless a 2xx ``stream``.

        Our own pool is called directly: httpx.AsyncClient.send would add auth, cookie and
        redirect machinery this layer does not use (about 15% of the client's CPU per request).
        """
        if isinstance(self.http, httpx.AsyncClient):
            response = await self.http.send(request, auth=None, follow_redirects=False, stream=True)
        else:
            response = await self.http.handle_async_request(request)
            response.request = request
        if stream and response.is_success:
            return response
        return await read_bounded(response, self.max_response_bytes)  # closes it; the connection goes back

    async def aclose(self) -> None:
        self.closed = True
        if self.owns_pool:
            await self.http.aclose()

    def resolve(self, url: str | httpx.URL) -> httpx.URL:
        """An absolute URL for ``url``: paths are relative to the base URL; other origins are refused."""
        text = str(url)
        if not text.startswith(("http://", "https://")):
            return httpx.URL(self._base + "/" + text.lstrip("/"))
        absolute = httpx.URL(text)
        if origin_of(absolute) != self.origin:
            raise UnsafeURLError(
                f"{absolute.scheme}://{absolute.host} is not this client's API origin "
                f"({self.base_url.scheme}://{self.base_url.host}); the token is only sent there"
            )
        return absolute


class _Deadline:
    """The moment (event-loop time) a call must be finished by; None: no limit."""

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.at = None if seconds is None else asyncio.get_running_loop().time() + seconds

    def remaining(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - asyncio.get_running_loop().time())

    def allows(self, delay: float) -> bool:
        left = self.remaining()
        return left is None or delay < left


class _DeadlinePassed(Exception):
    """The call's total deadline passed during an attempt."""


class Sender:
    """Sends requests for one scope; what generated endpoint functions receive as their httpx client."""

    def __init__(self, core: Core, options: ScopeOptions) -> None:
        self._core = core
        self._options = options
        self._timeouts = options.timeout.as_dict()
        headers = {
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": core.user_agent,
            "Authorization": f"Bearer {options.token.reveal()}",
        }
        if options.accept_language:
            headers["Accept-Language"] = options.accept_language
        self._headers = headers

    def __repr__(self) -> str:
        return f"Sender(base_url={str(self._core.base_url)!r})"

    @property
    def base_url(self) -> httpx.URL:
        return self._core.base_url

    @property
    def rate_limit_key(self) -> str:
        if self._options.company:
            return self._options.company
        fingerprint = self._options.token.fingerprint
        return self._core.companies.get(fingerprint, f"token:{fingerprint}")

    # --- one call ---------------------------------------------------------------------------

    async def request(self, method: str, url: str | httpx.URL, **call: Any) -> httpx.Response:
        """Send one logical call (with its retries) and return a 2xx response, body read."""
        operation = operation_of(call.get("extensions"))
        request = self.build_request(method, url, **prepare(operation, call))
        cache = self._core.lookup_cache
        if cache is not None and operation is not None and operation.lookup:
            key = (self._options.token.fingerprint, str(request.url), request.headers.get("accept-language", ""))
            return await cache.fetch(key, request, self.send)
        return await self.send(request)

    @asynccontextmanager
    async def stream(self, method: str, url: str | httpx.URL, **call: Any) -> AsyncIterator[httpx.Response]:
        """A 2xx response whose body is not read yet; closed on exit. The deadline covers reaching the body."""
        response = await self.send(self.build_request(method, url, **call), stream=True)
        try:
            yield response
        finally:
            await response.aclose()

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
        extensions: dict[str, Any] | None = None,
    ) -> httpx.Request:
        """The request as it goes on the wire: our headers only, the token only for the API origin."""
        if self._core.closed:
            raise RuntimeError("this FintoroClient is closed")
        merged = dict(self._headers)
        if json is not None:
            # Our encoder writes Decimal amounts digit for digit; httpx's would fail or go through float.
            content = _json.dumps(json)
            merged["Content-Type"] = "application/json"
        if headers:
            merged.update(headers)
        return httpx.Request(
            method.upper(),
            self._core.resolve(url),  # refuses other origins: the Authorization header never leaves
            params=params,
            content=content,
            data=data,
            files=files,
            headers=merged,
            extensions={"timeout": self._timeouts},
        )

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send with retries inside the call's deadline; return a 2xx response or raise a typed error."""
        deadline = _Deadline(self._options.deadline)
        policy = self._options.retry
        retries = 0
        may_have_acted = False  # an earlier attempt may have reached the server and acted
        while True:
            outcome = await self._attempt(request, deadline, stream=stream, attempt=retries + 1)
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                if BODY_OVER_LIMIT in outcome.extensions:
                    raise ResponseTooLargeError(outcome, outcome.extensions[BODY_OVER_LIMIT])
                return outcome
            delay = None if isinstance(outcome, _DeadlinePassed) else policy.next_delay(request, outcome, retries)
            if delay is not None and deadline.allows(delay):
                await asyncio.sleep(delay)
                if not self._core.closed:  # after aclose() nothing is sent: it would reopen the pool
                    may_have_acted = may_have_acted or _may_have_acted(outcome)
                    retries += 1
                    continue
            cause = outcome if isinstance(outcome, _QUOTABLE_ERRORS) else None
            raise self._error(request, outcome, deadline, may_have_acted) from cause

    async def _attempt(
        self, request: httpx.Request, deadline: _Deadline, *, stream: bool, attempt: int
    ) -> httpx.Response | Exception:
        """One exchange: wait for the rate limit, send, learn from the answer. Non-2xx bodies are read."""
        key = self.rate_limit_key
        started = None  # set once the rate limiter let the request go
        scope = asyncio.timeout_at(deadline.at)
        try:
            async with scope:
                await self._core.limiter.acquire(key, max_wait=deadline.remaining())
                started = time.monotonic()
                response = await self._core.exchange(request, stream=stream)
        except asyncio.CancelledError:
            if started is not None:
                await self._unanswered(key)
            raise
        except WaitTooLong as exc:
            raise RateLimitDeadlineError(exc.wait, request=request) from None
        except httpx.HTTPStatusError as exc:
            # A caller's http_client hook (raise_for_status) raised before the body was read; httpx closed it.
            # The status and headers still decide retries and the typed error.
            response = httpx.Response(
                exc.response.status_code, headers=without_wire_headers(exc.response.headers), request=request
            )
        except httpx.HTTPError as exc:
            if started is not None:
                await self._unanswered(key)
            log_attempt(request, exc, started or time.monotonic(), attempt)
            return exc
        except TimeoutError:
            if started is not None:
                await self._unanswered(key)
            if not scope.expired():
                if started is None:  # the limiter's own failure, not ours to rename
                    raise
                # A caller's transport timing out with asyncio.wait_for: a timeout like httpx's own.
                failed = httpx.TimeoutException("the transport timed out", request=request)
                log_attempt(request, failed, started, attempt)
                return failed
            if started is None:  # the limiter ignored max_wait and slept into the deadline
                raise RateLimitDeadlineError(None, request=request) from None
            passed = _DeadlinePassed()
            log_attempt(request, passed, started, attempt)
            return passed
        log_attempt(request, response, started or time.monotonic(), attempt)
        await self._core.limiter.observe(key, response.headers, response.status_code)
        return response

    async def _unanswered(self, key: str) -> None:
        """Tell the limiter a request it let go got no usable answer (status 0, no headers).

        Its slot is then counted from now and freed after one window; left in flight it
        would hold the slot for two. Shielded, so a second cancellation cannot cut the
        limiter's bookkeeping short; a limiter failure here is logged, never raised over
        the error (or cancellation) that ended the attempt.
        """
        try:
            await asyncio.shield(self._core.limiter.observe(key, {}, 0))
        except Exception as exc:
            logger.debug("rate limiter: observe() after an unanswered request failed: %s", type(exc).__name__)

    def _error(
        self, request: httpx.Request, outcome: httpx.Response | Exception, deadline: _Deadline, may_have_acted: bool
    ) -> APIError:
        """The typed error for the attempt the call ends on."""
        if isinstance(outcome, httpx.Response):
            if outcome.status_code == 404 and request.method == "DELETE" and may_have_acted:
                return AlreadyDeletedError(outcome)
            return status_error(outcome)
        name = type(outcome).__name__
        if isinstance(outcome, _DeadlinePassed):
            return APITimeoutError(f"the call's deadline of {deadline.seconds:g} s passed", request=request)
        if isinstance(outcome, httpx.TimeoutException):
            return APITimeoutError(f"{name}: request timed out", request=request)
        if isinstance(outcome, _QUOTABLE_ERRORS) and str(outcome):
            return APIConnectionError(f"{name}: {outcome}", request=request)
        meaning = next((text for cls, text in _MEANINGS.items() if isinstance(outcome, cls)), "transport failure")
        return APIConnectionError(f"{name}: {meaning}", request=request)


def _may_have_acted(outcome: httpx.Response | Exception) -> bool:
    """Whether the server may have carried out a request that failed this way."""
    if isinstance(outcome, httpx.Response):
        return outcome.status_code != 429  # the throttle rejects before handling
    return not isinstance(outcome, NOT_SENT_ERRORS)
