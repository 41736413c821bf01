"""Write fintoro_api/_spec_index.py: the per-operation facts the client layer needs.

The hand-written layer (retries, idempotency, pagination, downloads, body
checks, the resource facade) is driven by this table instead of hand-kept
lists, so a new spec version updates it by regeneration alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openapi_python_client.strings import PythonIdentifier

from .errors import CodegenError
from .facade import operations_table, write_facade

MODULES = ("_spec_index.py", "_resources.py")
LOOKUP_TAG = "Lookups"
FIELD_PREFIX = "field_"  # openapi-python-client's default; generator-config.yaml keeps it
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
_OPERATION = re.compile(r'^OPERATION = "([^"]+)"$', re.MULTILINE)


def iter_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    """(method, path, operation, resolved parameters) for every operation, in spec order."""
    parameters = spec.get("components", {}).get("parameters", {})

    def resolve(param: dict[str, Any]) -> dict[str, Any]:
        ref = param.get("$ref")
        return parameters[ref.rsplit("/", 1)[-1]] if ref else param

    result = []
    for path, item in spec["paths"].items():
        shared = [resolve(p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            if method in item:
                operation = item[method]
                own = [resolve(p) for p in operation.get("parameters", [])]
                result.append((method, path, operation, shared + own))
    return result


def _body_schema(operation: dict[str, Any]) -> str | None:
    content = operation.get("requestBody", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def _binary_type(operation: dict[str, Any]) -> str | None:
    for status, response in operation.get("responses", {}).items():
        if status.startswith("2"):
            for content_type in response.get("content", {}):
                if content_type in ("application/pdf", "application/zip", "application/octet-stream"):
                    return str(content_type)
    return None


def _multipart_arrays(spec: dict[str, Any], operation: dict[str, Any]) -> tuple[str, ...]:
    """Array properties of a multipart body: PHP needs them sent as ``name[]`` parts."""
    schema = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data", {}).get("schema", {})
    ref = schema.get("$ref")
    if ref:
        schema = spec.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], {})
    return tuple(sorted(name for name, prop in schema.get("properties", {}).items() if prop.get("type") == "array"))


def _is_lookup(method: str, operation: dict[str, Any]) -> bool:
    """A GET of a fixed lookup (countries, currencies, ...): the spec tags them "Lookups"."""
    return method == "get" and (operation.get("tags") or [""])[0] == LOOKUP_TAG


def _per_page_max(params: list[dict[str, Any]]) -> int | None:
    for param in params:
        if param.get("in") == "query" and param.get("name") == "perPage":
            maximum = param.get("schema", {}).get("maximum")
            return int(maximum) if maximum is not None else None
    return None


def _required_any_of(schema: dict[str, Any]) -> list[list[str]] | None:
    """The alternatives of an ``anyOf`` made only of ``required`` lists, if the schema has one."""
    any_of = schema.get("anyOf")
    if not isinstance(any_of, list) or not any_of:
        return None
    if all(isinstance(alt, dict) and set(alt) == {"required"} for alt in any_of):
        return [list(alt["required"]) for alt in any_of]
    return None


def body_rules(raw_spec: dict[str, Any]) -> tuple[dict[str, list[list[str]]], dict[str, dict[str, tuple[str, bool]]]]:
    """Rules the generator cannot express (required-only anyOf) and the links that reach them.

    Returns (rules, links): rules[schema] lists alternatives of which at least
    one must be fully present; links[schema][property] = (schema, is_array)
    says where to descend. allOf members are folded in; only schemas from which
    a rule is reachable are kept.
    """
    schemas = raw_spec.get("components", {}).get("schemas", {})

    def ref_name(node: dict[str, Any]) -> str | None:
        ref = node.get("$ref")
        return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None

    def own_rules(name: str) -> list[list[str]]:
        schema = schemas.get(name, {})
        found = list(_required_any_of(schema) or [])
        for member in schema.get("allOf", []):
            member_ref = ref_name(member)
            found += own_rules(member_ref) if member_ref else list(_required_any_of(member) or [])
        return found

    def property_links(node: dict[str, Any]) -> dict[str, tuple[str, bool]]:
        links: dict[str, tuple[str, bool]] = {}
        for prop, value in node.get("properties", {}).items():
            if ref_name(value):
                links[prop] = (ref_name(value) or "", False)
            elif value.get("type") == "array" and ref_name(value.get("items", {})):
                links[prop] = (ref_name(value["items"]) or "", True)
        return links

    def own_links(name: str) -> dict[str, tuple[str, bool]]:
        schema = schemas.get(name, {})
        links: dict[str, tuple[str, bool]] = {}
        for member in schema.get("allOf", []):
            member_ref = ref_name(member)
            links.update(own_links(member_ref) if member_ref else property_links(member))
        links.update(property_links(schema))
        return links

    rules = {name: own_rules(name) for name in schemas}
    rules = {name: alts for name, alts in rules.items() if alts}
    links = {name: own_links(name) for name in schemas}
    reaching = set(rules)
    changed = True
    while changed:
        changed = False
        for name, targets in links.items():
            if name not in reaching and any(target in reaching for target, _ in targets.values()):
                reaching.add(name)
                changed = True
    kept_links = {
        name: {prop: link for prop, link in sorted(targets.items()) if link[0] in reaching}
        for name, targets in sorted(links.items())
        if name in reaching
    }
    return dict(sorted(rules.items())), {name: targets for name, targets in kept_links.items() if targets}


def endpoint_name(operation_id: str) -> str:
    """The generator's Python name for an operationId (``showInvoice`` -> ``show_invoice``)."""
    return str(PythonIdentifier(operation_id, prefix=FIELD_PREFIX))


