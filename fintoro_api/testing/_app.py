"""The fake as one ASGI app: Fintoro's request pipeline in front of the handlers.

Order, as Fintoro answers: token (401) -> company rate limit (429) -> route
(404) -> token scope (403) -> injected faults -> Idempotency-Key replay ->
query and body validation (422) -> the handler -> faults after commit. Every
answer carries X-Request-Id and Content-Language; every throttled one the
X-RateLimit-* headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from .._exceptions import IDEMPOTENCY_CONFLICT
from . import _documents
from ._faults import Faults
from ._handlers import Call, Handlers, Invalid, Missing
from ._language import negotiate, text, validation_body
from ._replay import ReplayStore, fingerprint
from ._reply import Reply
from ._schema import Problem, Schemas
from ._spec import Route, SpecData
from ._store import Store
from ._throttle import Decision, WindowLimiter

API_PREFIX = "/api/public/v1"
_log = logging.getLogger("fintoro_api.testing")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)


class ConnectionDropped(Exception):
    """Raised after a partial response: the connection is to be cut (an injected fault)."""


class FakeApp:
    def __init__(
        self,
        spec: SpecData,
        store: Store,
        handlers: Handlers,
        limiter: WindowLimiter,
        faults: Faults,
        replays: ReplayStore,
    ) -> None:
        self.spec = spec
        self.store = store
        self.handlers = handlers
        self.limiter = limiter
        self.faults = faults
        self.replays = replays
        self._request_ids = itertools.count(1)
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of every answered request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":  # pragma: no cover - websockets are not part of the API
            return
        body = await read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        language = negotiate(headers.get("accept-language"))
        request_id = f"req_fake_{next(self._request_ids):06d}"
        drop = False
        try:
            reply, drop = await self._answer(scope, headers, body, language)
        except Exception:  # a bug in the fake still answers like Fintoro (a JSON 500), and is logged
            _log.exception("fintoro_api.testing: %s %s failed (request %s)", scope["method"], scope["path"], request_id)
            reply = _error(500, language, "server_error")
        reply = reply.with_headers(("X-Request-Id", request_id), ("Content-Language", language))
        self.requests.append((scope["method"], scope["path"], reply.status))
        content = reply.content()
        response_headers = [(b"content-length", str(len(content)).encode())]
        if reply.media_type:
            response_headers.append((b"content-type", reply.media_type.encode()))
        response_headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": response_headers})
        if drop:
            await send({"type": "http.response.body", "body": content[: len(content) // 2], "more_body": True})
            raise ConnectionDropped(f"{scope['method']} {scope['path']}: connection dropped after commit")
        await send({"type": "http.response.body", "body": content})

    async def _answer(self, scope: Scope, headers: dict[str, str], body: bytes, language: str) -> tuple[Reply, bool]:
        token = headers.get("authorization", "")
        grant = self.store.grant(token[7:]) if token[:7].lower() == "bearer " else None
        if grant is None:
            return _error(401, language, "unauthenticated"), False
        company = grant.company
        decision = self.limiter.hit(str(company.id))
        if not decision.allowed:
            return _error(429, language, "too_many").with_headers(*decision.headers()), False
        reply, drop = await self._routed(scope, headers, body, language, grant.scope, company, decision)
        if any(name == "X-RateLimit-Limit" for name, _ in reply.headers):  # a 429 storm set its own
            return reply, drop
        return reply.with_headers(*decision.headers()), drop

    async def _routed(
        self,
        scope: Scope,
        headers: dict[str, str],
        body: bytes,
        language: str,
        access: str,
        company: Any,
        decision: Decision,
    ) -> tuple[Reply, bool]:
        method = scope["method"]
        path = scope["path"].removeprefix(scope.get("root_path", "")).removeprefix(API_PREFIX) or "/"
        matched = self.spec.match(method, path)
        if matched is None:
            return _error(404, language, "not_found"), False
        route, ids = matched
        if method != "GET" and access != "write":
            return _error(403, language, "forbidden"), False
        fault = self.faults.take(route.operation_id, after_commit=False)
        if fault is not None and fault.kind == "rate_limit":
            storm = Decision(False, decision.limit, 0, decision.reset_at, fault.retry_after)
            return _error(429, language, "too_many").with_headers(*storm.headers()), False
        if fault is not None:
            await asyncio.sleep(fault.seconds)
        reply = await self._committed(scope, headers, body, language, company, route, ids)
        fault = self.faults.take(route.operation_id, after_commit=True)
        if fault is not None and fault.kind == "drop":
            return reply, True
        if fault is not None:
            return _error(fault.status, language, "unavailable" if fault.status == 503 else "server_error"), False
        return reply, False

    async def _committed(
        self,
        scope: Scope,
        headers: dict[str, str],
        body: bytes,
        language: str,
        company: Any,
        route: Route,
        ids: list[str],
    ) -> Reply:
        """Replay, validate and handle: what the request did, before any fault after commit."""
        key = headers.get("idempotency-key") if route.idempotent else None
        # One request per key at a time: a handler may await (webhook DNS), and a second request with the
        # key must then replay the first one's answer, not create its own.
        async with self.replays.lock(company.id, key) if key else contextlib.nullcontext():
            print_ = fingerprint(route.method, "/".join([route.path, *ids]), body)
            if key:
                previous = self.replays.lookup(company.id, key, print_)
                if previous is False:
                    return Reply(422, {"message": text(language, "invalid"), "error": IDEMPOTENCY_CONFLICT})
                if isinstance(previous, Reply):
                    return previous.with_headers(("Idempotency-Key", key), ("Idempotency-Status", "Repeated"))
            try:
                call = Call(
                    company=company,
                    route=route,
                    ids=ids,
                    query=self._query(route, scope.get("query_string", b"")),
                    body=self._body(route, headers.get("content-type", ""), body),
                    language=language,
                    base_url=_base_url(scope, headers),
                )
                reply = await self.handlers.handle(call)
            except Invalid as exc:
                return Reply(422, validation_body(language, exc.problems))
            except Missing:
                return _error(404, language, "not_found")
            if key:
                self.replays.remember(company.id, key, print_, reply)
                reply = reply.with_headers(("Idempotency-Key", key), ("Idempotency-Status", "Original"))
            return reply

    def _query(self, route: Route, raw: bytes) -> dict[str, Any]:
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
        for name, value in pairs:
            param = route.query(name)
            if param is None:
                continue
            coerced = _coerce(param["schema"], value)
            problems += self.spec.schemas.validate(param["schema"], coerced, (name,))
            values[name] = coerced
        for param in route.parameters:
            if param["in"] == "query" and param["required"] and param["name"] not in values:
                problems.append(Problem((param["name"],), "required"))
        if problems:
            raise Invalid(problems)
        return values

    def _body(self, route: Route, content_type: str, body: bytes) -> Any:
        if route.body_media_type == "multipart/form-data":
            try:
                return _documents.multipart_parts(content_type, body)
            except _documents.MultipartError:
                raise Invalid([Problem(("files",), "required")]) from None
        schema = route.body_schema
        if schema is None:
            return None
        if not _says_json(content_type):
            return self._validated(schema, {})  # Laravel reads a body as JSON only under a JSON Content-Type
        try:
            parsed = json.loads(body) if body else {}
            json.dumps(parsed, ensure_ascii=False).encode()  # a lone surrogate: PHP's json_decode refuses it too
        except (ValueError, RecursionError):
            parsed = {}  # Laravel reads an unreadable JSON body as no input at all
        return self._validated(schema, parsed if isinstance(parsed, dict) else {})

    def _validated(self, schema: dict[str, Any], parsed: dict[str, Any]) -> dict[str, Any]:
        problems = self.spec.schemas.validate(schema, parsed)
        if problems:
            raise Invalid(problems)
        return parsed


def _says_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.endswith(("/json", "+json"))


def _coerce(schema: dict[str, Any], value: str) -> Any:
    """A query string value as the type its schema declares (left as text when it does not parse)."""
    kinds = Schemas.types(schema)
    try:
        if "integer" in kinds:
            return int(value)
        if "number" in kinds:
            return float(value)
    except ValueError:
        return value
    if "boolean" in kinds and value.lower() in ("1", "0", "true", "false"):
        return value.lower() in ("1", "true")
    return value


def _base_url(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host") or "app.fintoro.sk"
    return f"{scope.get('scheme', 'https')}://{host}{API_PREFIX}"


def _error(status: int, language: str, key: str) -> Reply:
    return Reply(status, {"message": text(language, key)})
