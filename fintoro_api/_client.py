"""FintoroClient: the client users hold.

One client owns one httpx connection pool. ``with_token()`` and
``with_options()`` return immutable scoped clients that share that pool (and
its rate limiter and caches) but never each other's token or settings.
Every generated endpoint function accepts any of them as ``client=``, and
``client.<resource>.<action>(...)`` (the generated facade) calls them for you.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

import attrs
import httpx

from . import _bulk, _transfers
from ._body import DEFAULT_MAX_RESPONSE_BYTES
from ._headers import RateLimitInfo, check_accept_language
from ._http import Core, NoCookies, ScopeOptions, Sender
from ._logging import setup_from_env
from ._lookup_cache import LookupCache
from ._ratelimit import InMemoryRateLimiter, RateLimiter
from ._resources import Resources
from ._retry import RetryPolicy
from ._secrets import bearer_token
from ._transfers import Download, ProgressCallback, UploadItem
from .types import UNSET, Unset

DEFAULT_BASE_URL = "https://app.fintoro.sk/api/public/v1"
# Seconds for a whole call: rate-limit wait, every attempt and every backoff.
# httpx's 5 s per read is too short for a large PDF or a slow report; a dead
# host should still fail fast on connect.
DEFAULT_TIMEOUT = 60.0
CONNECT_TIMEOUT = 5.0
# Keep-alive equal to the pool size: with fewer, httpcore closes connections
# the moment a burst ends and the next burst pays a TLS handshake per request.
DEFAULT_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=20)
DEFAULT_MAX_RETRIES = 2


def _timeouts(value: float | httpx.Timeout | None) -> tuple[httpx.Timeout, float | None]:
    """(per-phase httpx timeouts, total deadline per call) for a ``timeout`` argument."""
    if isinstance(value, httpx.Timeout):
        return value, None
    if value is None:
        return httpx.Timeout(None), None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < float("inf"):
        return httpx.Timeout(float(value), connect=min(CONNECT_TIMEOUT, float(value))), float(value)
    raise ValueError(f"timeout must be a positive number of seconds, an httpx.Timeout or None, got {value!r}")


def _own_pool(transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient | httpx.AsyncBaseTransport:
    """Where our requests go: a transport we call directly, or a client when proxies come from the environment.

    httpx only honours HTTP(S)_PROXY through a client (as mounts); our own transport
    still honours SSL_CERT_FILE and SSL_CERT_DIR.
    """
    if transport is not None:
        return transport
    if urllib.request.getproxies():
        return httpx.AsyncClient(limits=DEFAULT_LIMITS, cookies=NoCookies())
    return httpx.AsyncHTTPTransport(limits=DEFAULT_LIMITS)


def _base_url(value: str) -> httpx.URL:
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        raise ValueError("base_url is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an absolute http(s) URL, got scheme {url.scheme!r}")
    if url.userinfo:
        # It would show in reprs and logs; the token is the only credential the API takes.
        raise ValueError("base_url must not contain a user name or password (pass the API token as token=)")
    if "?" in value or "#" in value:
        # Paths are appended to the base URL as text: they would land in its query or fragment.
        raise ValueError("base_url must not contain a query (?...) or fragment (#...)")
    return url


class FintoroClient(Resources):
    """Async client for the Fintoro API.

    >>> async with FintoroClient(token) as fintoro:
    ...     invoice = await fintoro.invoices.show(301)

    Args:
        token: the company's API bearer token (never logged or shown in reprs).
        base_url: the API root.
        accept_language: default ``Accept-Language`` for every request (``with_options`` overrides it).
        timeout: seconds for the whole call, covering the rate-limit wait, every attempt and every
            backoff (default 60; connecting may take at most 5 of them). A call that cannot finish
            in time raises ``APITimeoutError``, or ``RateLimitDeadlineError`` when the rate-limit
            wait alone would outlast it. For a download it covers reaching the body; the body then
            streams with the per-read limit. An ``httpx.Timeout`` sets per-phase limits instead
            (no total); ``None`` disables both.
        max_retries: resends of a failed attempt when that cannot duplicate a write (0 disables).
        retry: a full ``RetryPolicy`` (backoff, Retry-After cap) instead of ``max_retries``.
        transport: an httpx transport for the pool we create (custom TLS, proxies, tests); its
            own connection limits apply instead of ours (20 connections, all kept alive).
        http_client: an ``httpx.AsyncClient`` to send through instead of our own pool (its
            transport, proxies, TLS settings and event hooks apply); it is not closed by
            ``aclose()`` (you own it). Its headers, cookies, auth, base URL, timeouts and
            ``follow_redirects`` are not used: requests carry only this client's headers, never a
            cookie, and a 3xx raises ``RedirectError``. Cookies Fintoro sets may still land in its
            jar; they are never sent by fintoro_api.
        rate_limiter: where requests wait for their company's budget (default: in-memory,
            120 per 60 s per company); ``NoRateLimit()`` to disable.
        company: rate-limit key for this token's company when known (scopes with the same key
            share one budget); otherwise learned by ``current_company()`` or keyed by token.
        cache_lookups: cache the fixed lookups (countries, currencies, ...) per token and language.
        max_response_bytes: the most bytes of one response body (counted decoded, as it is read)
            held in memory; a 2xx past it raises ``ResponseTooLargeError``, an error status keeps its
            typed error without the body. Default 64 MiB. Streamed downloads are not capped.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        accept_language: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        rate_limiter: RateLimiter | None = None,
        company: str | None = None,
        cache_lookups: bool = True,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        setup_from_env()
        if http_client is not None and transport is not None:
            raise ValueError("pass either http_client or transport, not both")
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int) or max_response_bytes < 1:
            raise ValueError(f"max_response_bytes must be a positive number of bytes, got {max_response_bytes!r}")
        phase_timeouts, deadline = _timeouts(timeout)
        options = ScopeOptions(
            token=bearer_token(token),
            accept_language=check_accept_language(accept_language),
            timeout=phase_timeouts,
            deadline=deadline,
            retry=retry if retry is not None else RetryPolicy(max_retries=max_retries),
            company=company,
        )
        url = _base_url(base_url)
        core = Core(
            http=http_client if http_client is not None else _own_pool(transport),
            owns_pool=http_client is None,
            base_url=url,
            limiter=rate_limiter if rate_limiter is not None else InMemoryRateLimiter(),
            lookup_cache=LookupCache() if cache_lookups else None,
            user_agent=f"fintoro-api/{_version()} python/{sys.version_info.major}.{sys.version_info.minor}",
            max_response_bytes=max_response_bytes,
        )
        self._init_scope(core, options, is_root=True)

    def _init_scope(self, core: Core, options: ScopeOptions, *, is_root: bool) -> None:
        self._core = core
        self._options = options
        self._is_root = is_root
        self._sender = Sender(core, options)

    @classmethod
    def _scope(cls, core: Core, options: ScopeOptions) -> FintoroClient:
        scoped = cls.__new__(cls)
        scoped._init_scope(core, options, is_root=False)
        return scoped

    # --- what generated endpoint functions use -------------------------------------------

    def get_async_httpx_client(self) -> Sender:
        """The request sender generated functions call (auth, retries, errors, rate limit)."""
        return self._sender

    # --- scopes ----------------------------------------------------------------------------

    def with_token(self, token: str, *, company: str | None = None) -> FintoroClient:
        """A client for another company's token on the same connection pool.

        The parent is not modified; closing the scope does not close the pool.
        """
        return self._scope(self._core, attrs.evolve(self._options, token=bearer_token(token), company=company))

    def with_options(
        self,
        *,
        accept_language: str | Unset | None = UNSET,
        timeout: float | httpx.Timeout | Unset | None = UNSET,
        max_retries: int | Unset = UNSET,
    ) -> FintoroClient:
        """A client with other per-call settings (same token, same pool), e.g. ``max_retries=0``.

        An argument left at ``UNSET`` keeps this client's value; ``None`` is a value
        (no language header, no timeout).
        """
        changes: dict[str, Any] = {}
        if not isinstance(accept_language, Unset):
            changes["accept_language"] = check_accept_language(accept_language)
        if not isinstance(timeout, Unset):
            changes["timeout"], changes["deadline"] = _timeouts(timeout)
        if not isinstance(max_retries, Unset):
            changes["retry"] = attrs.evolve(self._options.retry, max_retries=max_retries)
        return self._scope(self._core, attrs.evolve(self._options, **changes))

    async def current_company(self) -> str:
        """The name of the company this token belongs to (``GET /whoami``).

        Also makes every scope of this client with a token of that company
        share one rate-limit budget.
        """
        from .api.whoami import show_whoami

        identity = await show_whoami.asyncio(client=self)
        self._core.companies[self._options.token.fingerprint] = f"company:{identity.name}"
        return identity.name

    @property
    def base_url(self) -> httpx.URL:
        return self._core.base_url

    @property
    def accept_language(self) -> str | None:
        return self._options.accept_language

    @property
    def max_retries(self) -> int:
        return self._options.retry.max_retries

    @property
    def timeout(self) -> httpx.Timeout:
        """The per-phase httpx limits (connect, read, write, pool wait)."""
        return self._options.timeout

    @property
    def deadline(self) -> float | None:
        """Seconds a whole call may take (rate-limit wait, attempts and backoff); None: no total."""
        return self._options.deadline

    @property
    def rate_limit_key(self) -> str:
        """The key this scope's requests are paced under (company name once known, else a token fingerprint)."""
        return self._sender.rate_limit_key

    def clear_lookup_cache(self) -> None:
        if self._core.lookup_cache is not None:
            self._core.lookup_cache.clear()

    @staticmethod
    def rate_limit_info(response: httpx.Response) -> RateLimitInfo:
        """The X-RateLimit-* state a response reported."""
        return RateLimitInfo.from_headers(response.headers)

    # --- binary transfers ------------------------------------------------------------------

    def stream(self, path_or_url: str) -> AbstractAsyncContextManager[Download]:
        """Stream a binary endpoint (or a same-origin ``pdfDownloadUrl``) in constant memory.

        >>> async with fintoro.stream("/invoices/301/pdf") as download:
        ...     async for chunk in download.iter_bytes():
        ...         ...
        """
        return _transfers.stream(self._sender, path_or_url)

    async def save(
        self,
        path_or_url: str,
        destination: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Download to ``destination`` atomically (complete file or nothing); return bytes written.

        ``progress(bytes_done, total_or_None)`` is called after every chunk.
        """
        return await _transfers.save(self._sender, path_or_url, destination, progress=progress)

    async def upload_attachments(self, files: UploadItem | Iterable[UploadItem]) -> list[str]:
        """Upload CRM attachment files (paths, bytes or binary file objects), streamed; return upload tokens."""
        return await _transfers.upload_attachments(self, files)

    async def save_pdfs(
        self,
        resource: str,
        ids: Iterable[int],
        directory: str | os.PathLike[str],
        *,
        concurrency: int = _bulk.DEFAULT_CONCURRENCY,
        progress: _bulk.BulkProgress | None = None,
    ) -> list[_bulk.SavedPdf]:
        """Save many documents' PDFs (``resource`` = "invoices", "credit_notes", ...) concurrently.

        Files are ``<directory>/<document>-<id>.pdf``, each written atomically; requests go
        out as fast as the rate budget allows, ``concurrency`` at a time. Returns one
        ``SavedPdf`` per id, in order: ``.ok`` with ``.bytes_written``, or ``.error`` (a
        ``FintoroError`` or ``OSError``); one failure never stops the others.
        ``progress(result, done, total)`` is called as each document finishes.
        """
        return await _bulk.save_pdfs(self._sender, resource, ids, directory, concurrency=concurrency, progress=progress)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._core.closed

    async def aclose(self) -> None:
        """Close the connection pool (root client only; closing a scope leaves the pool open)."""
        if not self._is_root or self._core.closed:
            return
        await self._core.aclose()

    async def __aenter__(self) -> FintoroClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        kind = "FintoroClient" if self._is_root else "FintoroClient(scope)"
        return (
            f"<{kind} base_url={str(self._core.base_url)!r} token=<redacted>"
            f" accept_language={self._options.accept_language!r} max_retries={self.max_retries}>"
        )


def _version() -> str:
    from . import __version__

    return __version__
