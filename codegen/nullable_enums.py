"""Restate nullable enums whose ``enum`` omits null, so the models accept the null the API sends.

``{type: [string, 'null'], enum: [percentage, fixed]}``: by JSON Schema a null
then fails the enum although the type admits it. Fintoro validates like
Laravel's ``nullable|in:...`` (the type list is the ``nullable``, the enum the
``in:``), and sends null for "no discount" (``Invoice.discountType``, the same
field without an enum, is null then). Handed to the generator as they are, the
models reject that null; with ``null`` added to the enum the generator emits a
union of three look-alike classes.

Each such property becomes ``anyOf: [{$ref: <Class>}, {type: 'null'}]`` (its
description and example kept), with the enum hoisted into a component schema
named as the generator named the inline enum (``Order`` + ``discountType`` ->
``OrderDiscountType``), so class names stay and the field is typed
``OrderDiscountType | None``. Applied to the generator's input only; the
vendored spec is untouched.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import CodegenError
from .facade import words


def restate(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``spec`` with every such property restated; and the names of the hoisted enum schemas."""
    result = copy.deepcopy(spec)
    schemas: dict[str, Any] = result.get("components", {}).get("schemas", {})
    hoisted: dict[str, dict[str, Any]] = {}
    for name, schema in list(schemas.items()):
        _restate_properties(schema, name, hoisted)
    for name, enum_schema in hoisted.items():
        if name in schemas:
            raise CodegenError(f"nullable enum {name}: a component schema of that name exists already")
        schemas[name] = enum_schema
    return result, sorted(hoisted)


def _restate_properties(schema: Any, class_name: str, hoisted: dict[str, dict[str, Any]]) -> None:
    if not isinstance(schema, dict):
        return
    for prop, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        nested_name = class_name + "".join(word.capitalize() for word in words(prop))
        enum_type = _nullable_enum_type(sub)
        if enum_type is None:
            _restate_properties(sub, nested_name, hoisted)
            continue
        hoisted[nested_name] = {"type": enum_type, "enum": sub.pop("enum")}
        del sub["type"]
        sub["anyOf"] = [{"$ref": f"#/components/schemas/{nested_name}"}, {"type": "null"}]


def _nullable_enum_type(schema: dict[str, Any]) -> str | None:
    """The non-null type of ``{type: [T, 'null'], enum: [...]}`` whose enum lists no null, else None."""
    types, enum = schema.get("type"), schema.get("enum")
    if not isinstance(types, list) or "null" not in types or not isinstance(enum, list) or None in enum:
        return None
    others = [t for t in types if t != "null"]
    return others[0] if len(others) == 1 and isinstance(others[0], str) else None
