"""What changed between two versions of the API, from the point of view of code that calls it.

Compared, at any depth (inline nested objects, array items, map values):
operations, parameters, request bodies and 2xx responses (status codes,
content types, properties with their type, required-ness and nullability),
enum values, constraints (``maxLength``, ``minimum``, ``pattern``, ...),
required-only ``anyOf`` body rules, component schemas, and the generated
Python surface (endpoint modules, facade methods, model classes), whose names
are derived with the functions codegen itself uses, never read from generated
code.

Every change is **breaking** (code that worked may fail) or **additive**.
Direction matters: what tightens a request breaks callers, what loosens a
response breaks readers. A component schema's side (request, response or both)
is where operations reach it, transitively; a schema no operation reaches
counts as both.

Output: Markdown grouped by resource (the first path segment; component
schemas under their own name; the Python surface under "python") and JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from openapi_python_client.strings import ClassName, PythonIdentifier

from .facade import action_name, resource_of
from .index import _per_page_max, _required_any_of, iter_operations

BREAKING, ADDITIVE = "breaking", "additive"
REQUEST, RESPONSE = "request", "response"
BOTH = frozenset({REQUEST, RESPONSE})
# The generator's prefixes (openapi-python-client's default field_prefix).
FIELD_PREFIX = "field_"
# Upper bounds tighten when they fall, lower bounds when they rise; the rest tighten on any change.
UPPER = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
LOWER = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
OTHER = ("pattern", "multipleOf", "const", "uniqueItems")
MAX_DEPTH = 32


@dataclass(frozen=True, order=True)
class Change:
    group: str  # resource ("invoices"), "schema Invoice" or "python"
    location: str  # "GET /invoices", "GET /invoices query:status", "Invoice.items[].name", ...
    kind: str  # operation | parameter | request-property | response-property | property | type | nullable
    # | enum-value | constraint | body-rule | status-code | content-type | request-body | schema
    # | response-header | default | python-module | facade-method | model-class
    action: str  # added | removed | changed | moved
    severity: str  # breaking | additive
    detail: str = ""


def _severity(sides: frozenset[str], *, breaks_request: bool, breaks_response: bool) -> str:
    hit = (REQUEST in sides and breaks_request) or (RESPONSE in sides and breaks_response)
    return BREAKING if hit else ADDITIVE


def _property_kind(sides: frozenset[str]) -> str:
    return "request-property" if sides == {REQUEST} else "response-property" if sides == {RESPONSE} else "property"


def _ref_name(node: Any) -> str | None:
    ref = node.get("$ref") if isinstance(node, dict) else None
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _resource(path: str) -> str:
    return path.strip("/").split("/")[0] or "/"


class _Spec:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        components = doc.get("components", {})
        self.schemas: dict[str, Any] = components.get("schemas", {})
        self.responses: dict[str, Any] = components.get("responses", {})
        self.request_bodies: dict[str, Any] = components.get("requestBodies", {})
        self.operations = {f"{m.upper()} {p}": (p, op, params) for m, p, op, params in iter_operations(doc)}

    def response(self, node: dict[str, Any]) -> dict[str, Any]:
        name = _ref_name(node)
        return dict(self.responses.get(name, {})) if name else node

    def request_body(self, operation: dict[str, Any]) -> dict[str, Any] | None:
        node = operation.get("requestBody")
        name = _ref_name(node)
        return dict(self.request_bodies.get(name, {})) if name else node

    def successes(self, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {
            str(status): self.response(node)
            for status, node in operation.get("responses", {}).items()
            if str(status).startswith("2")
        }

    def usage(self) -> dict[str, frozenset[str]]:
        """schema name -> the sides (request, response) operations reach it on, transitively."""
        sides: dict[str, set[str]] = {}

        def refs(node: Any, acc: set[str]) -> None:
            if isinstance(node, dict):
                name = _ref_name(node)
                if name and name not in acc:
                    acc.add(name)
                    refs(self.schemas.get(name, {}), acc)
                for value in node.values():
                    refs(value, acc)
            elif isinstance(node, list):
                for item in node:
                    refs(item, acc)

        for _path, operation, params in self.operations.values():
            request: set[str] = set()
            refs(self.request_body(operation), request)
            refs([p.get("schema", {}) for p in params], request)
            response: set[str] = set()
            refs(list(self.successes(operation).values()), response)
            for name in request:
                sides.setdefault(name, set()).add(REQUEST)
            for name in response:
                sides.setdefault(name, set()).add(RESPONSE)
        return {name: frozenset(found) for name, found in sides.items()}


def _types(node: dict[str, Any]) -> tuple[str, bool]:
    """(type description without null, nullable) of a schema node."""
    name = _ref_name(node)
    if name:
        return name, False
    members = node.get("allOf")
    if isinstance(members, list) and (len(members) > 1 or "properties" in node):
        # Several members, or members beside own properties, are merged into one object: compared
        # property by property (_object_view), so moving a property into a member changes nothing.
        return "object", node.get("nullable") is True or "null" in _kinds(node)
    for key in ("allOf", "anyOf", "oneOf"):
        members = node.get(key)
        if isinstance(members, list) and members and _required_any_of(node) is None:
            described = [_types(m) if isinstance(m, dict) else ("any", False) for m in members]
            kept = [d for d, _ in described if d != "null"]
            nullable = any(d == "null" or n for d, n in described)
            return (kept[0] if len(kept) == 1 else f"{key}[{', '.join(kept)}]"), nullable
    kinds = _kinds(node)
    parts = []
    for k in kinds:
        if k == "null":
            continue
        if k == "array":
            items = node.get("items")
            parts.append(f"array<{_types(items)[0] if isinstance(items, dict) else 'any'}>")
        elif k == "string" and node.get("format"):
            parts.append(f"string({node['format']})")
        else:
            parts.append(k)
    return "|".join(parts) or "null", "null" in kinds or node.get("nullable") is True


def _kinds(node: dict[str, Any]) -> list[str]:
    kind = node.get("type", "object" if "properties" in node or "allOf" in node else "any")
    return [str(k) for k in (kind if isinstance(kind, list) else [kind])]


def type_of(node: Any) -> str:
    """A short type description: ``Invoice``, ``string(date)``, ``array<Invoice>``, ``integer|null``."""
    if not isinstance(node, dict):
        return "any"
    base, nullable = _types(node)
    return f"{base}|null" if nullable else base


def _object_view(
    node: dict[str, Any], schemas: dict[str, Any], seen: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], set[str], list[list[str]]]:
    """(properties, required, required-only anyOf alternatives) with the allOf members folded in.

    ``$ref`` members are folded too (their own changes are also reported under their name):
    a property that moves from the object into a member is still there for callers.
    """
    properties: dict[str, Any] = {}
    required: set[str] = set()
    rules: list[list[str]] = list(_required_any_of(node) or [])
    for member in node.get("allOf", []):
        name = _ref_name(member)
        if name and name not in seen and isinstance(schemas.get(name), dict):
            member, seen = schemas[name], seen | {name}
        if isinstance(member, dict) and not _ref_name(member):
            props, req, member_rules = _object_view(member, schemas, seen)
            properties.update(props)
            required |= req
            rules += member_rules
    properties.update(node.get("properties", {}))
    required |= set(node.get("required", []))
    return properties, required, rules


class _Comparer:
    """Recursive comparison of two schema nodes at one location, on the given sides."""

    def __init__(self, group: str, old: _Spec, new: _Spec) -> None:
        self.group = group
        self.old, self.new = old.schemas, new.schemas
        self.changes: list[Change] = []

    def add(self, location: str, kind: str, action: str, severity: str, detail: str = "") -> None:
        self.changes.append(Change(self.group, location, kind, action, severity, detail))

    def schema(self, where: str, old: Any, new: Any, sides: frozenset[str], depth: int = 0) -> None:
        if not isinstance(old, dict) or not isinstance(new, dict) or depth > MAX_DEPTH:
            return
        old_ref, new_ref = _ref_name(old), _ref_name(new)
        if old_ref != new_ref and old_ref in (None, *self.old) and new_ref in (None, *self.new):
            # A $ref swapped for the schema it stands for (or another one): what goes over the wire is
            # the referenced schema, so compare that; an equivalent rewrite reports nothing.
            old = self.old[old_ref] if old_ref else old
            new = self.new[new_ref] if new_ref else new
            self.schema(where, old, new, sides, depth + 1)
            return
        (old_type, old_null), (new_type, new_null) = _types(old), _types(new)
        if old_type != new_type:
            self.add(where, "type", "changed", BREAKING, f"{type_of(old)} -> {type_of(new)}")
            return
        if old_null != new_null:
            becomes = "nullable" if new_null else "not nullable"
            self.add(
                where,
                "nullable",
                "changed",
                _severity(sides, breaks_request=not new_null, breaks_response=new_null),
                f"now {becomes}",
            )
        if _ref_name(old):
            return  # the same component schema: compared under its own name
        self._enum(where, old, new)
        if old.get("default") != new.get("default"):
            # What an omitted value means changes (and generated request models send their default).
            was, now = old.get("default"), new.get("default")
            severity = _severity(sides, breaks_request=True, breaks_response=False)
            self.add(f"{where} default", "default", "changed", severity, f"{was!r} -> {now!r}")
        self._constraints(where, old, new, sides)
        self._object(where, old, new, sides, depth)
        for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
            self.schema(where + suffix, old.get(key), new.get(key), sides, depth + 1)

    def _enum(self, where: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        if not isinstance(old.get("enum"), list) or not isinstance(new.get("enum"), list):
            return
        before, after = {json.dumps(v) for v in old["enum"]}, {json.dumps(v) for v in new["enum"]}
        # A new value is additive everywhere: generated enums are open (OpenStrEnum); a removed
        # value is breaking everywhere: its enum member disappears from the Python surface.
        for value in sorted(after - before):
            self.add(where, "enum-value", "added", ADDITIVE, str(json.loads(value)))
        for value in sorted(before - after):
            self.add(where, "enum-value", "removed", BREAKING, str(json.loads(value)))

    def _constraints(self, where: str, old: dict[str, Any], new: dict[str, Any], sides: frozenset[str]) -> None:
        for key in (*UPPER, *LOWER, *OTHER):
            was, now = old.get(key), new.get(key)
            if was == now:
                continue
            if was is None or now is None:
                tighter = was is None
            elif key in UPPER:
                tighter = now < was
            elif key in LOWER:
                tighter = now > was
            else:
                tighter = True  # a different pattern or multipleOf: values valid before may be refused
            severity = _severity(sides, breaks_request=tighter, breaks_response=not tighter)
            what = "tightened" if tighter else "loosened"
            self.add(f"{where} {key}", "constraint", "changed", severity, f"{what}: {was} -> {now}")

    def _object(self, where: str, old: dict[str, Any], new: dict[str, Any], sides: frozenset[str], depth: int) -> None:
        old_props, old_req, old_rules = _object_view(old, self.old)
        new_props, new_req, new_rules = _object_view(new, self.new)
        kind = _property_kind(sides)
        for name in sorted(set(old_props) | set(new_props)):
            location = f"{where}.{name}"
            if name not in old_props:
                required = name in new_req
                detail = type_of(new_props[name]) + (", required" if required else "")
                severity = _severity(sides, breaks_request=required, breaks_response=False)
                self.add(location, kind, "added", severity, detail)
            elif name not in new_props:
                self.add(location, kind, "removed", BREAKING, type_of(old_props[name]))
            else:
                if (name in old_req) != (name in new_req):
                    now_required = name in new_req
                    severity = _severity(sides, breaks_request=now_required, breaks_response=not now_required)
                    self.add(location, kind, "changed", severity, "now required" if now_required else "now optional")
                self.schema(location, old_props[name], new_props[name], sides, depth + 1)
        self._rules(where, old_rules, new_rules, sides)

    def _rules(self, where: str, old: list[list[str]], new: list[list[str]], sides: frozenset[str]) -> None:
        """Required-only anyOf: at least one alternative must be fully present in a body."""
        before, after = {frozenset(a) for a in old}, {frozenset(a) for a in new}
        if before == after:
            return
        # Every body valid before stays valid iff each old alternative contains some new one.
        relaxed = not after or all(any(b <= a for b in after) for a in before)
        tightened = not before or not relaxed
        shown = " | ".join(sorted(",".join(sorted(a)) for a in after)) or "no rule"
        was = " | ".join(sorted(",".join(sorted(a)) for a in before)) or "no rule"
        severity = _severity(sides, breaks_request=tightened, breaks_response=relaxed)
        what = "tightened" if tightened else "relaxed"
        self.add(f"{where} anyOf", "body-rule", "changed", severity, f"{what}: [{was}] -> [{shown}]")


def _operation_changes(key: str, old: _Spec, new: _Spec) -> list[Change]:
    path, old_op, old_params = old.operations[key]
    _, new_op, new_params = new.operations[key]
    compare = _Comparer(_resource(path), old, new)
    before = {(p.get("in"), p.get("name")): p for p in old_params}
    after = {(p.get("in"), p.get("name")): p for p in new_params}
    for where, name in sorted(set(before) | set(after), key=str):
        location = f"{key} {where}:{name}"
        if (where, name) not in before:
            required = bool(after[(where, name)].get("required"))
            severity = BREAKING if required else ADDITIVE
            compare.add(location, "parameter", "added", severity, "required" if required else "optional")
        elif (where, name) not in after:
            compare.add(location, "parameter", "removed", BREAKING)
        else:
            was, now = bool(before[(where, name)].get("required")), bool(after[(where, name)].get("required"))
            if was != now:
                compare.add(
                    location,
                    "parameter",
                    "changed",
                    BREAKING if now else ADDITIVE,
                    f"now {'required' if now else 'optional'}",
                )
            schemas = (before[(where, name)].get("schema", {}), after[(where, name)].get("schema", {}))
            compare.schema(location, *schemas, frozenset({REQUEST}))

    old_body, new_body = old.request_body(old_op), new.request_body(new_op)
    location = f"{key} request"
    if old_body is None and new_body is not None:
        required = bool(new_body.get("required"))
        compare.add(location, "request-body", "added", BREAKING if required else ADDITIVE)
    elif old_body is not None and new_body is None:
        compare.add(location, "request-body", "removed", BREAKING)
    elif old_body is not None and new_body is not None:
        if bool(old_body.get("required")) != bool(new_body.get("required")):
            now = bool(new_body.get("required"))
            compare.add(
                location,
                "request-body",
                "changed",
                BREAKING if now else ADDITIVE,
                f"now {'required' if now else 'optional'}",
            )
        _content(compare, location, old_body, new_body, frozenset({REQUEST}))

    old_ok, new_ok = old.successes(old_op), new.successes(new_op)
    # The generated function returns the parsed 2xx bodies: a success status added or removed
    # changes its return type, and an undeclared success status fails to parse.
    for status in sorted(set(old_ok) ^ set(new_ok)):
        action = "added" if status in new_ok else "removed"
        compare.add(f"{key} {status}", "status-code", action, BREAKING)
    old_other = {str(s) for s in old_op.get("responses", {})} - set(old_ok)
    new_other = {str(s) for s in new_op.get("responses", {})} - set(new_ok)
    # A documented error status that goes away is breaking (code handling it was written against the spec).
    for status in sorted(old_other ^ new_other):
        added = status in new_other
        severity = ADDITIVE if added else BREAKING
        compare.add(f"{key} {status}", "status-code", "added" if added else "removed", severity, "error status")
    for status in sorted(set(old_ok) & set(new_ok)):
        _content(compare, f"{key} {status}", old_ok[status], new_ok[status], frozenset({RESPONSE}))
        _headers(compare, f"{key} {status}", old_ok[status], new_ok[status])
    return compare.changes


def _headers(compare: _Comparer, where: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Response headers of a success: one code reads (``with_raw_response``) that goes away is breaking."""
    before, after = old.get("headers", {}) or {}, new.get("headers", {}) or {}
    for name in sorted(set(before) ^ set(after), key=str.lower):
        added = name in after
        compare.add(
            f"{where} {name}", "response-header", "added" if added else "removed", ADDITIVE if added else BREAKING
        )


