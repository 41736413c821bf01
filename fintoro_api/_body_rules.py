"""Client-side check of the request-body rules the generator cannot express.

Seven input schemas say "send clientId or client" and "send priceListItemId,
or name + unitPrice + vatRate" as an ``anyOf`` of ``required`` lists. The
overlay removes those anyOfs so the generator can type the bodies; the rules
themselves are extracted into ``_spec_index.BODY_RULES`` at generation time and
checked here before a request is sent, so a bad body fails fast with a message
that names the field, instead of a 422 after a round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._exceptions import RequestValidationError as RequestValidationError  # defined with every other error
from ._spec_index import BODY_LINKS, BODY_RULES


def check_body(schema: str, body: Any) -> None:
    """Raise RequestValidationError naming the first rule ``body`` breaks, if any."""
    problem = _first_problem(schema, body, "body")
    if problem:
        raise RequestValidationError(f"{schema}: {problem}")


def _first_problem(schema: str, value: Any, where: str) -> str | None:
    if not isinstance(value, Mapping):
        return None
    alternatives = BODY_RULES.get(schema)
    if alternatives and not any(all(value.get(f) is not None for f in alt) for alt in alternatives):
        options = " or ".join(" + ".join(alt) for alt in alternatives)
        return f"{where} must include {options}"
    for prop, (target, is_array) in BODY_LINKS.get(schema, {}).items():
        child = value.get(prop)
        if is_array and isinstance(child, list):
            for index, item in enumerate(child):
                problem = _first_problem(target, item, f"{where}.{prop}[{index}]")
                if problem:
                    return problem
        elif not is_array:
            problem = _first_problem(target, child, f"{where}.{prop}")
            if problem:
                return problem
    return None
