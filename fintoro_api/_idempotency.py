"""Idempotency-Keys: stable keys derived from a business identity, and the check every key passes.

A job that creates invoice "for order 4711" and crashes after sending must
send the *same* key when it restarts, or Fintoro cannot tell the second
attempt from a new invoice. ``idempotency_key("order", 4711)`` is the same
string in every process and on every run; a different identity gives a
different key.
"""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("0b5c3f5e-8d0c-5d6a-9f3e-6a1f0e2d9c41")  # fintoro-api's own namespace for uuid5
MAX_KEY_LENGTH = 255


def idempotency_key(*identity: str | int) -> str:
    """A deterministic key (a UUIDv5) for ``identity``, e.g. ``idempotency_key("invoice-for-order", order.id)``."""
    if not identity:
        raise ValueError("idempotency_key() needs at least one part of a business identity")
    for part in identity:
        if isinstance(part, bool) or not isinstance(part, str | int) or (isinstance(part, str) and not part):
            raise ValueError(f"identity parts must be non-empty strings or integers, got {part!r}")
    # Length-prefix each part so ("ab", "c") and ("a", "bc") differ.
    text = "\x1f".join(f"{len(str(p))}:{p}" for p in identity)
    return str(uuid.uuid5(_NAMESPACE, text))


def check_idempotency_key(value: object) -> str:
    """``value`` if it is a usable Idempotency-Key, else a ValueError naming the argument.

    A blank key is the dangerous case: a server may ignore it, and a retry
    that trusted it would commit the write twice.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("idempotency_key must be a non-blank string (or leave it out to get a generated one)")
    if len(value) > MAX_KEY_LENGTH or not all("!" <= char <= "~" for char in value):
        raise ValueError(f"idempotency_key must be at most {MAX_KEY_LENGTH} visible ASCII characters without spaces")
    return value
