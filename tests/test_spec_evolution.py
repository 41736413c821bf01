"""Issue: spec evolution. The API change report, make update-spec, the changelog rule.

Expectations come from the specs themselves (the pinned one and the older one
pinned in openapi/pin.history.json, both vendored by the project's own
vendoring), from synthetic one-change specs, and from an independent diff tool
(the pinned Optic CLI): every breaking change Optic reports must be in ours.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from codegen.errors import CodegenError
from codegen.evolution import update_spec
from codegen.generate import grouped_by_resource, run_generator
from codegen.spec import HISTORY_PIN_FILE, Pin, load_pin, load_vendored, sha256, vendor, write_pin
from codegen.specdiff import BREAKING, Change, diff, python_surface, summary, to_markdown

from .conftest import ROOT, spec_operations
from .support.static_http import serve_directory

OPTIC = ROOT / "tools" / "optic" / "node_modules" / ".bin" / "optic"
Spec = dict[str, Any]


@pytest.fixture(scope="module")
def history() -> tuple[Spec, Spec]:
    """(older, pinned): the older one through the project's own vendoring (openapi/pin.history.json)."""
    pin = load_pin(HISTORY_PIN_FILE)
    vendor(pin=pin)
    old, _ = load_vendored(pin=pin)
    new, _ = load_vendored()
    return old, new


def _keys(changes: list[Change]) -> set[tuple[str, str, str, str]]:
    return {(c.kind, c.action, c.location, c.severity) for c in changes}


def _required_only_any_of(spec: Spec) -> dict[str, set[frozenset[str]]]:
    """Each schema's required-only anyOf rule, its own or inherited from an allOf ``$ref`` member."""
    schemas = spec.get("components", {}).get("schemas", {})
    own = {
        name: {frozenset(alt["required"]) for alt in schema["anyOf"]}
        for name, schema in schemas.items()
        if schema.get("anyOf") and all(set(alt) == {"required"} for alt in schema["anyOf"])
    }
    inherited = {
        name: own[member["$ref"].rsplit("/", 1)[-1]]
        for name, schema in schemas.items()
        for member in schema.get("allOf", [])
        if member.get("$ref", "").rsplit("/", 1)[-1] in own
    }
    return {**inherited, **own}


# --- the real history pair (expectations derived from the two files) --------------------------------------


def test_operations_and_schemas_added_or_removed_match_the_files(history: tuple[Spec, Spec]) -> None:
    old, new = history
    changes = diff(old, new)
    keys = (
        {(m.upper() + " " + p) for m, p, _ in spec_operations(old)},
        {(m.upper() + " " + p) for m, p, _ in spec_operations(new)},
    )
    reported = {(c.action, c.location) for c in changes if c.kind == "operation"}
    assert reported == {("added", k) for k in keys[1] - keys[0]} | {("removed", k) for k in keys[0] - keys[1]}
    schemas = set(old["components"]["schemas"]), set(new["components"]["schemas"])
    reported = {(c.action, c.location) for c in changes if c.kind == "schema"}
    assert reported == {("added", n) for n in schemas[1] - schemas[0]} | {
        ("removed", n) for n in schemas[0] - schemas[1]
    }


def test_every_required_only_any_of_change_is_reported_both_ways(history: tuple[Spec, Spec]) -> None:
    old, new = history
    before, after = _required_only_any_of(old), _required_only_any_of(new)
    differing = {name for name in set(before) | set(after) if before.get(name) != after.get(name)}
    forward = {c.group: c for c in diff(old, new) if c.kind == "body-rule"}
    backward = {c.group: c for c in diff(new, old) if c.kind == "body-rule"}
    assert set(forward) == set(backward) == {f"schema {name}" for name in differing}
    for group, change in forward.items():
        # One direction relaxes and the other tightens, unless the rule changed both ways at once.
        assert {change.severity, backward[group].severity} <= {"additive", BREAKING}
        if change.severity == "additive":
            assert backward[group].severity == BREAKING, group


def test_reversing_the_pair_reverses_every_addition_and_removal(history: tuple[Spec, Spec]) -> None:
    old, new = history
    forward, backward = diff(old, new), diff(new, old)
    opposite = {"added": "removed", "removed": "added"}
    backward_keys = {(c.kind, c.action, c.location) for c in backward}
    for change in forward:
        if change.action in opposite:
            assert (change.kind, opposite[change.action], change.location) in backward_keys, change
    assert summary(forward)["breaking"] + summary(forward)["additive"] == len(forward)


