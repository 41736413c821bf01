"""The resource facade (fintoro_api/_resources.py) and its API reference (docs/api.md), from spec data.

openapi-python-client parses every operation (parameter python names, types,
enum classes and values, descriptions, success responses) into endpoint
objects that it hands to its templates. ``render`` runs that same parser
(pinned version, the generator's config, the spec exactly as the generator
got it) in-process, turns each operation into plain data here, and renders
two templates from that one data set: ``overlays/templates/facade.py.jinja``
and ``overlays/templates/api_reference.md.jinja``. Nothing reads generated code.

Names: the resource is the first path segment (``/credit-notes/...`` ->
``credit_notes``); the action is the operationId with the resource's words
removed (``createInvoiceCreditNote`` on ``/invoices`` -> ``create_credit_note``).
Parameters keep the API's own names in snake case (``{client}`` -> ``client``,
where the generated function needs ``client_path`` beside its ``client=``).
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CodegenError

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_PATH_PARAM = re.compile(r"\{[^}]*\}")
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "overlays" / "templates"
FACADE_TEMPLATE = "facade.py.jinja"
REFERENCE_TEMPLATE = "api_reference.md.jinja"
# Names the facade methods use for their own arguments.
_RESERVED = {
    "self",
    "per_page",
    "max_items",
    "read_ahead",
    "expected_total",
    "destination",
    "progress",
    "ids",
    "directory",
    "concurrency",
}


def words(name: str) -> list[str]:
    """``createInvoiceCreditNote`` / ``credit-notes`` -> lower-case words."""
    return [w.lower() for w in _WORD.findall(name.replace("-", " ").replace("_", " "))]


def _same_noun(a: str, b: str) -> bool:
    return a == b or a + "s" == b or b + "s" == a or a + "es" == b or b + "es" == a


def action_name(operation_id: str, resource_words: list[str]) -> str:
    """The operationId's words minus the first run that names the resource (singular or plural)."""
    op_words = words(operation_id)
    size = len(resource_words)
    for start in range(len(op_words) - size + 1):
        if all(_same_noun(op_words[start + i], resource_words[i]) for i in range(size)):
            rest = op_words[:start] + op_words[start + size :]
            if rest:
                return "_".join(rest)
    return "_".join(op_words)


def resource_of(path: str) -> str:
    return "_".join(words(path.strip("/").split("/")[0]))


def class_name(resource: str) -> str:
    return "".join(part.capitalize() for part in resource.split("_")) + "Resource"


# --- the data the templates render ------------------------------------------------------------------


@dataclass
class Param:
    name: str  # the facade's (natural) name
    api_name: str  # the name in the API (path template, query string)
    target: str  # the generated function's name for it
    annotation: str
    required: bool
    positional: bool
    doc: str
    enum_class: str | None = None  # coerced from a string at call time
    enum_list: bool = False  # an array of enum_class, coerced item by item


@dataclass
class Method:
    action: str
    operation_id: str
    method: str
    path: str
    module: str  # "<resource>.<module>" under fintoro_api.api
    summary: str
    description: str
    params: list[Param]
    returns: str
    binary: str | None
    per_page_max: int | None
    item: str | None  # the item class of a paginated list

    @property
    def save_name(self) -> str:
        return "save" + self.action[len("download") :] if self.action.startswith("download") else f"save_{self.action}"

    @property
    def saves_many(self) -> bool:
        """A document's PDF (``GET /<documents>/{id}/pdf``): also saved in bulk (fintoro_api/_bulk.py)."""
        segments = self.path.strip("/").split("/")
        return self.binary == "application/pdf" and len(segments) == 3 and segments[2] == "pdf"

    @property
    def url(self) -> str:
        """The path as an f-string over the facade's path parameters, each quoted."""
        url = self.path
        for p in self.params:
            if p.positional:
                url = url.replace("{" + p.api_name + "}", "{quote(str(" + p.name + '), safe="")}')
        return url

    @property
    def enum_classes(self) -> list[str]:
        return sorted({p.enum_class for p in self.params if p.enum_class})

    @property
    def filters(self) -> list[Param]:
        """The parameters of the ``_all`` variant: all but the page controls."""
        return [p for p in self.params if p.target not in ("page", "per_page")]


@dataclass
class Resource:
    name: str
    class_name: str
    methods: list[Method] = field(default_factory=list)


@dataclass
class Facade:
    resources: list[Resource]
    imports: list[str]  # under TYPE_CHECKING: classes the annotations name


