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
from collections.abc import Iterable, Mapping, Sequence

from .._exceptions import WebhookHeaderError, WebhookPayloadError, WebhookSignatureError, WebhookTimestampError
from .._secrets import Secret
from ._event import WebhookEvent

DEFAULT_TOLERANCE_S = 300
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_INTEGER = re.compile(r"-?[0-9]{1,15}")


SecretLike = str | Secret
_DELIVERY_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class SigningKeys:
    """The accepted webhook secrets (one, or ``[new, old]`` during a rotation), checked and encoded once.

    Like ``Secret`` it never shows its values: ``repr`` (so ``vars()`` dumps and
    the traceback locals of every frame holding it) says only how many there
    are, and pickling is refused. It is immutable, so copies share it.
    """

    __slots__ = ("_keys",)

    def __init__(self, secret: SecretLike | Sequence[SecretLike]) -> None:
        items: list[object] = [secret]
        if isinstance(secret, Sequence) and not isinstance(secret, str | bytes | bytearray):
            items = list(secret)
        if not items:
            raise ValueError("at least one webhook secret is required")
        self._keys = tuple(_encoded(item) for item in items)

    def signed(self, body: bytes | bytearray, received: bytes) -> bool:
        """Whether ``received`` (lower-case hex) is the body's HMAC-SHA256 under any of the secrets."""
        # Every secret is tried (no early exit), each compared in constant time.
        matches = [
            hmac.compare_digest(hmac.new(key, body, hashlib.sha256).hexdigest().encode(), received)
            for key in self._keys
        ]
        return any(matches)

    def signature(self, body: bytes) -> str:
        """The hex HMAC-SHA256 of ``body`` under the first secret."""
        return hmac.new(self._keys[0], body, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"SigningKeys(<{len(self._keys)} redacted>)"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("webhook secrets are not picklable")

    def __copy__(self) -> SigningKeys:
        return self

    def __deepcopy__(self, memo: object) -> SigningKeys:
        return self


def _encoded(item: object) -> bytes:
    # Refused here, at start-up: each of these would otherwise answer every delivery 401 (or crash on the first).
    if item is None:
        raise TypeError("webhook secret is None (an unset environment variable?)")
    if not isinstance(item, str | Secret):
        raise TypeError(f"a webhook secret must be a str or Secret, not {type(item).__name__}")
    value = item.reveal() if isinstance(item, Secret) else item
    if not value.strip():
        raise ValueError("webhook secret is empty")
    if value != value.strip():
        raise ValueError("webhook secret has leading or trailing whitespace (a newline from a file?): strip it first")
    return value.encode()


def lowered_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names in lower case (a server need not send them so).

    A delivery header given twice with different values is ambiguous, whichever would win: 400.
    """
    pairs = [(name.lower(), value) for name, value in items]
    lowered = dict(pairs)
    if len(lowered) < len(pairs):  # some name repeats (rare)
        for name in _DELIVERY_HEADERS:
            if len({value.strip() for key, value in pairs if key == name}) > 1:
                raise WebhookHeaderError(f"more than one {name} header, with different values")
    return lowered


def signature_of(body: bytes, secret: SecretLike) -> str:
    """The hex HMAC-SHA256 Fintoro sends in ``webhook-signature``."""
    return SigningKeys(secret).signature(body)


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
    keys = SigningKeys(secret)
    return verify_with_keys(body, lowered_headers(headers.items()), keys, tolerance=tolerance, now=now)


def verify_with_keys(
    body: bytes | bytearray,
    lowered: Mapping[str, str],
    keys: SigningKeys,
    *,
    tolerance: int,
    now: float | None = None,
) -> WebhookEvent:
    """``verify()`` with header names already lower-case and the secrets already encoded (the receiver's path)."""
    values = {}
    for name in _DELIVERY_HEADERS:
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

    if not keys.signed(body, values["webhook-signature"].lower().encode()):
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
