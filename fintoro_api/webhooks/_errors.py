"""Why a webhook delivery was rejected, with the HTTP status a receiver should answer."""

from __future__ import annotations

from .._exceptions import FintoroError


class WebhookVerificationError(FintoroError):
    """A delivery that must not be trusted; ``http_status`` is what the receiver should answer."""

    http_status = 400


class WebhookHeaderError(WebhookVerificationError):
    """A webhook header is missing or malformed (400)."""


class WebhookTimestampError(WebhookVerificationError):
    """``webhook-timestamp`` is outside the tolerance, too old or too far in the future (401)."""

    http_status = 401


class WebhookSignatureError(WebhookVerificationError):
    """The signature matches none of the secrets (401)."""

    http_status = 401


class WebhookPayloadError(WebhookVerificationError):
    """Signed correctly, but not a Fintoro event (not JSON, missing fields, id != webhook-id) (400)."""
