"""Verify and sign Fintoro webhook deliveries.

Fintoro signs the raw body only: ``webhook-signature`` is the hex HMAC-SHA256
of the body bytes under the subscription secret; ``webhook-id`` and
``webhook-timestamp`` travel alongside, unsigned (this is not the Standard
Webhooks scheme). Checks, in Fintoro's order: the three headers (400), the
timestamp within ``tolerance`` in either direction (401), the signature in
constant time against every accepted secret (401); only then is the body
parsed (400 if it is not a matching event).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence

from .._exceptions import WebhookHeaderError, WebhookPayloadError, WebhookSignatureError, WebhookTimestampError
from .._secrets import Secret
from ._event import WebhookEvent

DEFAULT_TOLERANCE_S = 300
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_INTEGER = re.compile(r"-?[0-9]{1,15}")


SecretLike = str | Secret


def secret_bytes(secret: SecretLike | Sequence[SecretLike]) -> list[bytes]:
    items = [secret] if isinstance(secret, str | Secret) else list(secret)
    if not items:
        raise ValueError("at least one webhook secret is required")
    return [(s.reveal() if isinstance(s, Secret) else Secret(s).reveal()).encode() for s in items]


def signature_of(body: bytes, secret: SecretLike) -> str:
    """The hex HMAC-SHA256 Fintoro sends in ``webhook-signature``."""
    return hmac.new(secret_bytes(secret)[0], body, hashlib.sha256).hexdigest()


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: SecretLike | Sequence[SecretLike],
    *,
    tolerance: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> WebhookEvent:
    """Check a delivery and return its event, or raise a WebhookVerificationError subclass.

    ``secret`` may be a list (e.g. ``[new, old]`` while a rotation settles).
    """
    if not isinstance(body, bytes | bytearray):
        raise TypeError("verify() needs the raw body bytes, exactly as received")
    lowered = {name.lower(): value for name, value in headers.items()}
    return verify_with_keys(body, lowered, secret_bytes(secret), tolerance=tolerance, now=now)


def verify_with_keys(
    body: bytes | bytearray,
    lowered: Mapping[str, str],
    keys: Sequence[bytes],
    *,
    tolerance: int,
    now: float | None = None,
) -> WebhookEvent:
    """``verify()`` with header names already lower-case and the secrets already encoded (the receiver's path)."""
    values = {}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        value = lowered.get(name)
        if value is None or not value.strip():
            raise WebhookHeaderError(f"missing {name} header")
        values[name] = value.strip()
    if not _INTEGER.fullmatch(values["webhook-timestamp"]):
        raise WebhookHeaderError("webhook-timestamp is not an integer Unix time")
    if not _HEX64.fullmatch(values["webhook-signature"]):
        raise WebhookHeaderError("webhook-signature is not a 64-digit hex HMAC-SHA256")

    skew = (time.time() if now is None else now) - int(values["webhook-timestamp"])
    if skew > tolerance:
        raise WebhookTimestampError(f"webhook-timestamp is {int(skew)} s old (tolerance {tolerance} s)")
    if -skew > tolerance:
        raise WebhookTimestampError(f"webhook-timestamp is {int(-skew)} s in the future (tolerance {tolerance} s)")

    received = values["webhook-signature"].lower().encode()
    # Compare against every secret (no early exit), each in constant time.
    matches = [
        hmac.compare_digest(hmac.new(key, bytes(body), hashlib.sha256).hexdigest().encode(), received) for key in keys
    ]
    if not any(matches):
        raise WebhookSignatureError("webhook-signature does not match the body under any configured secret")

    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookPayloadError("the signed body is not JSON") from None
    event = WebhookEvent.from_payload(payload)
    if event.id != values["webhook-id"]:
        raise WebhookPayloadError("the body's id differs from the webhook-id header")
    return event


def sign(
    body: bytes,
    secret: SecretLike,
    *,
    timestamp: int | None = None,
    webhook_id: str | None = None,
) -> dict[str, str]:
    """Headers of a valid delivery of ``body``, to test your own receiver.

    ``webhook_id`` defaults to the body's ``id`` (so verify() accepts it), else a new uuid.
    """
    if webhook_id is None:
        try:
            webhook_id = str(json.loads(body)["id"])
        except (ValueError, KeyError, TypeError):
            webhook_id = str(uuid.uuid4())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "webhook-signature": signature_of(body, secret),
    }