# --- from the generator's parsed endpoints to that data -------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "get_untrusted_value"):
        return str(value.get_untrusted_value())
    if hasattr(value, "as_unembedded_code"):
        return str(value.as_unembedded_code())
    return str(value)


class _Types:
    """Python annotations for parser properties, collecting the imports they need."""

    def __init__(self) -> None:
        self.imports: set[str] = set()

    def of(self, prop: Any, *, widen_enums: bool = False) -> str:
        base = self.bare(prop, widen_enums=widen_enums)
        if prop.required:
            return base
        return f"{base.removesuffix(' | None')} | Unset | None" if base.endswith(" | None") else f"{base} | Unset"

    def _class(self, prop: Any) -> str:
        name = str(prop.class_info.name)
        self.imports.add(f"from .models.{prop.class_info.module_name} import {name}")
        return name

    def bare(self, prop: Any, *, widen_enums: bool) -> str:
        """The annotation without ``| Unset`` (what a value of the property is)."""
        template = prop.template
        if template == "enum_property.py.jinja":
            name = self._class(prop)
            if not widen_enums:
                return name
            values = ", ".join(f'"{value}"' for value in sorted(map(str, prop.values.values())))
            return f"{name} | Literal[{values}]"
        if template == "model_property.py.jinja":
            return self._class(prop)
        if template == "float_property.py.jinja":
            return "Decimal"  # codegen/generator_main.py types every number as Decimal
        if template == "date_property.py.jinja":
            return "datetime.date"
        if template == "datetime_property.py.jinja":
            return "datetime.datetime"
        if template == "uuid_property.py.jinja":
            self.imports.add("from uuid import UUID")
            return "UUID"
        if template == "file_property.py.jinja":
            return "File"
        if template == "list_property.py.jinja":
            return f"list[{self.bare(prop.inner_property, widen_enums=widen_enums)}]"
        if template == "union_property.py.jinja":
            members = [self.bare(inner, widen_enums=widen_enums) for inner in prop.inner_properties]
            return " | ".join(sorted(dict.fromkeys(members), key=lambda t: t == "None"))
        code = _text(prop.get_base_type_string())
        if code not in ("int", "str", "bool", "None", "Any"):
            raise CodegenError(f"the facade has no annotation for a {template} ({code})")
        return code


def _wrap(text: str, width: int = 100) -> str:
    """Long lines wrapped, line structure (lists, headings, blank lines) kept."""
    lines = []
    for line in text.strip().splitlines():
        bullet = re.match(r"\s*(?:[-*]|\d+\.)\s+", line)
        indent = " " * len(bullet.group()) if bullet else ""
        lines.append(textwrap.fill(line.rstrip(), width, subsequent_indent=indent) if line.strip() else "")
    return "\n".join(lines)


def _natural_names(props: list[Any]) -> dict[int, str]:
    """Each parameter's API name in snake case, unless two would clash (then the generator's name)."""
    from openapi_python_client.strings import PythonIdentifier

    natural = {id(p): str(PythonIdentifier(_text(p.name), "")) for p in props}
    taken = list(natural.values())
    return {
        id(p): natural[id(p)] if taken.count(natural[id(p)]) == 1 and natural[id(p)] not in _RESERVED else p.python_name
        for p in props
    }


def _success_type(endpoint: Any, types: _Types) -> str:
    found: list[str] = []
    for response in endpoint.responses.patterns:
        low, high = response.status_code.range
        if not (low >= 200 and high <= 299):
            continue
        if response.source["attribute"] == "None":
            found.append("None")
        else:
            found.append(types.bare(response.prop, widen_enums=False))
    return " | ".join(sorted(set(found), key=lambda t: (t == "None", t))) or "None"


def _page_item(endpoint: Any, types: _Types) -> str:
    """The item class of a paginated list response: the ``X`` of its ``data: list[X]`` property."""
    for response in endpoint.responses.patterns:
        prop = response.prop
        if response.status_code.range[0] >= 200 and prop.template == "model_property.py.jinja":
            for inner in (prop.required_properties or []) + (prop.optional_properties or []):
                if _text(inner.name) == "data" and inner.template == "list_property.py.jinja":
                    return types.bare(inner.inner_property, widen_enums=False)
    raise CodegenError(f"{endpoint.name} has a perPage parameter but no `data: list[...]` in its response")