def scan_modules(package: Path) -> dict[str, str]:
    """endpoint name -> "tag.module" for every generated endpoint module (its OPERATION constant)."""
    found: dict[str, str] = {}
    for module in sorted((package / "api").glob("*/*.py")):
        if module.name == "__init__.py":
            continue
        match = _OPERATION.search(module.read_text(encoding="utf-8"))
        if match:
            found[match.group(1)] = f"{module.parent.name}.{module.stem}"
    return found


def write_modules(
    package: Path, *, raw_spec: dict[str, Any], patched_spec: dict[str, Any]
) -> tuple[dict[str, int], str]:
    """Write the index, facade and aliases into the freshly generated ``package``.

    Returns counts for the stamp and the Markdown table of facade calls.
    """
    operations = iter_operations(patched_spec)
    names = {op["operationId"]: endpoint_name(op["operationId"]) for _, _, op, _ in operations}
    if len(set(names.values())) != len(names):
        raise CodegenError("two operationIds have the same Python name; the generator would merge their modules")
    scanned = scan_modules(package)
    modules = {op_id: scanned[name] for op_id, name in names.items() if name in scanned}
    missing = [op_id for op_id in names if op_id not in modules]
    if missing:
        raise CodegenError(f"the generator dropped {len(missing)} operation(s): {', '.join(missing)}")
    rules, links = body_rules(raw_spec)

    op_rows = []
    for method, path, operation, params in operations:
        op_id = operation["operationId"]
        header_names = {p["name"].lower() for p in params if p.get("in") == "header"}
        op_rows.append(
            f"    {op_id!r}: Operation(\n"
            f"        operation_id={op_id!r},\n"
            f"        method={method.upper()!r},\n"
            f"        tag={(operation.get('tags') or ['default'])[0]!r},\n"
            f"        path={path!r},\n"
            f"        module={modules[op_id]!r},\n"
            f"        idempotency_key={'idempotency-key' in header_names!r},\n"
            f"        per_page_max={_per_page_max(params)!r},\n"
            f"        binary={_binary_type(operation)!r},\n"
            f"        body_schema={_body_schema(operation)!r},\n"
            f"        multipart_arrays={_multipart_arrays(patched_spec, operation)!r},\n"
            f"        lookup={_is_lookup(method, operation)!r},\n"
            f"    ),\n"
        )
    text = (
        '"""Per-operation facts from the spec, for the client layer. Generated by codegen/index.py."""\n\n'
        "from typing import NamedTuple\n\n\n"
        "class Operation(NamedTuple):\n"
        '    """One API operation as the client layer sees it."""\n\n'
        "    operation_id: str\n"
        "    method: str\n"
        "    tag: str  # the operation's first tag in the spec\n"
        "    path: str\n"
        '    module: str  # "<tag>.<module>" under fintoro_api.api\n'
        "    idempotency_key: bool  # the spec declares an Idempotency-Key header\n"
        "    per_page_max: int | None  # the perPage maximum of a paginated list\n"
        "    binary: str | None  # the content type of a binary (download) success response\n"
        "    body_schema: str | None  # the component schema of a JSON request body\n"
        "    multipart_arrays: tuple[str, ...]  # multipart array fields, sent as name[] parts for PHP\n"
        "    lookup: bool  # a fixed lookup (ids never change in v1): its answers may be cached\n\n\n"
        "OPERATIONS: dict[str, Operation] = {\n" + "".join(op_rows) + "}\n\n"
        "# Binary downloads: (full-match pattern of the API path, operationId).\n"
        f"BINARY_ROUTES: tuple[tuple[str, str], ...] = {binary_routes(operations)!r}\n\n"
        "# A generated module's OPERATION (the generator's name for its operationId) -> operationId.\n"
        f"ENDPOINTS: dict[str, str] = {dict(sorted((name, op_id) for op_id, name in names.items()))!r}\n\n"
        "# Required-only anyOf rules removed by the overlay (at least one alternative must be fully present).\n"
        f"BODY_RULES: dict[str, tuple[tuple[str, ...], ...]] = {_tuples(rules)}\n\n"
        "# Where body checks descend: schema -> property -> (schema, is_array).\n"
        f"BODY_LINKS: dict[str, dict[str, tuple[str, bool]]] = {links!r}\n"
    )
    (package / "_spec_index.py").write_text(text, encoding="utf-8")
    aliases = write_aliases(package, raw_spec)
    by_id = {op["operationId"]: modules[op["operationId"]] for _, _, op, _ in operations}
    maxima = {op["operationId"]: _per_page_max(params) for _, _, op, params in operations}
    binaries = {op["operationId"]: _binary_type(op) for _, _, op, _ in operations}
    facade_rows = write_facade(package, [(m, p, op) for m, p, op, _ in operations], by_id, maxima, binaries)
    models = sum(1 for path in (package / "models").glob("*.py") if not path.name.startswith("_"))
    counts = {"operations": len(operations), "models": models, "model_aliases": len(aliases)}
    return counts, operations_table(facade_rows)


