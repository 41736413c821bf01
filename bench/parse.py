"""Parse cost as a ratio to plain ``json.loads`` of the same bytes: invoice detail and a 500-row invoice page.

"ours" is what a call costs after the HTTP body arrives, exactly as the generated
endpoint functions run it: ``json_body`` (numbers with a fraction decoded as
Decimal) then ``Model.from_dict`` with every field checked against its schema
type, inside ``parsing()`` (errors -> APIResponseValidationError, GC paused).
The reference is pydantic v2 (installed with openapi-python-client): models
built here from the same schemas, then ``validate_python`` after ``json.loads``
(lax python mode, the common setup; GC left on as pydantic leaves it).

Each round runs every variant in a fresh interpreter that times json.loads and
the parse alternately (best of 5 batches each, in CPU time of that process, so
other jobs on a shared machine count less) and prints their ratio; the
rounds interleave the variants, so machine noise hits all alike. Target
(issue "Typed surface"): ours <= 2.0x json.loads on both payloads.

    .venv/bin/python bench/parse.py          # BENCH_ROUNDS=7 to change; BENCH_BEFORE=<checkout> to compare
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codegen.spec import load_vendored  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
ITEMS = 20  # line items, payments ... per array in the detail
ROWS = 500  # rows on the page (the endpoint maximum)
TARGET = 2.0
PAYLOADS = {"detail": ("Invoice", 400), "page": ("ListInvoicesResponse200", 12)}  # model, iterations per batch

TIMER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
variant, model_name, payload_file, n = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
payload = open(payload_file, "rb").read()
if variant == "ours":
    import httpx
    import fintoro_api.models as models
    from fintoro_api._endpoint import json_body, parsing
    model = getattr(models, model_name)
    response = httpx.Response(200, content=payload, request=httpx.Request("GET", "https://api.test/"))
    def parse():  # what every generated endpoint function runs on a 2xx body
        with parsing(response):
            return model.from_dict(json_body(response))
else:
    from bench.parse import pydantic_models
    adapter = pydantic_models(json.load(open(sys.argv[6])))[model_name]
    parse = lambda: adapter.validate_python(json.loads(payload))
plain = lambda: json.loads(payload)
parse(); plain()
def batch(fn):  # CPU time of this process: the machine is shared, wall time counts other jobs too
    start = time.process_time()
    for _ in range(n):
        fn()
    return time.process_time() - start
plains, parses = [], []
for _ in range(5):
    plains.append(batch(plain))
    parses.append(batch(parse))
print(json.dumps({"plain": min(plains) / n, "parse": min(parses) / n}))
"""


def _resolve(schema: dict, schemas: dict) -> dict:
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example_of(schema: dict, schemas: dict, items: int) -> object:
    """A value of ``schema`` from the spec's property examples, ``items`` entries per array."""
    schema = _resolve(schema, schemas)
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            merged.update(example_of(part, schemas, items))  # type: ignore[arg-type]
        return merged
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return example_of(next(s for s in schema[key] if s.get("type") != "null"), schemas, items)
    if "example" in schema and schema.get("type") not in ("object", "array"):
        return schema["example"]
    kind = schema.get("type", "object")
    kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
    if kind == "object":
        return {name: example_of(prop, schemas, items) for name, prop in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_of(schema.get("items", {}), schemas, items) for _ in range(items)]
    return {"string": "text", "integer": 1, "number": 1.5, "boolean": True}.get(kind)


