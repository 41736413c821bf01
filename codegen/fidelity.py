"""Generation-time rewrite for exact numbers: ``float`` -> ``Decimal`` in the generated code.

openapi-python-client decides the Python type of ``number`` (``float``) in
its own code, not in a template; the templates (overlays/templates/
property_templates/float_property.py.jinja) can only change how values are
built. So after generation this step renames the type in annotations, casts
and isinstance checks of models/ and api/, and adds the imports the float
template's ``to_decimal``/``is_number`` calls need.
"""

from __future__ import annotations

import re
from pathlib import Path

_FLOAT = re.compile(r"(?<![\w.\"'])float(?![\w\"'])")
_FUTURE = "from __future__ import annotations\n"


def decimal_numbers(package: Path) -> list[Path]:
    """Rewrite the generated modules under ``package`` that use numbers; return the ones changed."""
    changed: list[Path] = []
    for module in sorted([*(package / "models").glob("*.py"), *(package / "api").glob("*/*.py")]):
        text = module.read_text(encoding="utf-8")
        new = _FLOAT.sub("Decimal", text)
        dots = "." * (len(module.relative_to(package).parts) - 1)
        imports = []
        if "Decimal" in new and "from decimal import Decimal" not in new:
            imports.append("from decimal import Decimal\n")
        helpers = sorted(name for name in ("is_number", "to_decimal") if f"{name}(" in new)
        if helpers:
            imports.append(f"from {dots}._numbers import {', '.join(helpers)}\n")
        if not imports and new == text:
            continue
        header = "".join(imports)
        new = new.replace(_FUTURE, _FUTURE + "\n" + header, 1) if _FUTURE in new else header + new
        module.write_text(new, encoding="utf-8")
        changed.append(module)
    return changed