def _method(endpoint: Any, facts: dict[str, Any], types: _Types) -> Method:
    resource = resource_of(facts["path"])
    props = [
        *endpoint.path_parameters,
        *[body.prop for body in endpoint.bodies[:1]],
        *endpoint.query_parameters,
        *endpoint.header_parameters,
    ]
    if len(endpoint.bodies) > 1 or endpoint.cookie_parameters:
        raise CodegenError(f"{endpoint.name}: several request bodies or cookie parameters are not supported")
    names = _natural_names(props)
    params = []
    for prop in props:
        is_path = any(prop is p for p in endpoint.path_parameters)
        where = "path" if is_path else "query" if any(prop is p for p in endpoint.query_parameters) else ""
        where = where or ("header" if any(prop is p for p in endpoint.header_parameters) else "body")
        # The generator reads a parameter's description from its schema only; the spec puts it on the parameter.
        description = _text(prop.description) or facts.get("param_docs", {}).get(
            (where, "body" if where == "body" else _text(prop.name)), ""
        )
        default = f"Default: {prop.default.raw_value!r}." if prop.default else ""
        example = f"Example: {_text(prop.example)}." if prop.example else ""
        sent_as = "The request body." if where == "body" else f"``{_text(prop.name)}`` ({where})."
        description = " ".join(description.split())
        said = f"{description} {sent_as}" if description and where != "body" else description or sent_as
        doc = " ".join(part for part in (said, default, example) if part)
        is_list = prop.template == "list_property.py.jinja"
        enum = prop.inner_property if is_list and prop.inner_property.template == "enum_property.py.jinja" else prop
        params.append(
            Param(
                name=names[id(prop)],
                api_name=_text(prop.name),
                target=str(prop.python_name),
                annotation=types.of(prop, widen_enums=True),
                required=bool(prop.required),
                positional=is_path,
                doc=doc,
                enum_class=str(enum.class_info.name) if enum.template == "enum_property.py.jinja" else None,
                enum_list=enum is not prop,
            )
        )
    params.sort(key=lambda p: (not p.positional, not p.required))  # path, then required, then optional
    per_page_max = facts["per_page_max"]
    return Method(
        action=action_name(facts["operation_id"], resource.split("_")),
        operation_id=facts["operation_id"],
        method=facts["method"],
        path=facts["path"],
        module=facts["module"],
        summary=" ".join(_text(endpoint.summary).split()),
        description=_wrap(_text(endpoint.description)),
        params=params,
        returns=_success_type(endpoint, types),
        binary=facts["binary"],
        per_page_max=per_page_max,
        item=_page_item(endpoint, types) if per_page_max is not None else None,
    )


def parse_endpoints(spec: dict[str, Any], config_file: Path) -> list[Any]:
    """The generator's own endpoint objects for ``spec`` (as given to it), in spec order."""
    from openapi_python_client.config import Config, ConfigFile, MetaType
    from openapi_python_client.parser import GeneratorData

    config = Config.from_sources(
        ConfigFile.load_from_path(config_file), MetaType.NONE, "spec.json", "utf-8", True, None
    )
    data = GeneratorData.from_dict(spec, config=config)
    if not hasattr(data, "endpoint_collections_by_tag"):
        raise CodegenError(f"openapi-python-client could not parse the spec: {data}")
    return [endpoint for collection in data.endpoint_collections_by_tag.values() for endpoint in collection.endpoints]


def facade_data(endpoints: list[Any], facts: dict[tuple[str, str], dict[str, Any]]) -> Facade:
    """Group the parsed endpoints by resource; ``facts`` maps (METHOD, path) to the spec index row."""
    types = _Types()
    resources: dict[str, Resource] = {}
    for endpoint in endpoints:
        # The generator renames path parameters ({creditNote} -> {credit_note}): match on the route's shape.
        key = (endpoint.method.upper(), _PATH_PARAM.sub("{}", _text(endpoint.path)))
        if key not in facts:
            raise CodegenError(f"{key[0]} {_text(endpoint.path)} is not in the spec index")
        method = _method(endpoint, facts[key], types)
        name = resource_of(method.path)
        resources.setdefault(name, Resource(name, class_name(name))).methods.append(method)
    for resource in resources.values():
        taken = [m.action for m in resource.methods]
        taken += [f"{m.action}_all" for m in resource.methods if m.per_page_max is not None]
        taken += [m.save_name for m in resource.methods if m.binary]
        taken += [f"{m.save_name}s" for m in resource.methods if m.saves_many]
        clashes = sorted({a for a in taken if taken.count(a) > 1} | ({"with_raw_response"} & set(taken)))
        if clashes:
            raise CodegenError(f"facade names collide on {resource.name}: {', '.join(clashes)}")
    return Facade(resources=[resources[k] for k in sorted(resources)], imports=sorted(types.imports))


