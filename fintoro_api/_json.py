"""JSON without binary floats: decode numbers with a fraction as Decimal, encode Decimal exactly.

``json.dumps`` cannot write a Decimal as a JSON number without going through
float, so request bodies are encoded here: Decimals as their exact string
form, everything else by the standard library.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_string = json.JSONEncoder(ensure_ascii=False).encode


def loads(data: bytes | str) -> Any:
    """Parse JSON; ``15.5`` becomes ``Decimal("15.5")`` exactly, integers stay ``int``.

    ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259): Python's parser takes
    them, so they are refused here, wherever they stand (in a field no model reads too).
    """
    return json.loads(data, parse_float=Decimal, parse_constant=_not_json)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact JSON (UTF-8), writing Decimals digit for digit."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts).encode()


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} as a JSON number")
        out.append(str(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot send {value} as a JSON number")
        out.append(float.__repr__(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {type(key).__name__}")
            out.append(_string(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")
