"""Valid request inputs built from the spec's schemas and their examples.

For a schema: its ``example`` when it has one; an object gets its required
properties (plus the first alternative of a required-only anyOf); arrays get
as many items as minItems asks (at least one); enums their first value.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml

FORMAT_SAMPLES = {
    "date": "2026-03-03",
    "date-time": "2026-03-03T10:00:00Z",
    "email": "billing@example.com",
    "uri": "https://example.com/",
    "uuid": "6b1b8c9e-66e6-4fb5-b2db-6d7c7f0f8f19",
}


class SpecData:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            parts = node["$ref"].lstrip("#/").split("/")
            target: Any = self.spec
            for part in parts:
                target = target[part]
            node = target
        return node

    def instance(self, schema: dict[str, Any], depth: int = 0) -> Any:
        schema = self.resolve(schema)
        if "example" in schema:
            return copy.deepcopy(schema["example"])
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                value = self.instance(part, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
            own = {k: v for k, v in schema.items() if k != "allOf"}
            if own.get("properties") or own.get("required"):
                merged.update(self.instance({**own, "type": "object"}, depth + 1))
            return merged
        for key in ("oneOf", "anyOf"):
            alternatives = schema.get(key)
            if alternatives and not all(set(alt) == {"required"} for alt in alternatives):
                return self.instance(alternatives[0], depth + 1)
        if "enum" in schema:
            return schema["enum"][0]
        if "const" in schema:
            return schema["const"]
        kind = schema.get("type", "object")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            count = max(1, schema.get("minItems", 1))
            return [self.instance(schema.get("items", {}), depth + 1) for _ in range(count)]
        if kind == "string":
            return FORMAT_SAMPLES.get(schema.get("format", ""), "text")
        if kind == "integer":
            return max(1, schema.get("minimum", 1))
        if kind == "number":
            return max(1.5, schema.get("minimum", 1.5))
        if kind == "boolean":
            return True
        return None

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties", {})
        wanted = list(schema.get("required", []))
        any_of = schema.get("anyOf")
        if any_of and all(set(alt) == {"required"} for alt in any_of):
            wanted += [name for name in any_of[0]["required"] if name not in wanted]
        result = {}
        for name in wanted:
            prop = properties.get(name, {})
            prop_schema = self.resolve(prop)
            if "example" in prop_schema and not {"allOf", "anyOf", "oneOf"} & set(prop_schema):
                result[name] = copy.deepcopy(prop_schema["example"])
            else:
                result[name] = self.instance(prop, depth + 1)
        return result

    def parameter_value(self, param: dict[str, Any]) -> Any:
        if "example" in param:
            return param["example"]
        schema = self.resolve(param.get("schema", {}))
        if "example" in schema:
            return schema["example"]
        return self.instance(schema, depth=1)


HTTP_METHODS = ("get", "put", "post", "patch", "delete")


@functools.cache
def vendored_spec() -> dict[str, Any]:
    """The spec vendored under openapi/ (the file openapi/pin.json names; read-only, shared).

    Tests derive expectations (operation counts, event types) from it, so a pin move needs no test edit.
    """
    openapi = Path(__file__).resolve().parents[2] / "openapi"
    name = json.loads((openapi / "pin.json").read_text(encoding="utf-8"))["file"]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded: dict[str, Any] = yaml.load((openapi / name).read_bytes(), Loader=loader)
    return loaded


def operation_ids(spec: dict[str, Any]) -> list[str]:
    """Every operationId of ``spec``, in path order."""
    return [item[method]["operationId"] for item in spec["paths"].values() for method in HTTP_METHODS if method in item]


def example_body(schema: str) -> dict[str, Any]:
    """A valid request body for ``components/schemas/<schema>`` of the vendored spec, from its examples."""
    body: dict[str, Any] = SpecData(vendored_spec()).instance({"$ref": f"#/components/schemas/{schema}"})
    return body


# A document line item without a price-list record: valid under every pinned item rule (older pins need unitId).
MANUAL_ITEM = {"quantity": 1, "name": "Consulting", "unitId": 1, "unitPrice": 10, "vatRate": 20}
