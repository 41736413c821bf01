"""The fake's control surface over HTTP (``/_fake/...``), for stacks that cannot call it from Python.

- ``POST /_fake/companies`` ``{"name": ..., "token"?: ...}`` -> 201 ``{"token": ...}``
- ``POST /_fake/faults`` ``{"operationId": "createOrder", "kind": "drop" | "error" | "latency" | "rate_limit",
  "times"?: 1, "status"?: 500, "seconds"?: 1.0, "retryAfter"?: 1}`` -> 201; ``DELETE /_fake/faults`` -> 204
- ``GET /_fake/deliveries`` -> 200 every webhook delivery and its attempts;
  ``POST /_fake/deliveries`` -> 200 sends what is due now
"""

from __future__ import annotations

import json
from typing import Any

from ._app import Receive, Scope, Send, read_body
from ._fake import FakeFintoro
from ._faults import Fault, drop_connection, latency, rate_limit_storm, server_error
from ._webhooks import Delivery

PREFIX = "/_fake/"


class AdminError(ValueError):
    """A control request the fake cannot do: answered 400 with this message."""


def _fault(spec: dict[str, Any]) -> Fault:
    kind, times = spec.get("kind"), spec.get("times", 1)
    if kind == "drop":
        return drop_connection(times)
    if kind == "error":
        return server_error(int(spec.get("status", 500)), times=times)
    if kind == "latency":
        return latency(float(spec.get("seconds", 1.0)), times=times)
    if kind == "rate_limit":
        return rate_limit_storm(int(times or 1), retry_after=int(spec.get("retryAfter", 1)))
    raise AdminError(f"unknown fault kind {kind!r}: use drop, error, latency or rate_limit")


def _delivery(delivery: Delivery) -> dict[str, Any]:
    return {
        "event": delivery.event,
        "subscriptionId": delivery.subscription_id,
        "url": delivery.url,
        "delivered": delivery.delivered,
        "failed": delivery.failed,
        "nextAttemptAt": delivery.next_at,
        "attempts": [{"at": a.at, "status": a.status, "error": a.error} for a in delivery.attempts],
    }


async def admin(fake: FakeFintoro, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one ``/_fake/...`` request."""
    body = await read_body(receive)
    status = 404
    answer: dict[str, Any] = {"message": "unknown control path"}
    try:
        data = json.loads(body) if body else {}
        if not isinstance(data, dict):
            raise AdminError("send a JSON object")
        route = (scope["method"], scope["path"].removeprefix(PREFIX).rstrip("/"))
        if route == ("POST", "companies"):
            status, answer = (
                201,
                {"token": fake.add_company(str(data.get("name") or "Demo s.r.o."), token=data.get("token"))},
            )
        elif route == ("POST", "faults"):
            fake.inject(str(data.get("operationId") or "*"), _fault(data))
            status, answer = 201, {"operationId": data.get("operationId") or "*", "kind": data.get("kind")}
        elif route == ("DELETE", "faults"):
            fake.faults.clear()
            status, answer = 204, {}
        elif route == ("GET", "deliveries"):
            status, answer = 200, {"data": [_delivery(d) for d in fake.deliveries]}
        elif route == ("POST", "deliveries"):
            status, answer = 200, {"data": [_delivery(d) for d in await fake.deliver_webhooks()]}
    except (AdminError, ValueError, TypeError) as exc:
        status, answer = 400, {"message": str(exc)}
    content = b"" if status == 204 else json.dumps(answer).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