def render(facade: Facade, template_dir: Path = TEMPLATE_DIR) -> tuple[str, str]:
    """(the _resources.py source, the docs/api.md text) rendered from one data set."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - Python source and Markdown, not HTML
    )
    env.filters["docstring"] = _docstring_safe
    return (
        env.get_template(FACADE_TEMPLATE).render(facade=facade),
        env.get_template(REFERENCE_TEMPLATE).render(facade=facade),
    )


def _docstring_safe(text: str) -> str:
    """Text that can sit inside a triple-quoted docstring unchanged."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def build(package: Path, spec: dict[str, Any], config_file: Path) -> Facade:
    """The facade's data for ``spec`` (as the generator got it) and ``package``'s spec index."""
    from .index import iter_operations  # index imports this module

    param_docs: dict[tuple[str, str], dict[tuple[str, str], str]] = {}
    for method, path, operation, params in iter_operations(spec):
        docs = {(str(p.get("in")), str(p.get("name"))): str(p.get("description") or "") for p in params}
        docs[("body", "body")] = str((operation.get("requestBody") or {}).get("description") or "")
        param_docs[(method.upper(), _PATH_PARAM.sub("{}", path))] = docs
    facts = {}
    for op in _load_index(package / "_spec_index.py").OPERATIONS.values():
        facts[(op.method, _PATH_PARAM.sub("{}", op.path))] = {
            "operation_id": op.operation_id,
            "method": op.method,
            "path": op.path,
            "module": op.module,
            "per_page_max": op.per_page_max,
            "binary": op.binary,
            "param_docs": param_docs.get((op.method, _PATH_PARAM.sub("{}", op.path)), {}),
        }
    return facade_data(parse_endpoints(spec, config_file), facts)


def write(package: Path, spec: dict[str, Any], config_file: Path) -> str:
    """Write ``package/_resources.py``; return the text of docs/api.md (written by the caller)."""
    source, reference = render(build(package, spec, config_file))
    (package / "_resources.py").write_text(source, encoding="utf-8")
    return reference


def _load_index(path: Path) -> Any:
    """The spec index codegen/index.py just wrote (a data table), loaded from its file."""
    loader_spec = importlib.util.spec_from_file_location("_fintoro_spec_index", path)
    if loader_spec is None or loader_spec.loader is None:
        raise CodegenError(f"cannot load {path}")
    module = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(module)
    return module


def write_facade(
    package: Path,
    operations: list[tuple[str, str, dict[str, Any]]],
    modules: dict[str, str],
    per_page_max: dict[str, int | None],
    binary: dict[str, str | None],
) -> list[tuple[str, str, str, str]]:
    """(operationId, resource, action, module) rows for docs/operations.md.

    Called by codegen/index.py; the module itself is rendered by ``write`` once the index exists.
    """
    rows: list[tuple[str, str, str, str]] = []
    for _method_name, path, operation in operations:
        op_id = operation["operationId"]
        resource = resource_of(path)
        action = action_name(op_id, resource.split("_"))
        rows.append((op_id, resource, action, modules[op_id]))
        if per_page_max.get(op_id) is not None:
            rows.append((op_id, resource, f"{action}_all", modules[op_id]))
        if binary.get(op_id):
            save = "save" + action[len("download") :] if action.startswith("download") else f"save_{action}"
            rows.append((op_id, resource, save, modules[op_id]))
    return rows


def operations_table(rows: list[tuple[str, str, str, str]]) -> str:
    """Markdown table operationId -> facade call (written to docs/operations.md, git-ignored)."""
    lines = [
        "# Operations and their facade calls",
        "",
        "Generated by `make generate` from the pinned spec; not committed. Signatures: docs/api.md.",
        "",
        "| operationId | facade call | generated module |",
        "|---|---|---|",
    ]
    for op_id, resource, action, module in sorted(rows, key=lambda r: (r[1], r[2])):
        lines.append(f"| `{op_id}` | `await client.{resource}.{action}(...)` | `fintoro_api.api.{module}` |")
    return "\n".join(lines) + "\n"
