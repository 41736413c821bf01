"""The fake's state: companies, their tokens and everything they created."""

from __future__ import annotations

import itertools
import re
import secrets
from typing import Any, Literal

import attrs

Scope = Literal["read", "write"]

_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # what an Authorization: Bearer header can carry


@attrs.define(eq=False)
class Upload:
    """A CRM attachment uploaded but not yet attached to an activity log."""

    file_name: str
    mime_type: str
    data: bytes


@attrs.define(eq=False)
class Company:
    """One Fintoro company (sandboxes are companies too) and its data."""

    id: int
    name: str
    records: dict[str, dict[int, dict[str, Any]]] = attrs.field(factory=dict)  # collection -> id -> record
    uploads: dict[str, Upload] = attrs.field(factory=dict)  # upload token -> file
    files: dict[int, list[tuple[str, bytes]]] = attrs.field(factory=dict)  # activity log id -> attachments
    webhook_secrets: dict[int, str] = attrs.field(factory=dict)  # subscription id -> plaintext secret
    numbers: dict[str, int] = attrs.field(factory=dict)  # document collection -> last number

    def collection(self, name: str) -> dict[int, dict[str, Any]]:
        return self.records.setdefault(name, {})

    def __repr__(self) -> str:
        return f"Company(id={self.id}, name={self.name!r})"


@attrs.define(eq=False)
class Grant:
    company: Company
    scope: Scope
    revoked: bool = False


class Store:
    """Companies, tokens and one id sequence for everything (ids are unique across companies)."""

    def __init__(self) -> None:
        self.companies: list[Company] = []
        self._grants: dict[str, Grant] = {}
        self._ids = itertools.count(1001)

    def next_id(self) -> int:
        return next(self._ids)

    def add_company(self, name: str) -> Company:
        company = Company(id=self.next_id(), name=name)
        self.companies.append(company)
        return company

    def issue_token(self, company: Company, scope: Scope = "write", token: str | None = None) -> str:
        if scope not in ("read", "write"):
            raise ValueError(f"scope must be 'read' or 'write', not {scope!r}")
        token = token or f"fake_{secrets.token_urlsafe(24)}"
        if not isinstance(token, str) or not _TOKEN68.fullmatch(token):
            raise ValueError(f"a bearer token is letters, digits and -._~+/ (RFC 6750), not {token!r}")
        if token in self._grants:
            raise ValueError("this token is already issued")
        self._grants[token] = Grant(company, scope)
        return token

    def grant(self, token: str) -> Grant | None:
        grant = self._grants.get(token)
        return grant if grant is not None and not grant.revoked else None

    def revoke(self, token: str) -> None:
        grant = self._grants.get(token)
        if grant is None:
            raise KeyError("unknown token")
        grant.revoked = True

    def company_of(self, token: str) -> Company:
        grant = self._grants.get(token)
        if grant is None:
            raise KeyError("unknown token")
        return grant.company
