"""The JSON Schema subset the spec uses: validate a value, build a sample, fit a value to a schema.

Only what the pinned spec needs (type and type lists, nullable, required,
properties, additionalProperties, items, enum, const, allOf/anyOf/oneOf,
formats date/date-time/uuid/email, numeric and length bounds, pattern), so the
fake needs no validator package at run time.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import attrs

Path = tuple[str | int, ...]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SAMPLE_STRINGS = {
    "date": "2026-01-15",
    "date-time": "2026-01-15T09:30:00Z",
    "email": "billing@example.com",
    "uri": "https://example.com/",
    "uuid": "0b9d6a4e-5a1f-4c43-9d4b-3c0e2f1a7b21",
}


@attrs.frozen
class Problem:
    """One broken rule: where (path into the value), which rule, and the rule's parameters."""

    path: Path
    rule: str  # required, required_without, type, enum, format, min, max, min_length, max_length, min_items, ...
    params: Mapping[str, Any] = attrs.field(factory=dict)


class Schemas:
    """The spec's component schemas, with ``$ref`` resolution."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components

    @staticmethod
    def types(schema: Mapping[str, Any]) -> list[str]:
        """The schema's types (``nullable`` read as "null")."""
        return _types(schema)

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            node = self.components[str(node["$ref"]).rsplit("/", 1)[-1]]
        return node

    # --- validation ---------------------------------------------------------------

    def validate(self, schema: Mapping[str, Any], value: Any, path: Path = ()) -> list[Problem]:
        """Every rule ``value`` breaks (empty when valid)."""
        schema = self.resolve(schema)
        problems: list[Problem] = []
        for member in schema.get("allOf", []):
            problems += self.validate(member, value, path)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                problems += self._alternatives(schema[key], value, path)
        types = _types(schema)
        if value is None:
            if types and "null" not in types:
                problems.append(Problem(path, "type", {"type": _main_type(types)}))
            elif not types and "enum" in schema and None not in schema["enum"]:
                # A type list with null is Laravel's `nullable`: null passes before `in:` (the enum) is checked.
                problems.append(Problem(path, "enum", {"values": list(schema["enum"])}))
            return problems
        if types and not any(_is_type(value, t) for t in types):
            return [*problems, Problem(path, "type", {"type": _main_type(types)})]
        if "enum" in schema and value not in schema["enum"]:
            problems.append(Problem(path, "enum", {"values": list(schema["enum"])}))
        if "const" in schema and value != schema["const"]:
            problems.append(Problem(path, "enum", {"values": [schema["const"]]}))
        if isinstance(value, str):
            problems += _string_problems(schema, value, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            problems += _number_problems(schema, value, path)
        elif isinstance(value, list):
            if len(value) < schema.get("minItems", 0):
                problems.append(Problem(path, "min_items", {"min": schema["minItems"]}))
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                problems.append(Problem(path, "max_items", {"max": schema["maxItems"]}))
            if "items" in schema:
                for index, item in enumerate(value):
                    problems += self.validate(schema["items"], item, (*path, index))
        elif isinstance(value, dict):
            problems += self._object_problems(schema, value, path)
        return problems

    def _object_problems(self, schema: Mapping[str, Any], value: dict[str, Any], path: Path) -> list[Problem]:
        problems = [Problem((*path, name), "required") for name in schema.get("required", []) if name not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                problems += self.validate(properties[name], item, (*path, name))
            elif isinstance(extra, Mapping):
                problems += self.validate(extra, item, (*path, name))
        return problems

    def _alternatives(self, alternatives: list[Mapping[str, Any]], value: Any, path: Path) -> list[Problem]:
        if all(set(alt) == {"required"} for alt in alternatives):
            # "send clientId or client": a body rule, reported on the first alternative's fields.
            if not isinstance(value, dict) or any(
                all(value.get(f) is not None for f in a["required"]) for a in alternatives
            ):
                return []
            others = [f for alt in alternatives[1:] for f in alt["required"]]
            first = alternatives[0]["required"]
            return [Problem((*path, f), "required_without", {"others": others}) for f in first if value.get(f) is None]
        found: list[list[Problem]] = [self.validate(alt, value, path) for alt in alternatives]
        if any(not problems for problems in found):
            return []
        return min(found, key=len)

    # --- building ------------------------------------------------------------------

    def sample(self, schema: Mapping[str, Any], depth: int = 0) -> Any:
        """A valid instance of ``schema``: its example when valid, else built from its type and bounds."""
        schema = self.resolve(schema)
        if "example" in schema and not self.validate(schema, schema["example"]):
            return copy.deepcopy(schema["example"])
        for key in ("anyOf", "oneOf"):
            alternatives = [a for a in schema.get(key, []) if set(a) != {"required"}]
            if alternatives:
                non_null = [a for a in alternatives if _types(self.resolve(a)) != ["null"]]
                if depth > 3 and len(non_null) < len(alternatives):
                    return None
                return self.sample((non_null or alternatives)[0], depth + 1)
        if "enum" in schema:
            return schema["enum"][0]
        if "const" in schema:
            return schema["const"]
        types = [t for t in _types(schema) if t != "null"] or (["object"] if _is_object(schema) else [])
        if not types:
            return None
        kind = types[0]
        if kind == "object":
            return self._sample_object(schema, depth)
        if kind == "array":
            count = max(schema.get("minItems", 0), 1 if depth < 3 else 0)
            return [self.sample(schema.get("items", {}), depth + 1) for _ in range(count)]
        if kind == "string":
            text = _SAMPLE_STRINGS.get(schema.get("format", ""), "text")
            return text.ljust(schema.get("minLength", 0), "x")
        if kind == "integer":
            return int(max(1, schema.get("minimum", 1)))
        if kind == "number":
            return max(1.0, float(schema.get("minimum", 1.0)))
        return True  # boolean

    def _sample_object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties, required = self.object_parts(schema)
        result: dict[str, Any] = {}
        for name, prop in properties.items():
            if depth < 3 or name in required:
                result[name] = self.sample(prop, depth + 1)
        return result

    def _nullable(self, schema: Mapping[str, Any]) -> bool:
        return not self.validate(schema, None)

    def object_parts(self, schema: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
        """The properties and required names of an object schema, allOf members folded in."""
        schema = self.resolve(schema)
        properties: dict[str, Any] = {}
        required: set[str] = set(schema.get("required", []))
        for member in schema.get("allOf", []):
            member_props, member_required = self.object_parts(member)
            properties.update(member_props)
            required |= member_required
        properties.update(schema.get("properties", {}))
        return properties, required

    def fit(self, schema: Mapping[str, Any], candidate: Any, depth: int = 0) -> Any:
        """A valid instance of ``schema`` keeping as much of ``candidate`` as fits; the rest sampled."""
        schema = self.resolve(schema)
        if _is_object(schema) and isinstance(candidate, dict):
            properties, required = self.object_parts(schema)
            fitted: dict[str, Any] = {}
            for name, prop in properties.items():
                if name in candidate:
                    fitted[name] = self.fit(prop, candidate[name], depth + 1)
                elif name not in required and self._nullable(prop):
                    fitted[name] = None  # not given and optional: absent data, not an example's value
                elif depth < 3 or name in required:
                    fitted[name] = self.sample(prop, depth + 1)
            return fitted if not self.validate(schema, fitted) else self.sample(schema, depth)
        if "array" in _types(schema) and isinstance(candidate, list):
            items = [self.fit(schema.get("items", {}), item, depth + 1) for item in candidate]
            return items if not self.validate(schema, items) else self.sample(schema, depth)
        for key in ("anyOf", "oneOf"):
            for alt in schema.get(key, []):
                if set(alt) != {"required"} and candidate is not None and not self.validate(alt, candidate):
                    return self.fit(alt, candidate, depth + 1)
        if not self.validate(schema, candidate) and not _is_object(schema):
            return copy.deepcopy(candidate)
        return self.sample(schema, depth)


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    types = [kind] if isinstance(kind, str) else list(kind or [])
    if schema.get("nullable") and "null" not in types:
        types.append("null")
    return types


def _main_type(types: list[str]) -> str:
    return next((t for t in types if t != "null"), "null")


def _is_object(schema: Mapping[str, Any]) -> bool:
    return "object" in _types(schema) or ("properties" in schema and "type" not in schema) or "allOf" in schema


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "boolean": bool, "array": list, "object": dict, "null": type(None)}[kind])


def _string_problems(schema: Mapping[str, Any], value: str, path: Path) -> list[Problem]:
    problems = []
    if len(value) < schema.get("minLength", 0):
        problems.append(Problem(path, "min_length", {"min": schema["minLength"]}))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        problems.append(Problem(path, "max_length", {"max": schema["maxLength"]}))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(Problem(path, "pattern"))
    fmt = schema.get("format")
    if fmt and not _format_ok(fmt, value):
        problems.append(Problem(path, "format", {"format": fmt}))
    return problems


def _format_ok(fmt: str, value: str) -> bool:
    try:
        if fmt == "date":
            return bool(_DATE.match(value)) and bool(date.fromisoformat(value))
        if fmt == "date-time":
            return "T" in value and bool(datetime.fromisoformat(value.replace("Z", "+00:00")))
        if fmt == "uuid":
            return bool(uuid.UUID(value))
    except ValueError:
        return False
    if fmt == "email":
        return bool(_EMAIL.match(value))
    return True


def _number_problems(schema: Mapping[str, Any], value: float, path: Path) -> list[Problem]:
    problems = []
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(Problem(path, "min", {"min": schema["minimum"]}))
    if "maximum" in schema and value > schema["maximum"]:
        problems.append(Problem(path, "max", {"max": schema["maximum"]}))
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        problems.append(Problem(path, "min", {"min": schema["exclusiveMinimum"]}))
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        problems.append(Problem(path, "max", {"max": schema["exclusiveMaximum"]}))
    return problems
