"""Apply OpenAPI Overlay 1.0 documents to a parsed spec.

A small applier on jsonpath-rfc9535 (a strict RFC 9535 implementation).
Existing Python appliers either accept targets that match nothing or pull in a
CLI stack; we need the opposite: an action that matches nothing is an error,
because that is how we notice upstream fixing (or moving) what we patch.

Semantics (Overlay 1.0.0):
- ``remove: true`` removes every node the target selects from its parent.
- ``update`` on an object target is merged recursively (nested objects merge,
  other values replace); on an array target the update value is appended.
- Actions apply in document order; each one sees the result of the previous.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonpath_rfc9535
import yaml

from .errors import CodegenError


def load_overlays(paths: Iterable[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Parse and validate overlay files (sorted by name for a stable order)."""
    docs = []
    for path in sorted(paths):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CodegenError(f"overlay {path.name} is not valid YAML: {exc}") from None
        _validate(path, doc)
        docs.append((path, doc))
    return docs


def _validate(path: Path, doc: Any) -> None:
    if not isinstance(doc, dict) or not str(doc.get("overlay", "")).startswith("1.0"):
        raise CodegenError(f"overlay {path.name}: missing 'overlay: 1.0.x' header")
    actions = doc.get("actions")
    if not isinstance(actions, list) or not actions:
        raise CodegenError(f"overlay {path.name}: 'actions' must be a non-empty list")
    for index, action in enumerate(actions):
        where = f"overlay {path.name} action #{index + 1}"
        if not isinstance(action, dict) or not isinstance(action.get("target"), str):
            raise CodegenError(f"{where}: every action needs a string 'target'")
        reason = action.get("description")
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
            raise CodegenError(f"{where}: every action needs a one-line 'description' (the reason)")
        has_update, remove = "update" in action, action.get("remove", False)
        if remove is not True and not has_update:
            raise CodegenError(f"{where}: needs 'update' or 'remove: true'")
        if remove is True and has_update:
            raise CodegenError(f"{where}: 'update' and 'remove' exclude each other")


def apply_overlays(spec: dict[str, Any], overlays: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """Return a patched deep copy of ``spec``; the input is left untouched."""
    result = copy.deepcopy(spec)
    for path, doc in overlays:
        for index, action in enumerate(doc["actions"]):
            where = f"overlay {path.name} action #{index + 1} (target {action['target']})"
            try:
                nodes = list(jsonpath_rfc9535.find(action["target"], result))
            except jsonpath_rfc9535.JSONPathError as exc:
                raise CodegenError(f"{where}: invalid JSONPath: {exc}") from None
            if not nodes:
                raise CodegenError(f"{where} matches nothing in the spec; upstream may have fixed or moved it")
            if action.get("remove") is True:
                _remove(result, [node.location for node in nodes])
            else:
                for node in nodes:
                    _update(node.value, action["update"], where)
    return result


def _remove(root: Any, locations: list[tuple[str | int, ...]]) -> None:
    # Delete higher array indices first so earlier deletions do not shift later ones.
    for location in sorted(locations, key=_removal_order, reverse=True):
        if not location:
            raise CodegenError("an overlay may not remove the whole document")
        parent = root
        for key in location[:-1]:
            parent = parent[key]
        del parent[location[-1]]


def _removal_order(location: tuple[str | int, ...]) -> tuple[tuple[int, str | int], ...]:
    return tuple((0, key) if isinstance(key, int) else (1, key) for key in location)


def _update(target: Any, update: Any, where: str) -> None:
    if isinstance(target, list):
        target.append(copy.deepcopy(update))
    elif isinstance(target, dict) and isinstance(update, dict):
        _merge(target, update)
    else:
        raise CodegenError(f"{where}: 'update' needs an object or array target, found {type(target).__name__}")


def _merge(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
