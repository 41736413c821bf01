"""Parse cost of an invoice detail, as a ratio to plain json.loads of the same bytes: before and after.

"Before" is the plain generator's models (float numbers, StrEnum, unions that
swallow parse errors) decoded with json.loads; "after" is this package
(Decimal numbers decoded exactly, forward-compatible enums, strict unions).
Both packages are generated in this run from the vendored spec; each is
timed in its own interpreter alongside json.loads of the same payload.
Target (issue "Model fidelity"): after/before <= 1.5.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codegen.generate import TEMPLATE_DIR, generate  # noqa: E402
from codegen.spec import load_vendored  # noqa: E402

ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "3000"))
ITEMS = 20
PLAIN_TEMPLATES = ("endpoint_module.py.jinja", "models_init.py.jinja", "types.py.jinja")

TIMER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from fintoro_api.models.invoice import Invoice
from fintoro_api import _json
loads = _json.loads if sys.argv[2] == "after" else json.loads
payload = open(sys.argv[3], "rb").read()
n = int(sys.argv[4])
Invoice.from_dict(loads(payload))
def best(fn):
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append(time.perf_counter() - start)
    return min(times)
plain = best(lambda: json.loads(payload))
parse = best(lambda: Invoice.from_dict(loads(payload)))
print(json.dumps({"plain": plain, "parse": parse}))
"""


def invoice_payload(spec: dict) -> bytes:
    """A full invoice detail from the spec's property examples, with ITEMS line items."""
    schemas = spec["components"]["schemas"]

    def build(schema: dict) -> object:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        if "allOf" in schema:
            merged: dict = {}
            for part in schema["allOf"]:
                merged.update(build(part))  # type: ignore[arg-type]
            return merged
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return build(next(s for s in schema[key] if s.get("type") != "null"))
        if "example" in schema and schema.get("type") not in ("object", "array"):
            return schema["example"]
        kind = schema.get("type", "object")
        kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
        if kind == "object":
            return {name: build(prop) for name, prop in schema.get("properties", {}).items()}
        if kind == "array":
            return [build(schema.get("items", {})) for _ in range(ITEMS)]
        return {"string": "text", "integer": 1, "number": 1.5, "boolean": True}.get(kind)

    return json.dumps(build(schemas["Invoice"])).encode()


def main() -> None:
    spec, digest = load_vendored()
    with tempfile.TemporaryDirectory(prefix="fintoro-bench-parse-") as tmp:
        plain_templates = Path(tmp) / "templates"
        plain_templates.mkdir()
        for name in PLAIN_TEMPLATES:
            shutil.copy(TEMPLATE_DIR / name, plain_templates / name)
        before = Path(tmp) / "before" / "fintoro_api"
        generate(spec, digest, package_dir=before, template_dir=plain_templates, exact_numbers=False)
        for module in (ROOT / "fintoro_api").glob("_*.py"):
            if not (before / module.name).exists():
                shutil.copy(module, before / module.name)
        shutil.copy(ROOT / "fintoro_api" / "__init__.py", before / "__init__.py")
        payload = Path(tmp) / "invoice.json"
        payload.write_bytes(invoice_payload(spec))
        results = {}
        for label, path in (("before", before.parent), ("after", ROOT)):
            out = subprocess.run(
                [sys.executable, "-c", TIMER, str(path), label, str(payload), str(ITERATIONS)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[label] = json.loads(out)
    size = len(invoice_payload(spec))
    print(f"invoice detail with {ITEMS} items ({size} bytes), best of 5 x {ITERATIONS} parses")
    for label in ("before", "after"):
        r = results[label]
        print(
            f"  {label:6}: {r['parse'] / ITERATIONS * 1e6:7.1f} us per parse"
            f" = {r['parse'] / r['plain']:.2f}x json.loads"
        )
    ratio = (results["after"]["parse"] / results["after"]["plain"]) / (
        results["before"]["parse"] / results["before"]["plain"]
    )
    print(f"after/before: {ratio:.2f}x (target <= 1.5) {'OK' if ratio <= 1.5 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
