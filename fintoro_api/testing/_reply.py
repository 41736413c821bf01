"""What the fake answers: status, body (JSON value or bytes) and headers, before transport."""

from __future__ import annotations

import json
from typing import Any

import attrs


@attrs.frozen
class Reply:
    status: int
    body: Any = None  # a JSON value, raw bytes, or None for no body
    media_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def with_headers(self, *headers: tuple[str, str]) -> Reply:
        return attrs.evolve(self, headers=(*self.headers, *headers))

    def content(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()
