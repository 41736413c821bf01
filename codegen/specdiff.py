"""What changed between two versions of the API, from the point of view of code that calls it.

Compares operations, parameters, request and response properties (with their
required-ness and types), component schemas and enum values, and marks every
change **breaking** (code that worked may fail) or **additive** (new
capability; nothing that worked breaks). Direction matters: a new required
request property is breaking, a new response property is additive; a removed
response property is breaking, and so on.

Output: Markdown grouped by resource (the first path segment; component
schemas under their own name) and JSON for CI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
BREAKING, ADDITIVE = "breaking", "additive"


@dataclass(frozen=True, order=True)
class Change:
    group: str  # resource ("invoices") or "schema Invoice"
    location: str  # "GET /invoices", "GET /invoices ?status", "Invoice.total", ...
    kind: str  # operation | parameter | request-property | response-property | schema | enum-value | type
    action: str  # added | removed | changed
    severity: str  # breaking | additive
    detail: str = ""


def _resource(path: str) -> str:
    return path.strip("/").split("/")[0] or "/"


class _Spec:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.schemas: dict[str, Any] = doc.get("components", {}).get("schemas", {})
        self.parameters: dict[str, Any] = doc.get("components", {}).get("parameters", {})
        self.responses: dict[str, Any] = doc.get("components", {}).get("responses", {})

    def operations(self) -> dict[str, tuple[str, dict[str, Any], list[dict[str, Any]]]]:
        """ "METHOD /path" -> (path, operation, resolved parameters)."""
        found = {}
        for path, item in self.doc.get("paths", {}).items():
            shared = [self.param(p) for p in item.get("parameters", [])]
            for method in HTTP_METHODS:
                if method in item:
                    own = [self.param(p) for p in item[method].get("parameters", [])]
                    merged = {(p.get("in"), p.get("name")): p for p in shared + own}
                    found[f"{method.upper()} {path}"] = (path, item[method], list(merged.values()))
        return found

    def param(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        return dict(self.parameters.get(ref.rsplit("/", 1)[-1], {})) if ref else node

    def response(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        return dict(self.responses.get(ref.rsplit("/", 1)[-1], {})) if ref else node

    def resolve(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 50:
            node = self.schemas.get(node["$ref"].rsplit("/", 1)[-1], {})
            seen += 1
        return node

    def type_of(self, node: Any) -> str:
        """A short type description: ``Invoice``, ``string(date)``, ``array<Invoice>``, ``integer|null``."""
        if not isinstance(node, dict):
            return "any"
        if "$ref" in node:
            return str(node["$ref"]).rsplit("/", 1)[-1]
        for key in ("allOf", "anyOf", "oneOf"):
            if key in node and not all(set(alt) == {"required"} for alt in node[key]):
                return f"{key}[{', '.join(self.type_of(alt) for alt in node[key])}]"
        kind = node.get("type", "object" if "properties" in node else "any")
        kinds = kind if isinstance(kind, list) else [kind]
        parts = []
        for k in kinds:
            if k == "array":
                parts.append(f"array<{self.type_of(node.get('items', {}))}>")
            elif k == "string" and node.get("format"):
                parts.append(f"string({node['format']})")
            else:
                parts.append(str(k))
        return "|".join(parts)

    def properties(self, node: Any, depth: int = 0) -> dict[str, tuple[str, bool]]:
        """name -> (type, required) for an object schema, allOf folded in (inline only; $refs stay names)."""
        node = self.resolve(node) if depth == 0 else node
        if not isinstance(node, dict) or depth > 10:
            return {}
        found: dict[str, tuple[str, bool]] = {}
        for member in node.get("allOf", []):
            found.update(self.properties(self.resolve(member), depth + 1))
        required = set(node.get("required", []))
        for name, prop in node.get("properties", {}).items():
            found[name] = (self.type_of(prop), name in required)
        for name in required - set(node.get("properties", {})):
            if name in found:
                found[name] = (found[name][0], True)
        return found

    def enum_sites(self) -> dict[str, set[Any]]:
        """Every enum in the document: "where" -> values."""
        sites: dict[str, set[Any]] = {}

        def walk(node: Any, where: str) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("enum"), list):
                    sites[where] = {json.dumps(v) for v in node["enum"]}
                for key, value in node.items():
                    if key == "properties":
                        for name, prop in value.items():
                            walk(prop, f"{where}.{name}")
                    elif key in ("items", "allOf", "anyOf", "oneOf", "schema", "additionalProperties"):
                        walk(value, where + ("[]" if key == "items" else ""))
            elif isinstance(node, list):
                for item in node:
                    walk(item, where)

        for name, schema in self.schemas.items():
            walk(schema, name)
        for key, (_path, _operation, params) in self.operations().items():
            for param in params:
                walk(param.get("schema", {}), f"{key} ?{param.get('name')}")
        return sites

    def schema_usage(self) -> dict[str, set[str]]:
        """schema name -> {"request", "response"}: where it appears, transitively."""
        usage: dict[str, set[str]] = {}

        def refs(node: Any, acc: set[str]) -> None:
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                    name = ref.rsplit("/", 1)[-1]
                    if name not in acc:
                        acc.add(name)
                        refs(self.schemas.get(name, {}), acc)
                for value in node.values():
                    refs(value, acc)
            elif isinstance(node, list):
                for item in node:
                    refs(item, acc)

        for _path, operation, params in self.operations().values():
            request: set[str] = set()
            refs(operation.get("requestBody", {}), request)
            for param in params:
                refs(param.get("schema", {}), request)
            response: set[str] = set()
            for status, node in operation.get("responses", {}).items():
                if status.startswith("2"):
                    refs(self.response(node), response)
            for name in request:
                usage.setdefault(name, set()).add("request")
            for name in response:
                usage.setdefault(name, set()).add("response")
        return usage


def _property_changes(
    group: str, where: str, old: dict[str, tuple[str, bool]], new: dict[str, tuple[str, bool]], sides: set[str]
) -> Iterator[Change]:
    request, response = "request" in sides, "response" in sides
    kind = "request-property" if request and not response else "response-property" if response else "property"
    for name in sorted(set(old) | set(new)):
        location = f"{where}.{name}"
        if name not in old:
            required = new[name][1]
            severity = BREAKING if request and required else ADDITIVE
            detail = f"{new[name][0]}{', required' if required else ''}"
            yield Change(group, location, kind, "added", severity, detail)
        elif name not in new:
            yield Change(group, location, kind, "removed", BREAKING, old[name][0])
        else:
            (old_type, old_req), (new_type, new_req) = old[name], new[name]
            if old_type != new_type:
                yield Change(group, location, "type", "changed", BREAKING, f"{old_type} -> {new_type}")
            if old_req != new_req:
                becomes = "required" if new_req else "optional"
                breaking = (request and new_req) or (response and not new_req)
                yield Change(group, location, kind, "changed", BREAKING if breaking else ADDITIVE, f"now {becomes}")


def diff(old_doc: dict[str, Any], new_doc: dict[str, Any]) -> list[Change]:
    """Every change from ``old_doc`` to ``new_doc``, sorted by group and location."""
    old, new = _Spec(old_doc), _Spec(new_doc)
    changes: list[Change] = []
    old_ops, new_ops = old.operations(), new.operations()

    for key in sorted(set(old_ops) | set(new_ops)):
        path = (new_ops.get(key) or old_ops[key])[0]
        group = _resource(path)
        if key not in old_ops:
            changes.append(Change(group, key, "operation", "added", ADDITIVE, new_ops[key][1].get("operationId", "")))
            continue
        if key not in new_ops:
            changes.append(Change(group, key, "operation", "removed", BREAKING, old_ops[key][1].get("operationId", "")))
            continue
        _, old_op, old_params = old_ops[key]
        _, new_op, new_params = new_ops[key]
        changes += _parameter_changes(group, key, old, new, old_params, new_params)
        changes += _inline_body_changes(group, key, old, new, old_op, new_op)

    usage = {**old.schema_usage()}
    for name, sides in new.schema_usage().items():
        usage[name] = usage.get(name, set()) | sides
    for name in sorted(set(old.schemas) | set(new.schemas)):
        group = f"schema {name}"
        if name not in old.schemas:
            changes.append(Change(group, name, "schema", "added", ADDITIVE))
            continue
        if name not in new.schemas:
            changes.append(Change(group, name, "schema", "removed", BREAKING))
            continue
        changes += _property_changes(
            group, name, old.properties(old.schemas[name]), new.properties(new.schemas[name]), usage.get(name, set())
        )

    old_enums, new_enums = old.enum_sites(), new.enum_sites()
    for site in sorted(set(old_enums) & set(new_enums)):
        # Sites are "Schema.prop" (component schemas) or "GET /path ?param" (parameters).
        group = _resource(site.split(" ")[1]) if " " in site else f"schema {site.split('.')[0].split('[')[0]}"
        for value in sorted(new_enums[site] - old_enums[site]):
            changes.append(Change(group, site, "enum-value", "added", ADDITIVE, json.loads(value)))
        for value in sorted(old_enums[site] - new_enums[site]):
            changes.append(Change(group, site, "enum-value", "removed", BREAKING, json.loads(value)))
    return sorted(set(changes))


def _parameter_changes(
    group: str, key: str, old: _Spec, new: _Spec, old_params: list[dict[str, Any]], new_params: list[dict[str, Any]]
) -> Iterator[Change]:
    before = {(p.get("in"), p.get("name")): p for p in old_params}
    after = {(p.get("in"), p.get("name")): p for p in new_params}
    for where, name in sorted(set(before) | set(after)):
        location = f"{key} {where}:{name}"
        if (where, name) not in before:
            required = bool(after[(where, name)].get("required"))
            yield Change(
                group,
                location,
                "parameter",
                "added",
                BREAKING if required else ADDITIVE,
                "required" if required else "optional",
            )
        elif (where, name) not in after:
            yield Change(group, location, "parameter", "removed", BREAKING)
        else:
            was, now = bool(before[(where, name)].get("required")), bool(after[(where, name)].get("required"))
            if was != now:
                yield Change(
                    group,
                    location,
                    "parameter",
                    "changed",
                    BREAKING if now else ADDITIVE,
                    "now required" if now else "now optional",
                )
            old_type = old.type_of(before[(where, name)].get("schema", {}))
            new_type = new.type_of(after[(where, name)].get("schema", {}))
            if old_type != new_type:
                yield Change(group, location, "type", "changed", BREAKING, f"{old_type} -> {new_type}")


def _inline_body_changes(
    group: str, key: str, old: _Spec, new: _Spec, old_op: dict[str, Any], new_op: dict[str, Any]
) -> Iterator[Change]:
    """Inline (non-$ref) request and 2xx response bodies; $ref bodies are compared as schemas."""

    def body(spec: _Spec, op: dict[str, Any], side: str) -> Any:
        if side == "request":
            return op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        for status, node in op.get("responses", {}).items():
            if status.startswith("2"):
                return spec.response(node).get("content", {}).get("application/json", {}).get("schema")
        return None

    for side in ("request", "response"):
        before, after = body(old, old_op, side), body(new, new_op, side)
        if isinstance(before, dict) and isinstance(after, dict) and "$ref" not in before and "$ref" not in after:
            yield from _property_changes(group, f"{key} {side}", old.properties(before), new.properties(after), {side})
        else:
            old_type = old.type_of(before) if before is not None else "none"
            new_type = new.type_of(after) if after is not None else "none"
            if old_type != new_type:
                yield Change(group, f"{key} {side}", "type", "changed", BREAKING, f"{old_type} -> {new_type}")


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
    for group in sorted(groups, key=lambda g: (g.startswith("schema "), g)):
        lines.append(f"## {group}")
        for c in groups[group]:
            detail = f" ({c.detail})" if c.detail else ""
            lines.append(f"- **{c.severity}** {c.kind} {c.action}: `{c.location}`{detail}")
        lines.append("")
    if not changes:
        lines.append("No changes to operations, parameters, properties, schemas or enum values.")
    return "\n".join(lines).rstrip() + "\n"
