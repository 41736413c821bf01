"""What the API contract asks of a call before it is sent: pure functions, no HTTP.

Each generated endpoint passes its operation's name; ``_spec_index.OPERATIONS``
(written at generation time) says what that operation needs. ``prepare``
applies it to the keyword arguments the generated function built:

- a ``perPage`` above the endpoint's maximum is a ValueError (nothing sent);
- multipart array fields become ``name[]`` parts (PHP keeps only the last
  of several parts with one plain name);
- body rules the generator cannot express are checked (``_body_rules``);
- a caller's Idempotency-Key and per-call Accept-Language are checked; create operations that accept a key
  and got none get a fresh one, so their retries cannot duplicate a write.
"""

from __future__ import annotations

import uuid
from typing import Any

from ._body_rules import check_body
from ._headers import check_accept_language
from ._idempotency import check_idempotency_key
from ._pagination import check_page_size
from ._spec_index import ENDPOINTS, OPERATIONS, Operation

OPERATION_EXTENSION = "fintoro_operation"


def operation_of(extensions: dict[str, Any] | None) -> Operation | None:
    """The operation a generated function is calling (its name travels in the request extensions)."""
    if not extensions:
        return None
    name = extensions.get(OPERATION_EXTENSION)
    operation_id = ENDPOINTS.get(name) if isinstance(name, str) else None
    return None if operation_id is None else OPERATIONS[operation_id]


def prepare(operation: Operation | None, call: dict[str, Any]) -> dict[str, Any]:
    """``call`` (request keyword arguments) made to fit ``operation``'s contract; raises before sending."""
    headers: dict[str, Any] = dict(call.get("headers") or {})
    key_header = None
    for name, value in headers.items():
        if name.lower() == "idempotency-key":
            key_header = name
            check_idempotency_key(value)
        elif name.lower() == "accept-language":
            check_accept_language(value)
    if operation is None:
        return call
    prepared = dict(call)
    params = call.get("params")
    if operation.per_page_max and isinstance(params, dict) and params.get("perPage") is not None:
        check_page_size(params["perPage"], operation.per_page_max)
    if operation.multipart_arrays and call.get("files"):
        prepared["files"] = php_array_parts(call["files"], operation.multipart_arrays)
    if operation.body_schema and call.get("json") is not None:
        check_body(operation.body_schema, call["json"])
    if operation.idempotency_key and key_header is None:
        headers["Idempotency-Key"] = str(uuid.uuid4())
        prepared["headers"] = headers
    return prepared


def php_array_parts(files: list[tuple[str, Any]], arrays: tuple[str, ...]) -> list[tuple[str, Any]]:
    """Name array fields ``files[]``: PHP keeps only the last of several parts with one plain name."""
    return [(f"{name}[]" if name in arrays else name, value) for name, value in files]
