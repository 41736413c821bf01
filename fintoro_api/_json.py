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


class NotJSONNumberError(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity`` in a body: Python's parser takes them; JSON (RFC 8259) has none.

    ``str()`` names where: ``items[3].vatRate: NaN is not a JSON number``.
    """


def loads(data: bytes | str) -> Any:
    """Parse JSON; ``15.5`` becomes ``Decimal("15.5")`` exactly, integers stay ``int``.

    ``NaN`` and ``Infinity`` are refused wherever they stand, in a field no model
    reads too (``NotJSONNumberError``).
    """
    try:
        return json.loads(data, parse_float=Decimal, parse_constant=_refuse)
    except _Refused:
        pass
    path, constant = _where(json.loads(data, parse_float=Decimal, parse_constant=_Constant)) or ("", "NaN")
    raise NotJSONNumberError(f"{path + ': ' if path else ''}{constant} is not a JSON number")


class _Refused(Exception):
    pass


class _Constant(str):
    """A NaN/Infinity literal as found, only while locating it for the error message."""


def _refuse(constant: str) -> Any:
    raise _Refused


def _where(value: Any, path: str = "") -> tuple[str, str] | None:
    """(JSON path, literal) of the first NaN/Infinity in ``value``."""
    if isinstance(value, _Constant):
        return path, str(value)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _where(item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key)
        if found is not None:
            return found
    return None


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
