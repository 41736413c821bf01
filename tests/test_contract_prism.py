"""Issue: proof against a spec-driven server. Every operation through FintoroClient against Prism.

Prism validates each request against the pinned spec and reports violations
in the ``sl-violations`` header; its responses (the spec's examples, or random
data in dynamic mode) must parse into the typed models.
"""

from __future__ import annotations

import datetime
import enum
import importlib
import inspect
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fintoro_api import FintoroClient, NoRateLimit
from fintoro_api._spec_index import OPERATIONS
from tools.prism_server import prism

from .conftest import spec_operations
from .support.spec_data import SpecData

MULTIPART_EXCEPTION = {"uploadContactActivityAttachments"}  # Prism 5 cannot validate multipart arrays
DYNAMIC_ROUNDS = 3


@pytest.fixture(scope="session")
def prism_url() -> Iterator[str]:
    with prism() as url:
        yield url


@pytest.fixture(scope="session")
def prism_dynamic_url() -> Iterator[str]:
    with prism(dynamic=True) as url:
        yield url


def _python_name(name: str, signature: inspect.Signature) -> str:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("-", "_")
    for candidate in (snake, snake + "_"):
        if candidate in signature.parameters:
            return candidate
    raise KeyError(f"no parameter for {name} in {signature}")


def _typed(value: Any, annotation: Any) -> Any:
    """Turn a JSON example into what the generated function takes for that parameter."""
    options = [annotation, *getattr(annotation, "__args__", ())]
    for option in options:
        if inspect.isclass(option) and issubclass(option, enum.Enum):
            return option(value)
        if option is datetime.date and isinstance(value, str):
            return datetime.date.fromisoformat(value)
        if option is datetime.datetime and isinstance(value, str):
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if inspect.isclass(option) and hasattr(option, "from_dict") and isinstance(value, dict):
            return option.from_dict(value)
    return value


def build_call(
    spec: dict[str, Any], method: str, path: str, operation: dict[str, Any]
) -> tuple[Any, list[Any], dict[str, Any]]:
    """(generated module, positional args, keyword args) for a valid call of ``operation``."""
    data = SpecData(spec)
    module = importlib.import_module(f"fintoro_api.api.{OPERATIONS[operation['operationId']].module}")
    signature = inspect.signature(module.asyncio)
    params = [data.resolve(p) for p in spec["paths"][path].get("parameters", []) + operation.get("parameters", [])]
    args = [data.parameter_value(p) for p in params if p["in"] == "path"]
    kwargs: dict[str, Any] = {}
    for param in params:
        if param["in"] == "query" and param.get("required"):
            name = _python_name(param["name"], signature)
            kwargs[name] = _typed(data.parameter_value(param), signature.parameters[name].annotation)
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        instance = data.instance(body["schema"])
        kwargs["body"] = _typed(instance, signature.parameters["body"].annotation)
    return module, args, kwargs


class ViolationRecorder:
    def __init__(self) -> None:
        self.violations: list[tuple[str, str, str]] = []
        self.responses = 0

    async def __call__(self, response: httpx.Response) -> None:
        self.responses += 1
        found = response.headers.get("sl-violations")
        if found:
            self.violations.append((response.request.method, response.request.url.path, found))


async def _run_all(spec: dict[str, Any], url: str) -> tuple[int, ViolationRecorder, list[str]]:
    recorder = ViolationRecorder()
    failures: list[str] = []
    covered = 0
    http = httpx.AsyncClient(event_hooks={"response": [recorder]})
    async with (
        http,
        FintoroClient(
            "prism-token", base_url=url, http_client=http, rate_limiter=NoRateLimit(), max_retries=0
        ) as client,
    ):
        for method, path, operation in spec_operations(spec):
            op_id = operation["operationId"]
            if op_id in MULTIPART_EXCEPTION:
                continue
            module, args, kwargs = build_call(spec, method, path, operation)
            try:
                result = await module.asyncio(*args, client=client, **kwargs)
            except Exception as exc:  # every failure is reported below, with its operation
                failures.append(f"{op_id}: {type(exc).__name__}: {exc}")
                continue
            declared_none = inspect.signature(module.asyncio).return_annotation in (None, "None")
            if result is None and not declared_none:
                failures.append(f"{op_id}: no parsed result")
                continue
            covered += 1
    return covered, recorder, failures


async def test_every_operation_passes_prism_validation_and_parses(spec: dict[str, Any], prism_url: str) -> None:
    covered, recorder, failures = await _run_all(spec, prism_url)
    expected = len(spec_operations(spec)) - len(MULTIPART_EXCEPTION)
    print(
        f"\ncontract (static examples): {covered}/{expected} operations, {len(recorder.violations)} request violations"
    )
    assert failures == []
    assert recorder.violations == []
    assert covered == expected > 0


async def test_dynamic_responses_parse_over_several_rounds(spec: dict[str, Any], prism_dynamic_url: str) -> None:
    totals = []
    for _ in range(DYNAMIC_ROUNDS):
        covered, recorder, failures = await _run_all(spec, prism_dynamic_url)
        assert failures == [], failures[:5]
        assert recorder.violations == []
        totals.append(covered)
    print(f"\ncontract (dynamic responses): {DYNAMIC_ROUNDS} rounds x {totals[0]} operations parsed")
    assert totals == [len(spec_operations(spec)) - len(MULTIPART_EXCEPTION)] * DYNAMIC_ROUNDS