def payloads(spec: dict) -> dict[str, bytes]:
    schemas = spec["components"]["schemas"]
    detail = example_of(schemas["Invoice"], schemas, ITEMS)
    row = example_of(schemas["InvoicePreview"], schemas, 1)
    page_schema = spec["paths"]["/invoices"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = example_of(page_schema, schemas, 1)
    assert isinstance(page, dict)
    page["data"] = [row] * ROWS
    return {"detail": json.dumps(detail).encode(), "page": json.dumps(page).encode()}


def pydantic_models(spec: dict) -> dict[str, object]:
    """pydantic TypeAdapters for the two bench models, built from the spec's schemas (the reference)."""
    import datetime
    from decimal import Decimal
    from typing import Any, Optional

    import pydantic

    schemas = spec["components"]["schemas"]
    built: dict[str, Any] = {}

    def type_of(schema: dict, name: str) -> Any:
        ref = schema.get("$ref", "").rsplit("/", 1)[-1]
        schema = _resolve(schema, schemas)
        if "allOf" in schema:
            merged = {"type": "object", "properties": {}}
            for part in schema["allOf"]:
                merged["properties"].update(_resolve(part, schemas).get("properties", {}))
            return type_of(merged, ref or name)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                inner = [s for s in schema[key] if s.get("type") != "null"]
                return Optional[type_of(inner[0], name)]  # noqa: UP045 - built at runtime
        kind = schema.get("type", "object")
        nullable = isinstance(kind, list) and "null" in kind
        kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
        if kind == "object" and "properties" in schema:
            key = ref or name
            if key not in built:
                fields = {
                    prop: (type_of(sub, key + prop.capitalize()), None) for prop, sub in schema["properties"].items()
                }
                built[key] = pydantic.create_model(key, **fields)  # type: ignore[call-overload]
            result = built[key]
        elif kind == "array":
            result = list[type_of(schema.get("items", {}), name)]  # type: ignore[misc]
        elif kind == "string":
            fmt = schema.get("format")
            result = {"date": datetime.date, "date-time": datetime.datetime}.get(fmt, str)
        else:
            result = {"integer": int, "number": Decimal, "boolean": bool}.get(kind, Any)
        return Optional[result] if nullable else result  # noqa: UP045

    page_schema = spec["paths"]["/invoices"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return {
        "Invoice": pydantic.TypeAdapter(type_of(schemas["Invoice"], "Invoice")),
        "ListInvoicesResponse200": pydantic.TypeAdapter(type_of(page_schema, "ListInvoicesResponse200")),
    }


def _pydantic_available() -> bool:
    try:
        import pydantic  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    spec, _digest = load_vendored()
    # BENCH_BEFORE=<a generated checkout of another commit> adds its models as variant "before".
    before = os.environ.get("BENCH_BEFORE")
    variants = ["ours"] + (["before"] if before else []) + (["pydantic"] if _pydantic_available() else [])
    bytecode = any((ROOT / "fintoro_api" / "models" / "__pycache__").glob("*.pyc"))
    with tempfile.TemporaryDirectory(prefix="fintoro-bench-parse-") as tmp:
        files, sizes = {}, {}
        for label, data in payloads(spec).items():
            sizes[label] = len(data)
            files[label] = Path(tmp) / f"{label}.json"
            files[label].write_bytes(data)
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        ratios: dict[tuple[str, str], list[float]] = {}
        costs: dict[tuple[str, str], list[float]] = {}
        for _ in range(ROUNDS):
            for label, (model, n) in PAYLOADS.items():
                for variant in variants:
                    root, mode = (before, "ours") if variant == "before" else (str(ROOT), variant)
                    command = [sys.executable, "-c", TIMER, str(root), mode, model, str(files[label]), str(n)]
                    if variant == "pydantic":
                        command.append(str(spec_file))
                    out = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
                    ratios.setdefault((label, variant), []).append(out["parse"] / out["plain"])
                    costs.setdefault((label, variant), []).append(out["parse"])
    print(f"parse cost / json.loads of the same bytes; {ROUNDS} interleaved rounds, each variant in a fresh process")
    no_pyc = os.environ.get("PYTHONDONTWRITEBYTECODE", "")
    print(f"(.pyc files for fintoro_api.models present: {bytecode}; PYTHONDONTWRITEBYTECODE={no_pyc!r})")
    worst = 0.0
    for label, (model, _n) in PAYLOADS.items():
        print(f"{label}: {model}, {sizes[label]} bytes")
        for variant in variants:
            r = ratios[(label, variant)]
            per_call = statistics.median(costs[(label, variant)]) * 1e6
            print(
                f"  {variant:8} median {statistics.median(r):.2f}x json.loads "
                f"(range {min(r):.2f}-{max(r):.2f}), {per_call:.0f} us per parse"
            )
        worst = max(worst, statistics.median(ratios[(label, "ours")]))
    print(f"ours, worst median: {worst:.2f}x (target <= {TARGET}) {'OK' if worst <= TARGET else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
