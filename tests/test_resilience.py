"""Issue: resilience. Retries that never duplicate a write, idempotency keys, pacing, pagination."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import pytest
import respx

from fintoro_api import (
    APIConnectionError,
    FintoroClient,
    InMemoryRateLimiter,
    NoRateLimit,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
)
from fintoro_api._spec_index import OPERATIONS
from fintoro_api.api.orders import create_order
from fintoro_api.models import BankAccountCreateInput, ClientCreateInput, InvoiceInput, OrderInput
from fintoro_api.testing import FakeFintoro, rate_limit_storm

from .support.rawhttp import Reply, Request, raw_server
from .support.spec_data import HTTP_METHODS, MANUAL_ITEM, SpecData, example_body, vendored_spec

ORDER = {"clientId": 101, "items": [{"quantity": 1, "priceListItemId": 5}]}
ORDER_RESPONSE = {"id": 1, "number": "OBJ-1"}


class CommitThenFail:
    """Stores every create (deduplicated by Idempotency-Key like Fintoro), then fails 30% of first attempts."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.stored: dict[str, bytes] = {}  # idempotency key -> payload
        self.attempts = 0
        self.failures = {"503": 0, "drop": 0}

    async def __call__(self, request: Request) -> Reply:
        self.attempts += 1
        key = request.headers.get("idempotency-key")
        if key is None:
            return Reply(400, body=b'{"message":"this test server wants keys"}')
        first = key not in self.stored
        if first:
            self.stored[key] = request.body
        elif self.stored[key] != request.body:
            return Reply(422, body=b'{"error":"Idempotency-Key reused with different request payload"}')
        status = "Original" if first else "Repeated"
        if first and self.rng.random() < 0.30:
            if self.rng.random() < 0.5:
                self.failures["503"] += 1
                return Reply(503, {"Content-Type": "application/json"}, b'{"message":"Service Unavailable"}')
            self.failures["drop"] += 1
            return Reply(drop_before_response=True)
        body = json.dumps({**ORDER_RESPONSE, "id": list(self.stored).index(key) + 1}).encode()
        return Reply(201, {"Content-Type": "application/json", "Idempotency-Status": status}, body)


async def test_500_creates_with_drops_after_commit_store_exactly_500() -> None:
    server = CommitThenFail()
    async with raw_server(server) as url:
        # Fast backoff: the behaviour under test is what is resent, not how long we wait.
        fast = RetryPolicy(max_retries=5, initial_delay=0.001, max_delay=0.01)
        async with FintoroClient("t", base_url=url, rate_limiter=NoRateLimit(), retry=fast) as client:
            semaphore = asyncio.Semaphore(20)

            async def create(n: int) -> Any:
                async with semaphore:
                    return await create_order.asyncio_detailed(client=client, body=OrderInput.from_dict(ORDER))

            results = await asyncio.gather(*(create(n) for n in range(500)))
    assert len(server.stored) == 500, "exactly 500 stored: no duplicate, none lost"
    assert all(r.status_code == 201 for r in results)
    assert len({r.idempotency_key for r in results}) == 500
    assert server.failures["503"] > 30 and server.failures["drop"] > 30, server.failures
    # Only first attempts fail, so every failure is followed by exactly one replay the server recognised.
    repeated = sum(1 for r in results if r.idempotency_status == "Repeated")
    assert repeated == server.failures["503"] + server.failures["drop"] == server.attempts - 500


async def test_a_dropped_create_without_idempotency_support_is_not_resent() -> None:
    seen: list[Request] = []

    async def drop(request: Request) -> Reply:
        seen.append(request)
        return Reply(drop_before_response=True)

    async with raw_server(drop) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        body = BankAccountCreateInput.from_dict({"name": "Main", "iban": "SK00", "swift": "TATRSKBX"})
        with pytest.raises(APIConnectionError) as caught:
            await client.bank_accounts.create(body=body)
    assert len(seen) == 1, "POST /bank-accounts declares no Idempotency-Key: never resent after an ambiguous failure"
    assert "idempotency-key" not in seen[0].headers
    assert caught.value.request is not None


async def test_idempotent_get_is_retried_after_a_drop() -> None:
    seen: list[Request] = []

    async def flaky(request: Request) -> Reply:
        seen.append(request)
        if len(seen) < 3:
            return Reply(drop_before_response=True)
        countries = b'{"data": [{"id": 1, "name": "Slovakia", "code": "SK"}]}'
        return Reply(200, {"Content-Type": "application/json"}, countries)

    async with raw_server(flaky) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        assert (await client.countries.list()).data[0].code == "SK"
    assert len(seen) == 3


