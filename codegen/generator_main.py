"""Run openapi-python-client with OpenAPI ``number`` typed as ``decimal.Decimal``.

``python codegen/generator_main.py <the generator's own arguments>``, as
``python -m openapi_python_client`` would be run (codegen/generate.py does).

Numbers are money, rates and quantities: Decimal, never float. The generator
decides a property's Python type in its own code (``FloatProperty``), not in
a template; the templates only say how values are built
(overlays/templates/property_templates/float_property.py.jinja calls
``to_decimal`` / ``is_number``). So the type and the imports of that one
property class are set here, before the generator's CLI runs: every
annotation, isinstance check and union it writes then says ``Decimal``, and a
module importing a number property imports what the float template calls (the
generator's ruff post-hook drops what a module does not use). The generator
is pinned (generator-config.yaml), and tests/test_model_fidelity.py checks the
result, so a generator upgrade that renames these attributes fails loudly.
"""

from __future__ import annotations

from openapi_python_client.cli import app
from openapi_python_client.parser.properties.float import FloatProperty

_FLOAT_IMPORTS = FloatProperty.get_imports


def _decimal_imports(self: FloatProperty, *, prefix: str) -> set[str]:
    return _FLOAT_IMPORTS(self, prefix=prefix) | {
        "from decimal import Decimal",
        f"from {prefix}_numbers import is_number, to_decimal",
    }


def type_numbers_as_decimal() -> None:
    """Make the generator's number property a Decimal (in this process only: run as a script, never imported)."""
    FloatProperty._type_string = "Decimal"
    FloatProperty._json_type_string = "Decimal"
    FloatProperty.get_imports = _decimal_imports  # type: ignore[method-assign,assignment]


if __name__ == "__main__":
    type_numbers_as_decimal()
    app()
