"""Write fintoro_api/_fake_spec.json: the spec facts fintoro_api.testing's fake needs at run time.

The fake answers like Fintoro from the pinned spec: routes, parameters,
request and response schemas (with their examples, which seed sensible
values). The installed package cannot read openapi/, so generation bundles
this subset as JSON next to the other generated modules (git-ignored, like
them). Prose (descriptions, summaries) is dropped: the fake needs shapes only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .index import iter_operations

FILE = "_fake_spec.json"
_PROSE = ("description", "summary", "title", "externalDocs")


def _without_prose(node: Any, *, in_properties: bool = False) -> Any:
    """``node`` without prose keys; a ``properties`` map keeps every key (a property may be called description)."""
    if isinstance(node, dict):
        return {
            key: _without_prose(value, in_properties=key == "properties" and not in_properties)
            for key, value in node.items()
            if in_properties or key not in _PROSE or not isinstance(value, str | dict)
        }
    if isinstance(node, list):
        return [_without_prose(item) for item in node]
    return node


def _resolved(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A response/header object with its component ``$ref`` followed (schemas keep their refs)."""
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def fake_spec(raw_spec: dict[str, Any]) -> dict[str, Any]:
    """The subset of the (unpatched) spec the fake serves from."""
    operations = []
    for method, path, operation, params in iter_operations(raw_spec):
        responses = {}
        for status, response in operation.get("responses", {}).items():
            response = _resolved(raw_spec, response)
            content = response.get("content", {})
            media = next(iter(content), None)
            responses[status] = {
                "mediaType": media,
                "schema": content.get(media, {}).get("schema") if media else None,
                "headers": sorted(response.get("headers", {})),
            }
        body = operation.get("requestBody", {}).get("content", {})
        body_media = next(iter(body), None)
        operations.append(
            {
                "operationId": operation["operationId"],
                "method": method.upper(),
                "path": path,
                "parameters": [
                    {
                        "name": p["name"],
                        "in": p["in"],
                        "required": bool(p.get("required")),
                        "schema": p.get("schema", {}),
                    }
                    for p in params
                ],
                "bodyMediaType": body_media,
                "bodySchema": body[body_media].get("schema") if body_media else None,
                "responses": responses,
            }
        )
    schemas = raw_spec.get("components", {}).get("schemas", {})
    data: dict[str, Any] = _without_prose({"operations": operations, "schemas": schemas})
    return data


def write(out: Path, raw_spec: dict[str, Any]) -> None:
    """Write the fake's data into the freshly generated package directory ``out``."""
    text = json.dumps(fake_spec(raw_spec), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    (out / FILE).write_text(text + "\n", encoding="utf-8")