async def test_retry_after_is_honoured_and_a_long_one_raises_at_once() -> None:
    # How long is waited is RetryPolicy.next_delay's job (test_pipeline_units.py::test_next_delay);
    # here: a short Retry-After is waited out and resent, a long one raises without another request.
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with FintoroClient(token, transport=fake.transport(), rate_limiter=NoRateLimit()) as client:
        fake.inject("listInvoices", rate_limit_storm(1, retry_after=1))
        assert (await client.invoices.list()).data == []
        fake.inject("listInvoices", rate_limit_storm(1, retry_after=3600))
        with pytest.raises(RateLimitError) as caught:
            await client.invoices.list()
        assert caught.value.retry_after == 3600
    statuses = [status for _, _, status in fake.requests]
    assert statuses == [429, 200, 429], "the hour-long Retry-After is not slept through"


@respx.mock
async def test_503_is_retried_max_retries_times_and_zero_disables() -> None:
    route = respx.get("https://api.test/countries").respond(503, json={"message": "Service Unavailable"})
    fast = RetryPolicy(max_retries=2, initial_delay=0.001)
    async with FintoroClient("t", base_url="https://api.test", rate_limiter=NoRateLimit(), retry=fast) as client:
        with pytest.raises(ServiceUnavailableError):
            await client.countries.list()
        assert route.call_count == 3
        with pytest.raises(ServiceUnavailableError):
            await client.with_options(max_retries=0).countries.list()
        assert route.call_count == 4


def test_backoff_grows_exponentially_with_jitter_and_caps() -> None:
    policy = RetryPolicy()
    delays = [policy.backoff(n) for n in range(8)]
    assert 0.375 <= delays[0] <= 0.5 and 0.75 <= delays[1] <= 1.0 and 1.5 <= delays[2] <= 2.0
    assert all(d <= 8.0 for d in delays) and delays[7] >= 6.0


def test_bad_settings_are_rejected_before_any_request() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="positive integer"):
        InMemoryRateLimiter(limit=0)
    with pytest.raises(ValueError, match="window"):
        InMemoryRateLimiter(limit=10, window=0)
    with pytest.raises(ValueError, match="max_retries"):
        FintoroClient("t").with_options(max_retries=-2)


async def test_paced_bulk_job_gets_no_429() -> None:
    # The fake enforces a fixed window per company (starting at its first request): any phase must pass.
    fake = FakeFintoro(rate_limit=20, rate_window_s=1.0)
    token = fake.add_company("Acme s.r.o.")
    limiter = InMemoryRateLimiter(limit=20, window=1.0)
    async with FintoroClient(token, transport=fake.transport(), rate_limiter=limiter, max_retries=0) as client:
        semaphore = asyncio.Semaphore(10)

        async def call() -> None:
            async with semaphore:
                await client.invoices.list(per_page=1)

        await asyncio.gather(*(call() for _ in range(100)))
    statuses = [status for _, _, status in fake.requests]
    assert statuses == [200] * 100


async def test_scopes_of_one_company_share_one_budget() -> None:
    limiter = InMemoryRateLimiter(limit=120, window=60.0)
    client = FintoroClient("token-a", company="acme", rate_limiter=limiter)
    assert client.with_token("token-b", company="acme").rate_limit_key == client.rate_limit_key == "acme"
    assert client.with_token("token-c").rate_limit_key != "acme"
    await client.aclose()


# --- pagination -------------------------------------------------------------------------------------


class RecordedTransport(httpx.AsyncBaseTransport):
    """Passes requests on to ``inner``, keeping each URL (to see the page sizes the pager asked for)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.urls: list[httpx.URL] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return await self.inner.handle_async_request(request)


INVOICES_MAX = OPERATIONS["listInvoices"].per_page_max or 0


async def _fake_with_invoices(total: int) -> tuple[FakeFintoro, str, list[int]]:
    """A fake company with ``total`` invoices created through the API; their ids in creation order."""
    fake = FakeFintoro(rate_limit=1_000_000)
    token = fake.add_company("Acme s.r.o.")
    async with FintoroClient(token, transport=fake.transport(), rate_limiter=NoRateLimit()) as client:
        body = example_body("ClientCreateInput")
        customer = await client.clients.create(body=ClientCreateInput.from_dict(body))
        invoice = InvoiceInput.from_dict({"clientId": customer.id, "items": [MANUAL_ITEM]})
        ids = [(await client.invoices.create(body=invoice)).id for _ in range(total)]
    return fake, token, ids


_SEEDED: list[tuple[FakeFintoro, str, list[int]]] = []


async def seeded_invoices() -> tuple[FakeFintoro, str, list[int]]:
    """One shared fake with more invoices than a page holds at the spec's maximum (read-only for the tests)."""
    if not _SEEDED:
        _SEEDED.append(await _fake_with_invoices(INVOICES_MAX + 34))
    return _SEEDED[0]