def test_report_groups_by_resource_and_schema(history: tuple[Spec, Spec]) -> None:
    changes = diff(*history)
    report = to_markdown(changes, "old", "new")
    counts = summary(changes)
    assert f"{counts['breaking']} breaking, {counts['additive']} additive." in report
    for change in changes:
        assert f"## {change.group}" in report and f"`{change.location}`" in report


# --- synthetic specs: one change each, both directions ----------------------------------------------------


def _json(schema: Spec) -> Spec:
    return {"application/json": {"schema": schema}}


THING = {"$ref": "#/components/schemas/Thing"}
BASE: Spec = {
    "openapi": "3.1.0",
    "info": {"title": "things", "version": "1"},
    "paths": {
        "/things": {
            "get": {
                "operationId": "listThings",
                "tags": ["Things"],
                "parameters": [
                    {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
                    {"name": "perPage", "in": "query", "schema": {"type": "integer", "maximum": 100}},
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["open", "paid"]}},
                    {"name": "sort", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": _json({"type": "object", "properties": {"data": {"type": "array", "items": THING}}}),
                    },
                    "404": {"description": "missing"},
                },
            },
            "post": {
                "operationId": "createThing",
                "tags": ["Things"],
                "requestBody": {"required": True, "content": _json({"$ref": "#/components/schemas/ThingInput"})},
                "responses": {"201": {"description": "created", "content": _json(THING)}},
            },
        },
        "/things/{thing}": {
            "parameters": [{"name": "thing", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "delete": {"operationId": "deleteThing", "tags": ["Things"], "responses": {"204": {"description": "gone"}}},
        },
        "/things/{thing}/pdf": {
            "parameters": [{"name": "thing", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "get": {
                "operationId": "downloadThingPdf",
                "tags": ["Things"],
                "responses": {
                    "200": {
                        "description": "pdf",
                        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                    }
                },
            },
        },
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "integer"},
                    "price": {"type": "number"},
                    "note": {"type": ["string", "null"]},
                    "code": {"type": "string", "maxLength": 10},
                    "status": {"type": "string", "enum": ["open", "paid"]},
                    "meta": {
                        "type": "object",
                        "properties": {
                            "source": {"type": "string"},
                            "tags": {
                                "type": "array",
                                "items": {"type": "object", "properties": {"label": {"type": "string"}}},
                            },
                        },
                    },
                },
            },
            "ThingInput": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 50},
                    "priceListItemId": {"type": "integer"},
                    "unitId": {"type": ["integer", "null"]},
                    "amount": {"type": "number", "minimum": 0},
                    "metadata": {
                        "type": "object",
                        "properties": {"channel": {"type": "string"}, "ref": {"type": "string"}},
                    },
                },
                "anyOf": [{"required": ["priceListItemId"]}, {"required": ["name", "unitId"]}],
            },
            "Unused": {"type": "object", "properties": {"x": {"type": "string"}}},
        }
    },
}


def _schema(spec: Spec, name: str) -> Spec:
    return spec["components"]["schemas"][name]  # type: ignore[no-any-return]


def _param(spec: Spec, name: str) -> Spec:
    return next(p for p in spec["paths"]["/things"]["get"]["parameters"] if p["name"] == name)  # type: ignore[no-any-return]


def _rename_list(spec: Spec) -> None:
    spec["paths"]["/things"]["get"]["operationId"] = "browseThings"


def _status_201_to_202(spec: Spec) -> None:
    responses = spec["paths"]["/things"]["post"]["responses"]
    responses["202"] = responses.pop("201")


def _require_currency(spec: Spec) -> None:
    _schema(spec, "ThingInput")["properties"]["currency"] = {"type": "string"}
    _schema(spec, "ThingInput")["required"] = ["name", "currency"]


