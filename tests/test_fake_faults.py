"""Issue 18: fault injection per operation, in process and over real TCP (uvicorn), and the CLI server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from fintoro_api import (
    APIConnectionError,
    APITimeoutError,
    DownloadInterruptedError,
    FintoroClient,
    NoRateLimit,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
)
from fintoro_api.api.bank_accounts import create_bank_account
from fintoro_api.api.orders import create_order
from fintoro_api.models import BankAccountCreateInput, ClientCreateInput, OrderInput
from fintoro_api.testing import FakeFintoro, drop_connection, latency, rate_limit_storm, server_error
from fintoro_api.testing._server import serve

QUICK = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.001)
NONE = RetryPolicy(max_retries=0)
BANK_ACCOUNT = {"name": "Main", "iban": "SK3111000000001234567890", "swift": "TATRSKBX"}


def client(fake: FakeFintoro, token: str, retry: RetryPolicy, **options: Any) -> FintoroClient:
    return FintoroClient(token, transport=fake.transport(), retry=retry, rate_limiter=NoRateLimit(), **options)


async def _order_for_new_client(fintoro: FintoroClient) -> OrderInput:
    buyer = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta"}))
    item = {"name": "x", "unitPrice": 10, "vatRate": 20, "quantity": 1}
    return OrderInput.from_dict({"clientId": buyer.id, "items": [item]})


async def test_a_dropped_connection_after_commit_is_a_transport_error_and_the_write_happened() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    fake.inject("createBankAccount", drop_connection())
    async with client(fake, token, QUICK) as fintoro:
        with pytest.raises(APIConnectionError):  # no Idempotency-Key support: never resent
            await create_bank_account.asyncio(client=fintoro, body=BankAccountCreateInput.from_dict(BANK_ACCOUNT))
    assert len(fake.records(token, "bank-accounts")) == 1  # committed before the drop
    assert [status for method, _, status in fake.requests if method == "POST"] == [201]


async def test_keyed_creates_retried_after_a_drop_or_a_5xx_are_committed_once() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with client(fake, token, QUICK) as fintoro:
        body = await _order_for_new_client(fintoro)
        fake.inject("createOrder", drop_connection())
        fake.inject("createOrder", server_error(503))
        created = await create_order.asyncio_detailed(client=fintoro, body=body)
    assert created.idempotency_status == "Repeated"  # the client's own key, replayed
    assert len(fake.records(token, "orders")) == 1
    assert [status for method, path, status in fake.requests if path.endswith("/orders")] == [201, 503, 201]


async def test_a_5xx_after_commit_without_retries_still_committed() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with client(fake, token, NONE) as fintoro:
        body = await _order_for_new_client(fintoro)
        fake.inject("createOrder", server_error(503))
        with pytest.raises(ServiceUnavailableError) as error:
            await create_order.asyncio(client=fintoro, body=body)
    assert error.value.request_id and len(fake.records(token, "orders")) == 1


async def test_latency_trips_the_clients_timeout_before_anything_is_done() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    fake.inject("listClients", latency(5.0, times=1))
    async with client(fake, token, NONE, timeout=0.05) as fintoro:
        with pytest.raises(APITimeoutError):
            await fintoro.clients.list()
        assert (await fintoro.clients.list()).data == []  # the fault was used up


async def test_a_429_storm_is_survived_by_honouring_retry_after_or_raised() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    fake.inject("*", rate_limit_storm(2, retry_after=0))
    async with client(fake, token, QUICK) as fintoro:
        assert await fintoro.current_company() == "Acme s.r.o."
    assert [status for _, _, status in fake.requests] == [429, 429, 200]
    fake.inject("showWhoami", rate_limit_storm(1, retry_after=7))
    async with client(fake, token, NONE) as fintoro:
        with pytest.raises(RateLimitError) as error:
            await fintoro.whoami.show()
    assert error.value.retry_after == 7 and error.value.remaining == 0


async def test_over_tcp_a_drop_closes_the_connection_mid_response() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    fake.inject("createBankAccount", drop_connection(times=None))
    async with serve(fake) as url:
        async with FintoroClient(token, base_url=url, retry=NONE, rate_limiter=NoRateLimit()) as fintoro:
            assert await fintoro.current_company() == "Acme s.r.o."
            with pytest.raises(APIConnectionError):
                await create_bank_account.asyncio(client=fintoro, body=BankAccountCreateInput.from_dict(BANK_ACCOUNT))
        host, port = url.removeprefix("http://").split("/", 1)[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        payload = json.dumps(BANK_ACCOUNT).encode()
        writer.write(
            b"POST /api/public/v1/bank-accounts HTTP/1.1\r\nHost: fake\r\nAuthorization: Bearer "
            + token.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        await writer.drain()
        received = await asyncio.wait_for(reader.read(), timeout=10)  # until the server closes the socket
        writer.close()
        await writer.wait_closed()
    head, _, partial = received.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    assert head.startswith(b"HTTP/1.1 201") and 0 < len(partial) < length
    assert len(fake.records(token, "bank-accounts")) == 2  # both committed


async def test_python_m_fintoro_api_testing_serves_on_loopback_and_prints_its_url() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fintoro_api.testing", "--port", "0", "--company", "Acme s.r.o.",
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url_line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        token_line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        url = url_line.decode().removeprefix("url: ").strip()
        token = token_line.decode().split(": ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/public/v1")
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            created = await http.post("/clients", json={"name": "Beta"})
            listed = await http.get("/clients")
        assert created.status_code == 201 and [c["name"] for c in listed.json()["data"]] == ["Beta"]
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0


async def test_over_http_the_control_paths_add_companies_inject_faults_and_show_deliveries() -> None:
    fake = FakeFintoro()
    async with serve(fake) as url:
        root = url.split("/api/", 1)[0]
        async with httpx.AsyncClient(base_url=root) as control:
            token = (await control.post("/_fake/companies", json={"name": "Acme s.r.o."})).json()["token"]
            bad = await control.post("/_fake/faults", json={"operationId": "createClient", "kind": "explode"})
            assert bad.status_code == 400 and "explode" in bad.json()["message"]
            injected = await control.post(
                "/_fake/faults", json={"operationId": "createClient", "kind": "error", "status": 503}
            )
            assert injected.status_code == 201
            async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
                failed = await http.post("/clients", json={"name": "Beta"})
                assert failed.status_code == 503 and failed.headers["x-request-id"]
                assert (await http.post("/clients", json={"name": "Gama"})).status_code == 201  # used up
                await control.post("/_fake/faults", json={"operationId": "*", "kind": "rate_limit", "times": 5})
                assert (await http.get("/whoami")).status_code == 429
                assert (await control.delete("/_fake/faults")).status_code == 204
                assert (await http.get("/whoami")).status_code == 200
            assert (await control.get("/_fake/deliveries")).json() == {"data": []}
            assert (await control.post("/_fake/deliveries")).json() == {"data": []}
    assert [c["name"] for c in fake.records(token, "clients")] == ["Beta", "Gama"]  # the 503 came after commit


def test_faults_name_a_real_operation_and_sane_values() -> None:
    fake = FakeFintoro()
    with pytest.raises(ValueError, match="createOrders"):
        fake.inject("createOrders", drop_connection())
    for bad in (
        lambda: server_error(404),
        lambda: latency(-1),
        lambda: latency(float("nan")),
        lambda: rate_limit_storm(0),
    ):
        with pytest.raises(ValueError):
            bad()


@pytest.mark.parametrize("times", [0, -1, 1.5, "2", True])
def test_a_fault_hits_none_or_at_least_one_request(times: Any) -> None:
    # times=0 used to hit one request anyway, and a non-integer broke the next request with a 500.
    for make in (drop_connection, lambda times: server_error(503, times=times), lambda times: latency(0, times=times)):
        with pytest.raises(ValueError, match="times"):
            make(times)


@pytest.mark.parametrize("over", ["process", "tcp"])
async def test_a_drop_on_a_download_is_an_interrupted_download_in_process_as_over_tcp(
    over: str, tmp_path: Path
) -> None:
    # In process the fake used to fail before the status line, so the client retried the GET and the
    # drop never reached the user's download code; over TCP the body is cut and the download stops.
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with client(fake, token, QUICK) as fintoro:
        order = await create_order.asyncio(client=fintoro, body=await _order_for_new_client(fintoro))
    fake.inject("downloadOrderPdf", drop_connection())
    async with contextlib.AsyncExitStack() as stack:
        if over == "process":
            fintoro = client(fake, token, QUICK)
        else:
            url = await stack.enter_async_context(serve(fake))
            fintoro = FintoroClient(token, base_url=url, retry=QUICK, rate_limiter=NoRateLimit())
        await stack.enter_async_context(fintoro)
        with pytest.raises(DownloadInterruptedError):
            await fintoro.orders.save_pdf(order.id, f"{tmp_path}/out/")
        assert list((tmp_path / "out").iterdir()) == []
        assert (await fintoro.orders.save_pdf(order.id, f"{tmp_path}/out/")) > 0  # the fault was used up
    assert [status for _, path, status in fake.requests if path.endswith("/pdf")] == [200, 200]


@pytest.mark.parametrize("token", [123, "two words", "tok\r\nX-Injected: 1", "žeton", ""])
async def test_a_company_token_that_no_client_could_send_is_refused(token: Any) -> None:
    # It used to be stored as given (123, "two words") and every request with it was a 401.
    fake = FakeFintoro()
    async with serve(fake) as url, httpx.AsyncClient(base_url=url.removesuffix("/api/public/v1")) as control:
        answer = await control.post("/_fake/companies", json={"name": "Acme s.r.o.", "token": token})
        if token == "":  # no token given: the fake makes one
            assert answer.status_code == 201 and answer.json()["token"].startswith("fake_")
        else:
            assert answer.status_code == 400 and "token" in answer.json()["message"]
    if token != "":
        with pytest.raises(ValueError, match="token"):
            fake.add_company("Beta s.r.o.", token=token)
