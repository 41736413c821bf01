"""Turn a thin event into the resource it points at (``invoices.paid`` -> show invoice).

The mapping comes from the spec index: an event type ``<collection>.<action>``
maps to the ``GET /<collection>/{id}`` operation. ``received-invoices`` and
``received-receipts`` have no such operation in API v1, and say so.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import attrs

from .. import _spec_index
from .._endpoint import EndpointClient
from .._exceptions import NotFoundError
from ._event import WebhookEvent

_SHOW_PATH = re.compile(r"/([a-z0-9-]+)/\{[^}]+\}")


def show_operations() -> dict[str, _spec_index.Operation]:
    """collection -> its ``GET /<collection>/{id}`` operation."""
    found = {}
    for op in _spec_index.OPERATIONS.values():
        match = _SHOW_PATH.fullmatch(op.path)
        if op.method == "GET" and match and not op.binary:
            found[match.group(1)] = op
    return found


@attrs.frozen
class Fetched:
    """The resource's current state, as the typed model of its show operation."""

    event: WebhookEvent
    resource: Any


@attrs.frozen
class Deleted:
    """The resource is gone: a ``*.deleted`` event, or a 404 on fetch. The event is the source of truth."""

    event: WebhookEvent
    reason: str


@attrs.frozen
class NoDetailEndpoint:
    """API v1 has no endpoint to fetch this resource (received invoices and receipts, or an unknown type)."""

    event: WebhookEvent
    reason: str


FetchResult = Fetched | Deleted | NoDetailEndpoint


async def fetch_resource(event: WebhookEvent, client: EndpointClient) -> FetchResult:
    """Fetch what ``event`` points at through ``client`` (a FintoroClient scoped to the event's company)."""
    if event.action == "deleted":
        return Deleted(event, "the event reports a deletion")
    operation = show_operations().get(event.collection)
    if operation is None:
        return NoDetailEndpoint(event, f"API v1 has no GET /{event.collection}/{{id}} endpoint")
    module = importlib.import_module(f"fintoro_api.api.{operation.module}")
    try:
        resource = await module.asyncio(event.resource.id, client=client)
    except NotFoundError:
        return Deleted(event, f"GET /{event.collection}/{event.resource.id} answered 404")
    return Fetched(event, resource)
