"""The fake's fixed lookups and registry: a small, realistic, fixed dataset (ids never change).

Labels are localised (sk, en) the way Fintoro localises system-owned lookups;
other languages get the English labels.
"""

from __future__ import annotations

from typing import Any

# collection -> rows; a ``name`` given as {"sk": ..., "en": ...} is localised.
LOOKUPS: dict[str, list[dict[str, Any]]] = {
    "countries": [
        {"id": 703, "code": "SK", "eu": True, "name": {"sk": "Slovensko", "en": "Slovakia"}},
        {"id": 203, "code": "CZ", "eu": True, "name": {"sk": "Česko", "en": "Czechia"}},
        {"id": 40, "code": "AT", "eu": True, "name": {"sk": "Rakúsko", "en": "Austria"}},
        {"id": 276, "code": "DE", "eu": True, "name": {"sk": "Nemecko", "en": "Germany"}},
        {"id": 348, "code": "HU", "eu": True, "name": {"sk": "Maďarsko", "en": "Hungary"}},
        {"id": 616, "code": "PL", "eu": True, "name": {"sk": "Poľsko", "en": "Poland"}},
        {"id": 826, "code": "GB", "eu": False, "name": {"sk": "Spojené kráľovstvo", "en": "United Kingdom"}},
        {"id": 840, "code": "US", "eu": False, "name": {"sk": "Spojené štáty", "en": "United States"}},
    ],
    "currencies": [
        {"id": 1, "symbol": "EUR", "mark": "€", "name": {"sk": "Euro", "en": "Euro"}},
        {"id": 2, "symbol": "CZK", "mark": "Kč", "name": {"sk": "Česká koruna", "en": "Czech koruna"}},
        {"id": 3, "symbol": "USD", "mark": "$", "name": {"sk": "Americký dolár", "en": "US dollar"}},
        {"id": 4, "symbol": "HUF", "mark": "Ft", "name": {"sk": "Maďarský forint", "en": "Hungarian forint"}},
    ],
    "languages": [
        {"id": 1, "code": "sk", "name": {"sk": "Slovenčina", "en": "Slovak"}},
        {"id": 2, "code": "en", "name": {"sk": "Angličtina", "en": "English"}},
        {"id": 3, "code": "cs", "name": {"sk": "Čeština", "en": "Czech"}},
        {"id": 4, "code": "de", "name": {"sk": "Nemčina", "en": "German"}},
        {"id": 5, "code": "hu", "name": {"sk": "Maďarčina", "en": "Hungarian"}},
    ],
    "units": [
        {"id": 1, "name": {"sk": "ks", "en": "pcs"}},
        {"id": 2, "name": {"sk": "hod", "en": "h"}},
        {"id": 3, "name": {"sk": "kg", "en": "kg"}},
        {"id": 4, "name": {"sk": "m", "en": "m"}},
        {"id": 5, "name": {"sk": "bal", "en": "pkg"}},
    ],
    "banks": [
        {"id": 11, "name": "Slovenská sporiteľňa", "swift": "GIBASKBX"},
        {"id": 12, "name": "Všeobecná úverová banka", "swift": "SUBASKBX"},
        {"id": 23, "name": "Tatra banka", "swift": "TATRSKBX"},
        {"id": 31, "name": "ČSOB", "swift": "CEKOSKBX"},
        {"id": 75, "name": "mBank", "swift": "BREXSKBX"},
    ],
    "payment-methods": [
        {"id": 1, "name": {"sk": "Bankový prevod", "en": "Bank transfer"}},
        {"id": 2, "name": {"sk": "Hotovosť", "en": "Cash"}},
        {"id": 3, "name": {"sk": "Platobná karta", "en": "Card"}},
        {"id": 4, "name": {"sk": "Dobierka", "en": "Cash on delivery"}},
    ],
    "delivery-methods": [
        {"id": 1, "name": {"sk": "Neuvedené", "en": "Unspecified"}},
        {"id": 2, "name": {"sk": "Osobný odber", "en": "Personal pickup"}},
        {"id": 3, "name": {"sk": "Kuriér", "en": "Courier"}},
        {"id": 4, "name": {"sk": "Pošta", "en": "Post"}},
    ],
    "qr-types": [
        {"id": 1, "name": {"sk": "Negenerovať", "en": "Do not generate"}},
        {"id": 2, "name": {"sk": "PAY by square", "en": "PAY by square"}},
        {"id": 3, "name": {"sk": "QR platba (CZ)", "en": "QR payment (CZ)"}},
    ],
}

# The public company registry behind /subjects (searchable by name, ICO, DIC).
SUBJECTS: list[dict[str, Any]] = [
    {
        "id": 35757442,
        "name": "Acme s.r.o.",
        "legalForm": "company",
        "taxId": "2021371234",
        "vatId": "SK2021371234",
        "street": "Hlavná 1",
        "city": "Bratislava",
        "zip": "81101",
    },
    {
        "id": 36421928,
        "name": "Tatra Logistics a.s.",
        "legalForm": "company",
        "taxId": "2022045678",
        "vatId": "SK2022045678",
        "street": "Priemyselná 12",
        "city": "Košice",
        "zip": "04001",
    },
    {
        "id": 50123456,
        "name": "Ján Novák - Stolárstvo",
        "legalForm": "freelancer",
        "taxId": "1077123456",
        "vatId": None,
        "street": "Dlhá 5",
        "city": "Žilina",
        "zip": "01001",
    },
    {
        "id": 47250011,
        "name": "Danubia Software s.r.o.",
        "legalForm": "company",
        "taxId": "2023987654",
        "vatId": "SK2023987654",
        "street": "Mlynské nivy 4",
        "city": "Bratislava",
        "zip": "82109",
    },
]

# Numerical series every new company starts with, per document type.
SERIES_PREFIX = {"invoice": "FA", "proforma": "ZF", "credit-note": "DO", "order": "OBJ", "quotation": "CP"}


def localised(row: dict[str, Any], language: str) -> dict[str, Any]:
    """``row`` with its localised labels in ``language`` (English for languages without labels)."""
    return {
        key: (value.get(language) or value["en"]) if isinstance(value, dict) and "en" in value else value
        for key, value in row.items()
    }
