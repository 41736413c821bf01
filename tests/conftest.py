"""Shared fixtures: the vendored spec and small HTTP helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTTP_METHODS = ("get", "put", "post", "patch", "delete")


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    """The vendored (unpatched) spec the package was generated from."""
    return load_yaml(ROOT / "openapi" / "fintoro-openapi.en.yaml")


def spec_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, item[method])
        for path, item in spec["paths"].items()
        for method in HTTP_METHODS
        if method in item
    ]


class RawClient:
    """The least a generated endpoint function needs: an httpx client (no fintoro_api layers)."""

    def __init__(self, base_url: str = "https://api.test/v1") -> None:
        self.http = httpx.AsyncClient(base_url=base_url)

    def get_async_httpx_client(self) -> httpx.AsyncClient:
        return self.http


@pytest.fixture
async def raw_client() -> Any:
    client = RawClient()
    yield client
    await client.http.aclose()