@pytest.mark.parametrize("per_page", [None, 100])
async def test_pagination_yields_every_item_once_in_order(per_page: int | None) -> None:
    fake, token, created = await seeded_invoices()
    transport = RecordedTransport(fake.transport())
    async with FintoroClient(token, transport=transport, rate_limiter=NoRateLimit()) as client:
        pager = client.invoices.list_all(per_page=per_page, sort_by="number", sort_direction="asc")
        ids = [invoice.id async for invoice in pager]
    assert ids == created
    size = per_page or INVOICES_MAX
    assert len(transport.urls) == -(-len(created) // size) == pager.pages_fetched
    assert pager.total_results == len(created)
    assert {url.params["perPage"] for url in transport.urls} == {str(size)}
    pages = [url.params.get("page", "1") for url in transport.urls]
    assert pages == [str(n) for n in range(1, len(pages) + 1)]


async def test_pagination_cap_and_bad_page_size() -> None:
    fake, token, created = await seeded_invoices()
    transport = RecordedTransport(fake.transport())
    items_max = OPERATIONS["listPriceListItems"].per_page_max
    async with FintoroClient(token, transport=transport, rate_limiter=NoRateLimit()) as client:
        pager = client.invoices.list_all(max_items=7, per_page=5, sort_by="number", sort_direction="asc")
        first = [i.id async for i in pager]
        assert first == created[:7] and len(transport.urls) == 2
        with pytest.raises(ValueError, match=f"1 to {INVOICES_MAX}"):
            client.invoices.list_all(per_page=INVOICES_MAX + 1)
        with pytest.raises(ValueError, match=f"1 to {items_max}"):
            client.price_list_items.list_all(per_page=(items_max or 0) + 1)
        with pytest.raises(ValueError, match=f"1 to {INVOICES_MAX}"):
            await client.invoices.list(per_page=INVOICES_MAX + 1)  # the plain list call is checked too
    assert len(transport.urls) == 2, "no request for a bad page size"


def test_every_paginated_list_has_a_pager_at_its_spec_maximum() -> None:
    client = FintoroClient("t")
    paged = [op for op in OPERATIONS.values() if op.per_page_max]
    assert sorted(op.operation_id for op in paged) == sorted(_paged_in_spec(vendored_spec()))
    for op in paged:
        resource = op.path.strip("/").split("/")[0].replace("-", "_")
        pager = getattr(client, resource).list_all()
        assert pager.per_page == op.per_page_max


def _paged_in_spec(spec: dict[str, Any]) -> list[str]:
    """operationIds whose perPage query parameter declares a maximum."""
    data = SpecData(spec)
    found = []
    for item in spec["paths"].values():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            params = [data.resolve(p) for p in item.get("parameters", []) + operation.get("parameters", [])]
            per_page = next((p for p in params if p["in"] == "query" and p["name"] == "perPage"), None)
            if per_page is not None and "maximum" in data.resolve(per_page.get("schema", {})):
                found.append(operation["operationId"])
    return found


def test_idempotency_key_is_stable_per_business_identity() -> None:
    from fintoro_api import idempotency_key

    assert idempotency_key("invoice-for-order", 4711) == idempotency_key("invoice-for-order", 4711)
    assert idempotency_key("invoice-for-order", 4711) != idempotency_key("invoice-for-order", 4712)
    assert idempotency_key("ab", "c") != idempotency_key("a", "bc")
    with pytest.raises(ValueError, match="at least one"):
        idempotency_key()


@respx.mock
async def test_a_restarted_job_resends_the_same_derived_key() -> None:
    from fintoro_api import idempotency_key

    route = respx.post("https://api.test/orders").respond(
        201, json=ORDER_RESPONSE, headers={"Idempotency-Status": "Repeated"}
    )
    async with FintoroClient("t", base_url="https://api.test", rate_limiter=NoRateLimit()) as client:
        key = idempotency_key("order-from-eshop", 4711)
        detailed = await create_order.asyncio_detailed(
            client=client, body=OrderInput.from_dict(ORDER), idempotency_key=key
        )
    assert route.calls.last.request.headers["idempotency-key"] == key == detailed.idempotency_key
    assert detailed.idempotency_status == "Repeated"