Operations = list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]


def binary_routes(operations: Operations) -> tuple[tuple[str, str], ...]:
    """(regex matching the API path, operationId) of every binary download."""
    routes = []
    for _, path, operation, _ in operations:
        if _binary_type(operation):
            routes.append(("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$", operation["operationId"]))
    return tuple(routes)


def single_all_of_aliases(raw_spec: dict[str, Any], model_names: set[str]) -> dict[str, str]:
    """Schemas that only wrap one other schema (``allOf: [$ref]``) and have no class of their own."""
    aliases = {}
    for name, schema in raw_spec.get("components", {}).get("schemas", {}).items():
        all_of = schema.get("allOf")
        if name in model_names or set(schema) - {"allOf", "description", "title"}:
            continue
        if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
            aliases[name] = all_of[0]["$ref"].rsplit("/", 1)[-1]
    # A wrapper of a wrapper resolves to the class at the end of the chain.
    for name, target in list(aliases.items()):
        while target in aliases:
            target = aliases[target]
        aliases[name] = target
    missing = sorted(target for target in aliases.values() if target not in model_names)
    if missing:
        raise CodegenError(f"single-allOf wrappers point at schemas without a model class: {', '.join(missing)}")
    return dict(sorted(aliases.items()))


def write_aliases(package: Path, raw_spec: dict[str, Any]) -> dict[str, str]:
    init = (package / "models" / "__init__.py").read_text(encoding="utf-8")
    model_names = set(re.findall(r'^    "(\w+)": "\.\w+",$', init, re.MULTILINE))
    aliases = single_all_of_aliases(raw_spec, model_names)
    text = (
        '"""Aliases for single-allOf wrapper schemas. Generated by codegen/index.py.\n\n'
        "openapi-python-client collapses a schema that only wraps another (``allOf: [$ref]``)\n"
        "into the wrapped class; ``fintoro_api.models.<Wrapper>`` resolves to it through these names.\n"
        '"""\n\n'
        f"ALIASES: dict[str, str] = {aliases!r}\n"
    )
    (package / "models" / "_aliases.py").write_text(text, encoding="utf-8")
    return aliases


def _tuples(rules: dict[str, list[list[str]]]) -> str:
    return repr({name: tuple(tuple(alt) for alt in alts) for name, alts in rules.items()})
