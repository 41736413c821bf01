"""Accept-Language as Fintoro reads it, and the fake's messages in Slovak and English.

Any supported tag is echoed in Content-Language; validation messages exist in
sk and en only (cs falls back to sk, every other tag to en).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._schema import Problem

SUPPORTED = (
    "sk",
    "en",
    "cs",
    "de",
    "et",
    "es",
    "fr",
    "hr",
    "hu",
    "it",
    "lt",
    "nl",
    "pl",
    "pt",
    "ro",
    "sr",
    "ru",
    "sl",
    "uk",
)
DEFAULT = "sk"

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "invalid": "The given data was invalid.",
        "required": "The {f} field is required.",
        "required_without": "The {f} field is required when {others} is not present.",
        "type.string": "The {f} field must be a string.",
        "type.integer": "The {f} field must be an integer.",
        "type.number": "The {f} field must be a number.",
        "type.boolean": "The {f} field must be true or false.",
        "type.array": "The {f} field must be an array.",
        "type.object": "The {f} field must be an array.",
        "enum": "The selected {f} is invalid.",
        "exists": "The selected {f} is invalid.",
        "format.date": "The {f} field must be a valid date.",
        "format.date-time": "The {f} field must be a valid date.",
        "format.email": "The {f} field must be a valid email address.",
        "format.uuid": "The {f} field must be a valid UUID.",
        "format": "The {f} field format is invalid.",
        "pattern": "The {f} field format is invalid.",
        "min": "The {f} field must be at least {min}.",
        "max": "The {f} field must not be greater than {max}.",
        "min_length": "The {f} field must be at least {min} characters.",
        "max_length": "The {f} field must not be greater than {max} characters.",
        "min_items": "The {f} field must have at least {min} items.",
        "max_items": "The {f} field must not have more than {max} items.",
        "receiver_url": "The {f} field is not an allowed webhook receiver: {reason}.",
        "unauthenticated": "Unauthenticated.",
        "forbidden": "This action is unauthorized.",
        "not_found": "Resource not found.",
        "too_many": "Too Many Attempts.",
        "server_error": "Server Error.",
        "unavailable": "Service Unavailable.",
    },
    "sk": {
        "invalid": "Zadané údaje nie sú platné.",
        "required": "Pole {f} je povinné.",
        "required_without": "Pole {f} je povinné, ak nie je zadané {others}.",
        "type.string": "Pole {f} musí byť reťazec.",
        "type.integer": "Pole {f} musí byť celé číslo.",
        "type.number": "Pole {f} musí byť číslo.",
        "type.boolean": "Pole {f} musí byť pravda alebo nepravda.",
        "type.array": "Pole {f} musí byť pole.",
        "type.object": "Pole {f} musí byť pole.",
        "enum": "Vybraná hodnota poľa {f} je neplatná.",
        "exists": "Vybraná hodnota poľa {f} je neplatná.",
        "format.date": "Pole {f} musí byť platný dátum.",
        "format.date-time": "Pole {f} musí byť platný dátum.",
        "format.email": "Pole {f} musí byť platná e-mailová adresa.",
        "format.uuid": "Pole {f} musí byť platné UUID.",
        "format": "Formát poľa {f} je neplatný.",
        "pattern": "Formát poľa {f} je neplatný.",
        "min": "Pole {f} musí byť aspoň {min}.",
        "max": "Pole {f} nesmie byť väčšie ako {max}.",
        "min_length": "Pole {f} musí mať aspoň {min} znakov.",
        "max_length": "Pole {f} nesmie mať viac ako {max} znakov.",
        "min_items": "Pole {f} musí mať aspoň {min} položiek.",
        "max_items": "Pole {f} nesmie mať viac ako {max} položiek.",
        "receiver_url": "Pole {f} nie je povolená adresa príjemcu webhookov: {reason}.",
        "unauthenticated": "Unauthenticated.",
        "forbidden": "Na túto akciu nemáte oprávnenie.",
        "not_found": "Záznam sa nenašiel.",
        "too_many": "Príliš veľa požiadaviek.",
        "server_error": "Chyba servera.",
        "unavailable": "Služba je dočasne nedostupná.",
    },
}


def negotiate(header: str | None) -> str:
    """The supported tag Fintoro answers in for an Accept-Language header (highest quality first)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in SUPPORTED and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else DEFAULT


def message_language(language: str) -> str:
    """Validation messages exist in sk and en only: cs falls back to sk, the rest to en."""
    return "sk" if language in ("sk", "cs") else "en"


def text(language: str, key: str, **values: Any) -> str:
    return _TEXTS[message_language(language)][key].format(**values)


def field_name(path: tuple[str | int, ...]) -> str:
    """Laravel's error key: ``items.0.name``."""
    return ".".join(str(part) for part in path)


def problem_message(language: str, problem: Problem) -> str:
    params: Mapping[str, Any] = problem.params
    key = problem.rule
    if key == "type":
        key = f"type.{params['type']}"
    elif key == "format" and f"format.{params['format']}" in _TEXTS["en"]:
        key = f"format.{params['format']}"
    values = {k: (", ".join(v) if k == "others" else v) for k, v in params.items()}
    return text(language, key, f=field_name(problem.path) or "body", **values)


def validation_body(language: str, problems: list[Problem]) -> dict[str, Any]:
    """Fintoro's 422 body: ``message`` + ``errors`` by field."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(field_name(problem.path) or "body", []).append(problem_message(language, problem))
    return {"message": text(language, "invalid"), "errors": errors}
