"""The spec data the fake serves from (fintoro_api/_fake_spec.json, written by `make generate`), loaded on first use."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs

from ._schema import Schemas

_PARAM = re.compile(r"\{([^}]+)\}")


@attrs.frozen
class Route:
    """One operation of the spec, as the fake routes and answers it."""

    operation_id: str
    method: str
    path: str
    pattern: re.Pattern[str]
    parameters: tuple[dict[str, Any], ...]
    body_media_type: str | None
    body_schema: dict[str, Any] | None
    status: int  # the success status
    media_type: str | None  # of the success response
    schema: dict[str, Any] | None  # of the success response
    headers: tuple[str, ...]  # the success response's declared headers

    @property
    def collection(self) -> str:
        """The first path segment: ``/invoices/{invoice}/pdf`` -> ``invoices``."""
        return self.path.split("/")[1]

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))

    @property
    def idempotent(self) -> bool:
        return any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in self.parameters)

    def query(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.parameters if p["in"] == "query" and p["name"] == name), None)


@attrs.frozen
class SpecData:
    routes: tuple[Route, ...]
    schemas: Schemas
    event_types: tuple[str, ...]

    def match(self, method: str, path: str) -> tuple[Route, list[str]] | None:
        """The route for ``method path`` and its path parameters, else None."""
        for route in self.routes:
            if route.method == method:
                found = route.pattern.fullmatch(path)
                if found:
                    return route, list(found.groups())
        return None

    def route(self, operation_id: str) -> Route:
        for route in self.routes:
            if route.operation_id == operation_id:
                return route
        raise KeyError(operation_id)

    def find(self, method: str, path: str) -> Route | None:
        return next((r for r in self.routes if r.method == method and r.path == path), None)


def _route(op: dict[str, Any]) -> Route:
    status, response = next((s, r) for s, r in op["responses"].items() if s.startswith("2"))
    pattern = re.compile(_PARAM.sub("([^/]+)", re.escape(op["path"]).replace(r"\{", "{").replace(r"\}", "}")))
    return Route(
        operation_id=op["operationId"],
        method=op["method"],
        path=op["path"],
        pattern=pattern,
        parameters=tuple(op["parameters"]),
        body_media_type=op["bodyMediaType"],
        body_schema=op["bodySchema"],
        status=int(status),
        media_type=response["mediaType"],
        schema=response["schema"],
        headers=tuple(response["headers"]),
    )


@functools.cache
def spec_data() -> SpecData:
    """Load the bundled spec data once; a missing file says how to make it."""
    try:
        text = resources.files("fintoro_api").joinpath("_fake_spec.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuntimeError(
            "fintoro_api/_fake_spec.json is missing: run `make generate` (or reinstall fintoro-api)"
        ) from None
    return parse_spec_data(json.loads(text))


def parse_spec_data(data: Mapping[str, Any]) -> SpecData:
    """SpecData from the JSON shape codegen/fakedata.py writes (``{"operations": [...], "schemas": {...}}``)."""
    schemas = Schemas(data["schemas"])
    events = schemas.resolve({"$ref": "#/components/schemas/WebhookEventType"}).get("enum", [])
    return SpecData(routes=tuple(_route(op) for op in data["operations"]), schemas=schemas, event_types=tuple(events))
