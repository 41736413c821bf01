"""Turn a thin event into the resource it points at (``invoices.paid`` -> show invoice).

The mapping is generated from the spec (``fintoro_api._webhook_types``): an
event type ``<collection>.<action>`` names a collection, whose
``GET /<collection>/{id}`` operation (found in the spec index) returns the
model. ``received-invoices`` and ``received-receipts`` have no such operation
in API v1, and say so.

Typed per resource: ``fetch_resource(event, client)`` gives
``Fetched[WebhookResourceModel]`` (the union of the show models; narrow it
with ``isinstance``), and ``fetch_resource(event, client, Invoice)`` gives
``Fetched[Invoice]``, raising TypeError if the event is not about an invoice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar, overload

import attrs

from .. import _spec_index
from .._endpoint import EndpointClient
from .._exceptions import NotFoundError
from ._event import WebhookEvent

if TYPE_CHECKING:
    from .._webhook_types import ShowRoute, WebhookResourceModel

M = TypeVar("M", bound="WebhookResourceModel")


def _routes() -> dict[str, ShowRoute]:
    from .._webhook_types import ROUTES

    return {route.collection: route for route in ROUTES.values()}


def show_operations() -> dict[str, _spec_index.Operation]:
    """collection -> its ``GET /<collection>/{id}`` operation, for every collection webhooks name."""
    return {
        collection: _spec_index.OPERATIONS[route.operation_id]
        for collection, route in _routes().items()
        if route.operation_id is not None
    }


def _route_of(event: WebhookEvent) -> ShowRoute | None:
    """By the event type's collection (the catalog's own field); by ``resource.type`` for an unknown event type."""
    from .._webhook_types import ROUTES

    route = _routes().get(event.collection)
    return route if route is not None else ROUTES.get(event.resource.type)


@attrs.frozen
class Fetched(Generic[M]):
    """The resource's current state, as the typed model of its show operation."""

    event: WebhookEvent
    resource: M


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


if TYPE_CHECKING:
    FetchResult: TypeAlias = Fetched[WebhookResourceModel] | Deleted | NoDetailEndpoint
else:
    FetchResult = Fetched | Deleted | NoDetailEndpoint


@overload
async def fetch_resource(
    event: WebhookEvent, client: EndpointClient
) -> Fetched[WebhookResourceModel] | Deleted | NoDetailEndpoint: ...


@overload
async def fetch_resource(
    event: WebhookEvent, client: EndpointClient, model: type[M]
) -> Fetched[M] | Deleted | NoDetailEndpoint: ...


async def fetch_resource(
    event: WebhookEvent, client: EndpointClient, model: type[Any] | None = None
) -> Fetched[Any] | Deleted | NoDetailEndpoint:
    """Fetch what ``event`` points at through ``client`` (a FintoroClient scoped to the event's company).

    With ``model`` (e.g. ``Invoice``), the result is typed as that model; an
    event about another resource type raises TypeError before any request.
    """
    route = _route_of(event)
    if model is not None:
        expected = _model_of(route)
        if expected is not model:
            raise TypeError(
                f"{event.type} (resource {event.resource.type}) is fetched as "
                f"{expected.__name__ if expected else 'nothing'}, not {model.__name__}"
            )
    if event.action == "deleted":
        return Deleted(event, "the event reports a deletion")
    if route is None or route.operation_id is None:
        return NoDetailEndpoint(event, f"API v1 has no GET /{event.collection}/{{id}} endpoint")
    operation = _spec_index.OPERATIONS[route.operation_id]
    module = importlib.import_module(f"fintoro_api.api.{operation.module}")
    try:
        resource = await module.asyncio(event.resource.id, client=client)
    except NotFoundError:
        return Deleted(event, f"GET /{event.collection}/{event.resource.id} answered 404")
    return Fetched(event, resource)


def _model_of(route: ShowRoute | None) -> type[Any] | None:
    if route is None or route.model is None:
        return None
    from .. import models

    found: type[Any] = getattr(models, route.model)
    return found