# (id, edit, forward (kind, action, location, severity), backward (kind, action, location, severity))
Edit = Callable[[Spec], Any]
ONE_CHANGE: list[tuple[str, Edit, tuple[str, str, str, str], tuple[str, str, str, str]]] = [
    (
        "response-property-removed",
        lambda s: _schema(s, "Thing")["properties"].pop("price"),
        ("response-property", "removed", "Thing.price", BREAKING),
        ("response-property", "added", "Thing.price", "additive"),
    ),
    (
        "response-property-retyped",
        lambda s: _schema(s, "Thing")["properties"]["id"].update(type="string"),
        ("type", "changed", "Thing.id", BREAKING),
        ("type", "changed", "Thing.id", BREAKING),
    ),
    (
        "response-nullable",
        lambda s: _schema(s, "Thing")["properties"]["note"].update(type="string"),
        ("nullable", "changed", "Thing.note", "additive"),
        ("nullable", "changed", "Thing.note", BREAKING),
    ),
    (
        "response-constraint",
        lambda s: _schema(s, "Thing")["properties"]["code"].update(maxLength=20),
        ("constraint", "changed", "Thing.code maxLength", BREAKING),
        ("constraint", "changed", "Thing.code maxLength", "additive"),
    ),
    (
        "response-enum",
        lambda s: _schema(s, "Thing")["properties"]["status"]["enum"].append("refunded"),
        ("enum-value", "added", "Thing.status", "additive"),
        ("enum-value", "removed", "Thing.status", BREAKING),
    ),
    (
        "nested-response-property-removed",
        lambda s: _schema(s, "Thing")["properties"]["meta"]["properties"].pop("source"),
        ("response-property", "removed", "Thing.meta.source", BREAKING),
        ("response-property", "added", "Thing.meta.source", "additive"),
    ),
    (
        "nested-array-item-retyped",
        lambda s: _schema(s, "Thing")["properties"]["meta"]["properties"]["tags"]["items"]["properties"][
            "label"
        ].update(type="integer"),
        ("type", "changed", "Thing.meta.tags[].label", BREAKING),
        ("type", "changed", "Thing.meta.tags[].label", BREAKING),
    ),
    (
        "nested-request-property-required",
        lambda s: _schema(s, "ThingInput")["properties"]["metadata"].update(required=["channel"]),
        ("request-property", "changed", "ThingInput.metadata.channel", BREAKING),
        ("request-property", "changed", "ThingInput.metadata.channel", "additive"),
    ),
    (
        "nested-request-property-removed",
        lambda s: _schema(s, "ThingInput")["properties"]["metadata"]["properties"].pop("ref"),
        ("request-property", "removed", "ThingInput.metadata.ref", BREAKING),
        ("request-property", "added", "ThingInput.metadata.ref", "additive"),
    ),
    (
        "request-property-added-required",
        _require_currency,
        ("request-property", "added", "ThingInput.currency", BREAKING),
        ("request-property", "removed", "ThingInput.currency", BREAKING),
    ),
    (
        "request-constraint-max",
        lambda s: _schema(s, "ThingInput")["properties"]["name"].update(maxLength=30),
        ("constraint", "changed", "ThingInput.name maxLength", BREAKING),
        ("constraint", "changed", "ThingInput.name maxLength", "additive"),
    ),
    (
        "request-constraint-min",
        lambda s: _schema(s, "ThingInput")["properties"]["amount"].update(minimum=1),
        ("constraint", "changed", "ThingInput.amount minimum", BREAKING),
        ("constraint", "changed", "ThingInput.amount minimum", "additive"),
    ),
    (
        "body-rule-relaxed",
        lambda s: _schema(s, "ThingInput")["anyOf"][1].update(required=["name"]),
        ("body-rule", "changed", "ThingInput anyOf", "additive"),
        ("body-rule", "changed", "ThingInput anyOf", BREAKING),
    ),
    (
        "request-not-nullable",
        lambda s: _schema(s, "ThingInput")["properties"]["unitId"].update(type="integer"),
        ("nullable", "changed", "ThingInput.unitId", BREAKING),
        ("nullable", "changed", "ThingInput.unitId", "additive"),
    ),
    (
        "parameter-required",
        lambda s: _param(s, "page").update(required=True),
        ("parameter", "changed", "GET /things query:page", BREAKING),
        ("parameter", "changed", "GET /things query:page", "additive"),
    ),
    (
        "parameter-added-required",
        lambda s: s["paths"]["/things"]["get"]["parameters"].append(
            {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}
        ),
        ("parameter", "added", "GET /things query:q", BREAKING),
        ("parameter", "removed", "GET /things query:q", BREAKING),
    ),
    (
        "parameter-enum",
        lambda s: _param(s, "status")["schema"]["enum"].remove("paid"),
        ("enum-value", "removed", "GET /things query:status", BREAKING),
        ("enum-value", "added", "GET /things query:status", "additive"),
    ),
    (
        "parameter-constraint",
        lambda s: _param(s, "perPage")["schema"].update(maximum=50),
        ("constraint", "changed", "GET /things query:perPage maximum", BREAKING),
        ("constraint", "changed", "GET /things query:perPage maximum", "additive"),
    ),
    (
        "parameter-retyped",
        lambda s: _param(s, "sort")["schema"].update(type="integer"),
        ("type", "changed", "GET /things query:sort", BREAKING),
        ("type", "changed", "GET /things query:sort", BREAKING),
    ),
    (
        "success-status",
        _status_201_to_202,
        ("status-code", "removed", "POST /things 201", BREAKING),
        ("status-code", "removed", "POST /things 202", BREAKING),
    ),
    (
        "error-status",
        lambda s: s["paths"]["/things"]["get"]["responses"].update({"422": {"description": "invalid"}}),
        ("status-code", "added", "GET /things 422", "additive"),
        ("status-code", "removed", "GET /things 422", BREAKING),
    ),
    (
        "request-content-type",
        lambda s: s["paths"]["/things"]["post"]["requestBody"]["content"].update(
            {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/ThingInput"}}}
        ),
        ("content-type", "added", "POST /things request multipart/form-data", "additive"),
        ("content-type", "removed", "POST /things request multipart/form-data", BREAKING),
    ),
    (
        "response-content-type",
        lambda s: s["paths"]["/things/{thing}/pdf"]["get"]["responses"]["200"]["content"].update(
            {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
        ),
        ("content-type", "added", "GET /things/{thing}/pdf 200 application/zip", BREAKING),
        ("content-type", "removed", "GET /things/{thing}/pdf 200 application/zip", BREAKING),
    ),
    (
        "request-body-optional",
        lambda s: s["paths"]["/things"]["post"]["requestBody"].update(required=False),
        ("request-body", "changed", "POST /things request", "additive"),
        ("request-body", "changed", "POST /things request", BREAKING),
    ),
    (
        "operation-removed",
        lambda s: s["paths"].pop("/things/{thing}"),
        ("operation", "removed", "DELETE /things/{thing}", BREAKING),
        ("operation", "added", "DELETE /things/{thing}", "additive"),
    ),
    (
        "python-module-moved",
        _rename_list,
        ("python-module", "moved", "fintoro_api.api.things.list_things", BREAKING),
        ("python-module", "moved", "fintoro_api.api.things.browse_things", BREAKING),
    ),
    (
        "facade-method-moved",
        _rename_list,
        ("facade-method", "moved", "client.things.list", BREAKING),
        ("facade-method", "moved", "client.things.browse", BREAKING),
    ),
    (
        "response-header-added",
        lambda s: s["paths"]["/things"]["get"]["responses"]["200"].update(
            headers={"X-Thing-Version": {"required": True, "schema": {"type": "string"}}}
        ),
        ("response-header", "added", "GET /things 200 X-Thing-Version", "additive"),
        ("response-header", "removed", "GET /things 200 X-Thing-Version", BREAKING),
    ),
    (
        "request-default-changed",
        lambda s: _schema(s, "ThingInput")["properties"]["name"].update(default="unnamed"),
        ("default", "changed", "ThingInput.name default", BREAKING),
        ("default", "changed", "ThingInput.name default", BREAKING),
    ),
    (
        "parameter-default-changed",
        lambda s: _param(s, "sort")["schema"].update(default="name"),
        ("default", "changed", "GET /things query:sort default", BREAKING),
        ("default", "changed", "GET /things query:sort default", BREAKING),
    ),
    (
        "model-class-removed",
        lambda s: s["components"]["schemas"].pop("Unused"),
        ("model-class", "removed", "fintoro_api.models.Unused", BREAKING),
        ("model-class", "added", "fintoro_api.models.Unused", "additive"),
    ),
]


def _edited(edit: Edit) -> Spec:
    spec = copy.deepcopy(BASE)
    edit(spec)
    return spec


@pytest.mark.parametrize(("edit", "forward", "backward"), [c[1:] for c in ONE_CHANGE], ids=[c[0] for c in ONE_CHANGE])
def test_each_change_is_classified_in_both_directions(
    edit: Edit, forward: tuple[str, str, str, str], backward: tuple[str, str, str, str]
) -> None:
    changed = _edited(edit)
    assert forward in _keys(diff(BASE, changed))
    assert backward in _keys(diff(changed, BASE))


def test_a_moved_module_names_where_it_went() -> None:
    moved = [c for c in diff(BASE, _edited(_rename_list)) if c.action == "moved"]
    assert any("fintoro_api.api.things.browse_things" in c.detail for c in moved)
    assert "client.things.browse_all" in python_surface(_edited(_rename_list))["facade-method"]


def _price_into_all_of_ref(spec: Spec) -> None:
    thing = _schema(spec, "Thing")
    spec["components"]["schemas"]["Priced"] = {
        "type": "object",
        "properties": {"price": thing["properties"].pop("price")},
    }
    thing["allOf"] = [{"$ref": "#/components/schemas/Priced"}]


def _created_thing_inline(spec: Spec) -> None:
    spec["paths"]["/things"]["post"]["responses"]["201"]["content"] = _json(copy.deepcopy(_schema(spec, "Thing")))


def _meta_as_a_component(spec: Spec) -> None:
    thing = _schema(spec, "Thing")
    spec["components"]["schemas"]["Meta"] = thing["properties"]["meta"]
    thing["properties"]["meta"] = {"$ref": "#/components/schemas/Meta"}


@pytest.mark.parametrize("edit", [_price_into_all_of_ref, _created_thing_inline, _meta_as_a_component])
def test_the_same_api_written_another_way_reports_no_api_change(edit: Edit) -> None:
    # A property moved into an allOf member, a $ref replaced by the schema it points to (or the reverse)
    # leave every request and response as it was: at most a component schema comes or goes.
    changed = _edited(edit)
    for changes in (diff(BASE, changed), diff(changed, BASE)):
        assert [c for c in changes if c.kind not in ("schema", "model-class")] == [], changes


def test_a_ref_swapped_for_a_different_shape_still_reports_the_difference() -> None:
    def inline_without_price(spec: Spec) -> None:
        _created_thing_inline(spec)
        spec["paths"]["/things"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["properties"].pop(
            "price"
        )

    assert ("response-property", "removed", "POST /things 201.price", BREAKING) in _keys(
        diff(BASE, _edited(inline_without_price))
    )


def test_identical_specs_report_nothing() -> None:
    assert diff(BASE, copy.deepcopy(BASE)) == []
    assert "No changes" in to_markdown([], "a", "b")


def test_the_derived_python_surface_is_what_generation_produced(spec: Spec) -> None:
    """The report's names (derived, never read from generated code) match the generated package."""
    import importlib

    import fintoro_api.models
    from fintoro_api._resources import Resources

    surface = python_surface(spec)
    for module in surface["python-module"]:
        importlib.import_module(module)
    for method in surface["facade-method"]:
        _, resource, action = method.split(".")
        resource_class = getattr(Resources, resource).func.__annotations__["return"]
        assert hasattr(getattr(importlib.import_module("fintoro_api._resources"), resource_class), action), method
    for model in surface["model-class"]:
        assert hasattr(fintoro_api.models, model.rsplit(".", 1)[-1]), model


# --- tags do not shape what users import ---------------------------------------------------------------------


def _translated(spec: Spec) -> Spec:
    translated = copy.deepcopy(spec)
    for item in translated["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "tags" in operation:
                operation["tags"] = ["Veci a faktúry"]
    return translated


def test_translated_tags_change_nothing_in_the_report() -> None:
    assert diff(BASE, _translated(BASE)) == []


@pytest.mark.slow
def test_translated_tags_generate_the_same_modules(tmp_path: Path) -> None:
    """The generator itself (on the resource-grouped spec) writes the same module tree for translated tags."""
    spec = copy.deepcopy(BASE)
    spec["components"]["schemas"]["ThingInput"].pop("anyOf")  # the overlay's job on real specs

    def tree(name: str, variant: Spec) -> list[str]:
        workdir = tmp_path / name
        workdir.mkdir()
        out = run_generator(variant, workdir) / "api"
        return sorted(str(p.relative_to(out)) for p in out.rglob("*.py"))

    english = tree("en", grouped_by_resource(spec))
    assert tree("sk", grouped_by_resource(_translated(spec))) == english
    # Without the grouping the generator would name the package after the (translated) tag.
    assert tree("sk-by-tag", _translated(spec)) != english
    expected = {
        m.removeprefix("fintoro_api.api.").replace(".", "/") + ".py" for m in python_surface(spec)["python-module"]
    }
    assert expected <= set(english)


# --- cross-check against the Optic CLI ---------------------------------------------------------------------------

_OPERATION = re.compile(r"^[x✔] (GET|PUT|POST|PATCH|DELETE) (\S+?):")
_ELEMENT = re.compile(r"^(\s*)- (.*?)\s*$")
_FAILURE = re.compile(r"^\s*x \[(.+?)\] (.*)$")


def optic_breaking(pairs: list[tuple[Path, Path]], workdir: Path) -> list[list[tuple[str, list[str], str]]]:
    """Optic's failed breaking-change checks per (old, new) pair: (operation, changed elements, message).

    The pairs run concurrently: one Optic run on the real spec takes tens of seconds. Under CI=1
    Optic writes ci-run-details.json into its working directory: it runs in ``workdir``, without CI.
    """
    if not OPTIC.exists():
        pytest.fail(f"{OPTIC} is missing: run `make optic` (make test installs it)")
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env.update(OPTIC_TELEMETRY_LEVEL="off", NO_COLOR="1")
    runs = [
        subprocess.Popen(
            [str(OPTIC), "diff", str(old), str(new), "--check", "--validation", "loose"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for old, new in pairs
    ]
    outputs = []
    for run in runs:
        try:
            stdout, stderr = run.communicate(timeout=600)
        finally:
            run.kill()
        assert run.returncode in (0, 1), stderr[-2000:]
        outputs.append(_parse_optic(stdout))
    return outputs


def _parse_optic(stdout: str) -> list[tuple[str, list[str], str]]:
    found: list[tuple[str, list[str], str]] = []
    operation, stack = "", []  # stack: (indent, element)
    for line in stdout.splitlines():
        if match := _OPERATION.match(line):
            operation, stack = f"{match.group(1)} {match.group(2)}", []
        elif match := _FAILURE.match(line):
            found.append((operation, [element for _, element in stack], match.group(2)))
        elif (match := _ELEMENT.match(line)) and operation:
            indent = len(match.group(1))
            stack = [(i, e) for i, e in stack if i < indent] + [(indent, match.group(2))]
    passed = re.search(r"Checks: (\d+)/(\d+) passed", stdout)
    if passed is None:  # identical specs (e.g. right after the pin moved to the history version)
        assert "No operations changed" in stdout and not found, stdout[-2000:]
    else:
        assert len(found) >= int(passed.group(2)) - int(passed.group(1)), "Optic failures we could not parse"
    return found


def _reached(spec: Spec, operation_key: str) -> set[str]:
    """Component schemas an operation reaches (request, parameters, responses), transitively."""
    method, path = operation_key.split(" ", 1)
    operation = spec["paths"].get(path, {}).get(method.lower(), {})
    schemas, seen = spec.get("components", {}).get("schemas", {}), set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.rsplit("/", 1)[-1] not in seen:
                seen.add(ref.rsplit("/", 1)[-1])
                walk(schemas.get(ref.rsplit("/", 1)[-1]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk([operation, spec["paths"].get(path, {}).get("parameters", [])])
    return seen


def _tokens(text: str) -> set[str]:
    return set(re.split(r"[\s.:\[\]{}/'()]+", text)) - {""}


def uncovered(optic: list[tuple[str, list[str], str]], changes: list[Change], old: Spec, new: Spec) -> list[str]:
    """Optic's breaking findings that no breaking change of ours accounts for."""
    breaking = [c for c in changes if c.severity == BREAKING]
    missing = []
    for operation, elements, message in optic:
        reached = {f"schema {name}" for name in _reached(old, operation) | _reached(new, operation)}
        ours = [
            c
            for c in breaking
            if c.location.startswith(operation + " ") or c.location == operation or c.group in reached
        ]
        if any(c.kind == "operation" and c.location == operation for c in ours):
            continue  # the whole operation went
        names = set(re.findall(r"'([^']+)'", message)) | set(re.findall(r"\b([1-5]\d\d)\b", message))
        for element in elements:
            names |= set(re.findall(r"/properties/([^/:\s]+)", element)) | set(
                re.findall(r"parameter ([^\s:]+)", element)
            )
            names |= set(re.findall(r"response (\d{3})", element))
        if not any(names & _tokens(c.location) for c in ours):
            missing.append(f"{operation}: {message} ({' > '.join(elements)})")
    return missing


def _write(path: Path, spec: Spec) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
def test_every_breaking_change_optic_reports_on_the_real_pair_is_ours(
    history: tuple[Spec, Spec], tmp_path: Path
) -> None:
    old, new = history
    old_file, new_file = load_pin(HISTORY_PIN_FILE).vendored_path, load_pin().vendored_path
    forward, backward = optic_breaking([(old_file, new_file), (new_file, old_file)], tmp_path)
    assert uncovered(forward, diff(old, new), old, new) == []
    assert uncovered(backward, diff(new, old), new, old) == []


@pytest.mark.slow
def test_every_breaking_change_optic_reports_on_the_synthetic_specs_is_ours(tmp_path: Path) -> None:
    # All one-change edits touch different places, so one spec carries them all: two Optic runs, not sixty.
    changed = copy.deepcopy(BASE)
    for _, edit, _, _ in ONE_CHANGE:
        if edit is not _rename_list or changed["paths"]["/things"]["get"]["operationId"] == "listThings":
            edit(changed)
    base_file, changed_file = _write(tmp_path / "base.yaml", BASE), _write(tmp_path / "changed.yaml", changed)
    forward, backward = optic_breaking([(base_file, changed_file), (changed_file, base_file)], tmp_path)
    assert forward and backward, "Optic found no breaking change in specs built to have many"
    assert uncovered(forward, diff(BASE, changed), BASE, changed) == []
    assert uncovered(backward, diff(changed, BASE), changed, BASE) == []


# --- the commands ---------------------------------------------------------------------------------------------


def test_spec_diff_command_prints_markdown_or_json(tmp_path: Path) -> None:
    old, new = _write(tmp_path / "old.yaml", BASE), _write(tmp_path / "new.yaml", _edited(_rename_list))
    run = [sys.executable, "-m", "codegen", "spec-diff", str(old), str(new)]
    markdown = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "**breaking** python-module moved: `fintoro_api.api.things.list_things`" in markdown
    report = json.loads(subprocess.run([*run, "--json"], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    expected = summary(diff(BASE, _edited(_rename_list)))
    assert (report["breaking"], report["additive"]) == (expected["breaking"], expected["additive"]) != (0, 0)
    assert {c["kind"] for c in report["changes"]} >= {"python-module", "facade-method"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for files under tmp_path/www: (base URL, directory)."""
    www = tmp_path / "www"
    www.mkdir()
    with serve_directory(www) as base_url:
        yield base_url, www


def _project(tmp_path: Path, spec: Spec) -> tuple[Pin, Path, Path]:
    data = yaml.safe_dump(spec, sort_keys=False).encode()
    pin = Pin(
        file="spec.yaml",
        url="https://example.invalid/spec.yaml",
        sha256=sha256(data),
        directory=tmp_path / "openapi",
        mirror_dir=tmp_path / "no-mirror",
    )
    pin.vendored_path.parent.mkdir()
    pin.vendored_path.write_bytes(data)
    pin_file = tmp_path / "pin.json"
    write_pin(pin, pin_file)
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text("# Changelog\n\n## Unreleased\n\n## 0.1.0\n")
    return pin, pin_file, changelog


def test_update_spec_from_a_file_pins_no_stale_url_and_records_no_local_path(tmp_path: Path) -> None:
    pin, pin_file, changelog = _project(tmp_path, BASE)
    (tmp_path / "incoming").mkdir()
    new_file = _write(tmp_path / "incoming" / "new.yaml", _edited(_rename_list))
    output = update_spec(str(new_file), pin_file=pin_file, changelog=changelog, report_dir=tmp_path, pin=pin)
    counts = summary(diff(BASE, _edited(_rename_list)))
    assert f"{counts['breaking']} breaking, {counts['additive']} additive" in output
    written = json.loads(pin_file.read_text())
    assert written["sha256"] == sha256(new_file.read_bytes()) and written["url"] is None
    assert "records no URL" in output
    assert pin.vendored_path.read_bytes() == new_file.read_bytes()
    text = changelog.read_text()
    assert "### API spec update (major version bump)" in text and text.index("Unreleased") < text.index("major")
    assert str(tmp_path) not in text and "Source: local file new.yaml" in text
    assert (tmp_path / "api-changes.json").exists() and (tmp_path / "api-changes.md").exists()
    # The new pin vendors in a fresh checkout only from a file with its hash: one line says what was tried.
    pin_after = load_pin(pin_file)
    (tmp_path / "openapi" / pin_after.file).unlink()
    fresh = Pin(
        pin_after.file,
        pin_after.url,
        pin_after.sha256,
        directory=tmp_path / "openapi",
        mirror_dir=tmp_path / "no-mirror",
    )
    with pytest.raises(CodegenError, match=r"tried: .*absent.*no-mirror.*no URL") as caught:
        vendor(pin=fresh)
    assert "\n" not in str(caught.value)


def test_update_spec_records_a_url_only_when_it_serves_the_same_bytes(tmp_path: Path, served: tuple[str, Path]) -> None:
    base_url, www = served
    pin, pin_file, changelog = _project(tmp_path, BASE)
    new_file = _write(tmp_path / "new.yaml", _edited(_rename_list))
    (www / "other.yaml").write_bytes(b"openapi: 3.1.0\n")
    with pytest.raises(CodegenError, match=r"serves sha256 .* not pinning it"):
        update_spec(str(new_file), url=f"{base_url}/other.yaml", pin_file=pin_file, changelog=changelog, pin=pin)
    assert json.loads(pin_file.read_text())["sha256"] == pin.sha256, "a refused update changes nothing"
    (www / "new.yaml").write_bytes(new_file.read_bytes())
    update_spec(
        str(new_file), url=f"{base_url}/new.yaml", pin_file=pin_file, changelog=changelog, report_dir=tmp_path, pin=pin
    )
    assert json.loads(pin_file.read_text())["url"] == f"{base_url}/new.yaml"
    assert f"Source: {base_url}/new.yaml" in changelog.read_text()


def test_a_source_that_changes_during_update_spec_changes_nothing(tmp_path: Path) -> None:
    """A URL that serves other bytes on a second read: the update stops before the changelog or the pin move."""
    pin, pin_file, changelog = _project(tmp_path, BASE)
    versions = [yaml.safe_dump(_edited(_rename_list)).encode(), yaml.safe_dump(_edited(_status_201_to_202)).encode()]
    served: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = versions[min(len(served), 1)]
            served.append(1)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    before = changelog.read_text()
    try:
        update_spec(
            f"http://127.0.0.1:{server.server_address[1]}/spec.yaml",
            pin_file=pin_file,
            changelog=changelog,
            report_dir=tmp_path,
            pin=pin,
        )
    except CodegenError:
        pass  # refusing is fine; recording what was not installed is not
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    pinned = json.loads(pin_file.read_text())["sha256"]
    vendored = sha256(pin.vendored_path.read_bytes())
    assert pinned == vendored, "the pin and the vendored file disagree"
    entries = changelog.read_text().count("### API spec update")
    assert entries == (0 if pinned == pin.sha256 else 1)
    if entries:
        assert pinned == sha256(versions[0]) and "browse" in changelog.read_text()
    else:
        assert changelog.read_text() == before


def test_update_spec_additive_only_is_a_minor_bump(tmp_path: Path) -> None:
    pin, pin_file, changelog = _project(tmp_path, BASE)
    relaxed_spec = _edited(lambda s: _schema(s, "ThingInput")["anyOf"][1].update(required=["name"]))
    relaxed = _write(tmp_path / "relaxed.yaml", relaxed_spec)
    update_spec(str(relaxed), pin_file=pin_file, changelog=changelog, report_dir=tmp_path, pin=pin)
    assert "### API spec update (minor version bump)" in changelog.read_text()
    # The reverse move tightens the rule: breaking, a major bump (it used to be recorded as nothing).
    back = tmp_path / "back"
    back.mkdir()
    pin, pin_file, changelog = _project(back, relaxed_spec)
    original = _write(back / "original.yaml", BASE)
    update_spec(str(original), pin_file=pin_file, changelog=changelog, report_dir=back, pin=pin)
    assert "### API spec update (major version bump)" in changelog.read_text()
