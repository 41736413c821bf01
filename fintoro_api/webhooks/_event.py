"""The webhook event model: thin identity plus a pointer to the changed resource."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .._exceptions import WebhookPayloadError

if TYPE_CHECKING:  # generated modules, imported when the first event is parsed
    from .._webhook_types import WebhookResourceType
    from ..models.webhook_event_type import WebhookEventType


@attrs.frozen
class WebhookResource:
    """Which resource changed: ``type`` (a ``WebhookResourceType``: camelCase singular, e.g. ``invoice``) and ``id``.

    A resource type added after this package was generated still parses (its ``is_known`` is False).
    """

    type: WebhookResourceType
    id: int | str


@attrs.frozen
class WebhookEvent:
    """A verified delivery.

    ``type`` is a ``WebhookEventType`` (a value added after this package was
    generated still parses; its ``is_known`` is False). ``payload`` keeps the
    whole body, including fields this model does not name (e.g. ``company``).
    """

    id: str
    type: WebhookEventType
    occurred_at: datetime
    resource: WebhookResource
    payload: dict[str, Any] = attrs.field(repr=False)

    @classmethod
    def from_payload(cls, payload: Any) -> WebhookEvent:
        from .._webhook_types import WebhookResourceType
        from ..models.webhook_event_type import WebhookEventType

        if not isinstance(payload, dict):
            raise WebhookPayloadError("the event body is not a JSON object")
        try:
            event_id, event_type, occurred, resource = (
                payload["id"],
                payload["type"],
                payload["occurredAt"],
                payload["resource"],
            )
        except KeyError as missing:
            raise WebhookPayloadError(f"the event body has no {missing.args[0]!r}") from None
        if not isinstance(event_id, str) or not isinstance(event_type, str) or not isinstance(occurred, str):
            raise WebhookPayloadError("id, type and occurredAt must be strings")
        if not isinstance(resource, dict) or not isinstance(resource.get("type"), str):
            raise WebhookPayloadError("resource must be an object with a string type")
        resource_id = resource.get("id")
        if isinstance(resource_id, bool) or not isinstance(resource_id, int | str):
            raise WebhookPayloadError("resource.id must be an integer or a string")
        try:
            occurred_at = datetime.fromisoformat(occurred.replace("Z", "+00:00"))
        except ValueError:
            raise WebhookPayloadError("occurredAt is not an ISO 8601 date-time") from None
        if occurred_at.tzinfo is None:
            raise WebhookPayloadError("occurredAt has no timezone")
        return cls(
            id=event_id,
            type=WebhookEventType(event_type),
            occurred_at=occurred_at,
            resource=WebhookResource(type=WebhookResourceType(resource["type"]), id=resource_id),
            payload=payload,
        )

    @property
    def action(self) -> str:
        """The part after the dot: ``created``, ``updated``, ``deleted``, ``paid``, ..."""
        return str(self.type).rsplit(".", 1)[-1]

    @property
    def collection(self) -> str:
        """The part before the dot, the API path segment: ``invoices``, ``price-list-items``, ..."""
        return str(self.type).rsplit(".", 1)[0]