def _content(compare: _Comparer, where: str, old: dict[str, Any], new: dict[str, Any], sides: frozenset[str]) -> None:
    before, after = old.get("content", {}) or {}, new.get("content", {}) or {}
    for media in sorted(set(before) | set(after)):
        if media not in before:
            # A new request content type is another way to call; a new response one is something to parse.
            severity = ADDITIVE if REQUEST in sides else BREAKING
            compare.add(f"{where} {media}", "content-type", "added", severity)
        elif media not in after:
            compare.add(f"{where} {media}", "content-type", "removed", BREAKING)
        else:
            label = where if media == "application/json" else f"{where} {media}"
            compare.schema(label, before[media].get("schema"), after[media].get("schema"), sides)


# --- the generated Python surface -----------------------------------------------------------------


def python_surface(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What a user imports or calls, by kind: name -> what it stands for (operation or schema).

    Names come from the rules generation uses: packages are the resource path
    (codegen.generate.grouped_by_resource), modules the generator's
    PythonIdentifier of the operationId, facade methods codegen.facade's
    action_name (``<action>_all`` for paginated lists), model classes the
    generator's ClassName of each component schema.
    """
    modules: dict[str, str] = {}
    methods: dict[str, str] = {}
    for method, path, operation, params in iter_operations(doc):
        key = f"{method.upper()} {path}"
        op_id = operation.get("operationId")
        if not op_id:
            continue
        resource = resource_of(path)
        modules[f"fintoro_api.api.{resource}.{PythonIdentifier(op_id, prefix=FIELD_PREFIX)}"] = key
        action = action_name(op_id, resource.split("_"))
        methods[f"client.{resource}.{action}"] = key
        if _per_page_max(params) is not None:
            methods[f"client.{resource}.{action}_all"] = key
    classes = {
        f"fintoro_api.models.{ClassName(name, prefix=FIELD_PREFIX)}": f"schema {name}"
        for name in doc.get("components", {}).get("schemas", {})
    }
    return {"python-module": modules, "facade-method": methods, "model-class": classes}


def _surface_changes(old_doc: dict[str, Any], new_doc: dict[str, Any]) -> Iterator[Change]:
    old_surface, new_surface = python_surface(old_doc), python_surface(new_doc)
    for kind, before in old_surface.items():
        after = new_surface[kind]
        renamed_to = {origin: name for name, origin in after.items() if name not in before}
        for name in sorted(set(before) - set(after)):
            target = renamed_to.get(before[name])
            if target:
                yield Change("python", name, kind, "moved", BREAKING, f"-> {target} ({before[name]})")
            else:
                yield Change("python", name, kind, "removed", BREAKING, before[name])
        moved_from = {before[name] for name in set(before) - set(after)}
        for name in sorted(set(after) - set(before)):
            if after[name] not in moved_from:
                yield Change("python", name, kind, "added", ADDITIVE, after[name])


def diff(old_doc: dict[str, Any], new_doc: dict[str, Any]) -> list[Change]:
    """Every change from ``old_doc`` to ``new_doc``, sorted by group and location."""
    old, new = _Spec(old_doc), _Spec(new_doc)
    changes: list[Change] = []
    for key in sorted(set(old.operations) | set(new.operations)):
        path = (new.operations.get(key) or old.operations[key])[0]
        if key not in old.operations:
            op_id = new.operations[key][1].get("operationId", "")
            changes.append(Change(_resource(path), key, "operation", "added", ADDITIVE, op_id))
        elif key not in new.operations:
            op_id = old.operations[key][1].get("operationId", "")
            changes.append(Change(_resource(path), key, "operation", "removed", BREAKING, op_id))
        else:
            changes += _operation_changes(key, old, new)

    old_usage, new_usage = old.usage(), new.usage()
    for name in sorted(set(old.schemas) | set(new.schemas)):
        group = f"schema {name}"
        if name not in old.schemas:
            changes.append(Change(group, name, "schema", "added", ADDITIVE))
        elif name not in new.schemas:
            changes.append(Change(group, name, "schema", "removed", BREAKING))
        else:
            sides = old_usage.get(name, frozenset()) | new_usage.get(name, frozenset()) or BOTH
            compare = _Comparer(group, old, new)
            compare.schema(name, old.schemas[name], new.schemas[name], sides)
            changes += compare.changes
    changes += _surface_changes(old_doc, new_doc)
    return sorted(set(changes))


def summary(changes: list[Change]) -> dict[str, int]:
    return {
        "breaking": sum(1 for c in changes if c.severity == BREAKING),
        "additive": sum(1 for c in changes if c.severity == ADDITIVE),
    }


def to_json(changes: list[Change], old_label: str, new_label: str) -> str:
    return json.dumps(
        {"old": old_label, "new": new_label, **summary(changes), "changes": [asdict(c) for c in changes]}, indent=2
    )


def to_markdown(changes: list[Change], old_label: str, new_label: str) -> str:
    counts = summary(changes)
    lines = [
        f"# API changes: {old_label} -> {new_label}",
        "",
        f"{counts['breaking']} breaking, {counts['additive']} additive."
        + (" **Breaking changes: bump the major version.**" if counts["breaking"] else ""),
        "",
    ]
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(change.group, []).append(change)
    for group in sorted(groups, key=lambda g: (g == "python", g.startswith("schema "), g)):
        lines.append(f"## {group}")
        for c in groups[group]:
            detail = f" ({c.detail})" if c.detail else ""
            lines.append(f"- **{c.severity}** {c.kind} {c.action}: `{c.location}`{detail}")
        lines.append("")
    if not changes:
        lines.append("No changes to operations, parameters, bodies, responses, schemas or the Python surface.")
    return "\n".join(lines).rstrip() + "\n"
