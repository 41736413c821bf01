"""Issue 18: the fake keeps per-company state and behaves like Fintoro as documented (fintoro-api-notes)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx
import pypdf
import pytest

from fintoro_api import (
    AuthenticationError,
    FintoroClient,
    IdempotencyConflictError,
    NoRateLimit,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ValidationError,
)
from fintoro_api.api.orders import create_order
from fintoro_api.models import ClientCreateInput, ContactActivityLogCreateInput, InvoiceInput, OrderInput
from fintoro_api.testing import FakeClock, FakeFintoro

FAST = RetryPolicy(max_retries=0)


def client(fake: FakeFintoro, token: str, **options: Any) -> FintoroClient:
    options.setdefault("retry", FAST)
    options.setdefault("rate_limiter", NoRateLimit())
    return FintoroClient(token, transport=fake.transport(), **options)


def raw(fake: FakeFintoro, token: str, language: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"}
    if language:
        headers["Accept-Language"] = language
    return httpx.AsyncClient(
        transport=fake.transport(), base_url="https://app.fintoro.sk/api/public/v1", headers=headers
    )


def order_body(client_id: int, *prices: float) -> OrderInput:
    items = [{"name": f"item {p}", "unitPrice": p, "vatRate": 20, "quantity": 1} for p in prices]
    return OrderInput.from_dict({"clientId": client_id, "items": items})


async def test_creates_persist_and_detail_update_delete_and_list_see_them() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with client(fake, token) as fintoro:
        created = await fintoro.clients.create(
            body=ClientCreateInput.from_dict({"name": "Beta s.r.o.", "city": "Nitra"})
        )
        assert isinstance(created.id, int)
        shown = await fintoro.clients.show(created.id)
        assert (shown.name, shown.city) == ("Beta s.r.o.", "Nitra")
        updated = await fintoro.clients.update(created.id, body=ClientCreateInput.from_dict({"name": "Beta a.s."}))
        assert (updated.name, updated.city) == ("Beta a.s.", "Nitra")
        listed = await fintoro.clients.list()
        assert [c.name for c in listed.data] == ["Beta a.s."]
        await fintoro.clients.delete(created.id)
        with pytest.raises(NotFoundError):
            await fintoro.clients.show(created.id)
        assert (await fintoro.clients.list()).data == []


async def test_an_order_is_computed_from_its_items_and_linked_to_its_client() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with client(fake, token) as fintoro:
        buyer = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta s.r.o."}))
        order = await create_order.asyncio(client=fintoro, body=order_body(buyer.id, 10, 2.5))
        assert (order.number, order.total, order.total_with_vat) == ("OBJ20260001", 12.5, 15.0)
        assert order.client.name == "Beta s.r.o." and order.client_id == buyer.id
        assert order.pdf_download_url == f"https://app.fintoro.sk/api/public/v1/orders/{order.id}/pdf"


async def test_another_companys_token_sees_nothing_of_it() -> None:
    fake = FakeFintoro()
    acme, other = fake.add_company("Acme s.r.o."), fake.add_company("Other s.r.o.")
    async with client(fake, acme) as fintoro:
        buyer = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta s.r.o."}))
        order = await create_order.asyncio(client=fintoro, body=order_body(buyer.id, 10))
        other_client = fintoro.with_token(other)
        for call in (other_client.clients.show(buyer.id), other_client.orders.show(order.id)):
            with pytest.raises(NotFoundError):
                await call
        assert (await other_client.orders.list()).data == []
        with pytest.raises(ValidationError) as refused:  # its clientId is not a client of this company
            await create_order.asyncio(client=other_client, body=order_body(buyer.id, 10))
        assert list(refused.value.errors) == ["clientId"]
        assert await other_client.current_company() == "Other s.r.o."


async def test_lists_paginate_at_the_endpoint_maximum_filter_and_sort() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with client(fake, token) as fintoro:
        beta = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta s.r.o."}))
        gama = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Gama s.r.o."}))
        for index in range(23):
            buyer = beta if index % 2 else gama
            body = InvoiceInput.from_dict(
                {"clientId": buyer.id, "items": [{"name": "x", "unitPrice": index + 1, "vatRate": 0, "quantity": 1}]}
            )
            await fintoro.invoices.create(body=body)
        pager = fintoro.invoices.list_all()
        every = [invoice async for invoice in pager]
        assert (len(every), pager.pages_fetched, pager.per_page) == (23, 1, 500)
        assert len({i.id for i in every}) == 23
        page = await fintoro.invoices.list(per_page=10, page=3)
        assert (len(page.data), page.paginator.total_pages, page.paginator.total_results) == (3, 3, 23)
        assert page.paginator.current_from == 21 and page.paginator.next_page_url is None
        mine = await fintoro.invoices.list(client_id=beta.id, per_page=100)
        assert {i.client_id for i in mine.data} == {beta.id} and len(mine.data) == 11
        numbered = await fintoro.invoices.list(number="FA20260007")
        assert [i.number for i in numbered.data] == ["FA20260007"]
        found = await fintoro.clients.list(search="gama")
        assert [c.name for c in found.data] == ["Gama s.r.o."]
    async with raw(fake, token) as http:
        cheap_first = (
            await http.get("/invoices", params={"sortBy": "totalWithVatEur", "sortDirection": "asc", "perPage": 3})
        ).json()
        assert [i["total"] for i in cheap_first["data"]] == [1, 2, 3]
        unpaid = (await http.get("/invoices", params={"paymentStatus": "unpaid", "perPage": 500})).json()
        paid = (await http.get("/invoices", params={"paymentStatus": "paid"})).json()
        assert len(unpaid["data"]) == 23 and paid["data"] == []
        ranged = (await http.get("/invoices", params={"totalFrom": 5, "totalTo": 7})).json()
        assert sorted(i["total"] for i in ranged["data"]) == [5, 6, 7]
    async with raw(fake, token) as http:
        too_big = await http.get("/invoices", params={"perPage": 501})
    assert too_big.status_code == 422 and "perPage" in too_big.json()["errors"]


@pytest.mark.parametrize(
    ("language", "content_language", "message"),
    [
        ("en", "en", "The name field is required."),
        ("sk", "sk", "Pole name je povinné."),
        ("cs", "cs", "Pole name je povinné."),  # cs falls back to sk messages
        ("de-AT,de;q=0.9", "de", "The name field is required."),  # the rest to en
    ],
)
async def test_validation_is_422_in_fintoros_shape_in_sk_or_en(
    language: str, content_language: str, message: str
) -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with raw(fake, token, language) as http:
        response = await http.post("/clients", json={"email": "not an email"})
    assert response.status_code == 422
    assert response.headers["content-language"] == content_language
    body = response.json()
    assert set(body) == {"message", "errors"} and body["errors"]["name"] == [message]
    assert set(body["errors"]) == {"name", "email"}
    assert fake.records(token, "clients") == []  # nothing was written


async def test_body_rules_are_enforced_and_surface_as_validation_error() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with raw(fake, token, "en") as http:
        response = await http.post("/orders", json={"items": [{"quantity": 1}]})
    errors = response.json()["errors"]
    assert response.status_code == 422
    assert errors["clientId"] == ["The clientId field is required when client is not present."]
    assert "items.0.priceListItemId" in errors


async def test_idempotency_key_replays_the_original_and_rejects_another_payload() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with client(fake, token) as fintoro:
        buyer = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta s.r.o."}))
        first = await create_order.asyncio_detailed(client=fintoro, body=order_body(buyer.id, 10), idempotency_key="k1")
        again = await create_order.asyncio_detailed(client=fintoro, body=order_body(buyer.id, 10), idempotency_key="k1")
        assert (first.idempotency_status, again.idempotency_status) == ("Original", "Repeated")
        assert first.parsed.id == again.parsed.id and first.request_id != again.request_id
        with pytest.raises(IdempotencyConflictError):
            await create_order.asyncio_detailed(client=fintoro, body=order_body(buyer.id, 99), idempotency_key="k1")
    assert len(fake.records(token, "orders")) == 1


async def test_rate_limit_is_per_company_on_an_injectable_clock() -> None:
    clock = FakeClock()
    fake = FakeFintoro(clock=clock)
    token = fake.add_company("Acme s.r.o.")
    reader = fake.add_token(token, scope="read")  # same company: same budget
    other = fake.add_company("Other s.r.o.")
    async with raw(fake, token) as http, raw(fake, reader) as http_reader, raw(fake, other) as http_other:
        remaining = []
        for index in range(120):
            response = await (http if index % 2 else http_reader).get("/whoami")
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
        assert remaining == list(range(119, -1, -1)) and response.headers["x-ratelimit-limit"] == "120"
        limited = await http.get("/whoami")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert int(limited.headers["x-ratelimit-reset"]) == int(clock.now()) + 60
        assert (await http_other.get("/whoami")).status_code == 200
        clock.advance(59)
        assert (await http.get("/whoami")).headers["retry-after"] == "1"
        clock.advance(1)
        assert (await http.get("/whoami")).status_code == 200
    async with client(fake, token, retry=RetryPolicy(max_retries=0)) as fintoro:
        for _ in range(119):
            await fintoro.whoami.show()
        with pytest.raises(RateLimitError) as error:
            await fintoro.whoami.show()
        assert error.value.retry_after == 60 and error.value.request_id


async def test_every_response_carries_a_request_id_even_errors() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with raw(fake, token) as http, raw(fake, "not-a-token") as stranger:
        answers = [await http.get("/whoami"), await http.get("/nowhere"), await stranger.get("/whoami")]
    assert [a.status_code for a in answers] == [200, 404, 401]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(ids) and len(set(ids)) == 3
    assert answers[2].json() == {"message": "Unauthenticated."}
    assert [a.headers["content-language"] for a in answers] == ["sk", "sk", "sk"]  # Fintoro's default language


async def test_read_tokens_cannot_write_and_revoked_tokens_fail_at_once() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    reader = fake.add_token(token, scope="read")
    async with client(fake, reader) as fintoro:
        assert (await fintoro.clients.list()).data == []
        with pytest.raises(PermissionDeniedError):
            await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta"}))
        fake.revoke(reader)
        with pytest.raises(AuthenticationError):
            await fintoro.clients.list()


async def test_pdf_endpoints_return_a_real_pdf_with_a_filename(tmp_path: Any) -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with client(fake, token) as fintoro:
        buyer = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta s.r.o."}))
        order = await create_order.asyncio(client=fintoro, body=order_body(buyer.id, 10))
        async with fintoro.stream(f"/orders/{order.id}/pdf") as download:
            assert download.content_type == "application/pdf" and download.filename == f"{order.number}.pdf"
        size = await fintoro.orders.save_pdf(order.id, tmp_path / "order.pdf")
    reader = pypdf.PdfReader(tmp_path / "order.pdf", strict=True)
    assert size == (tmp_path / "order.pdf").stat().st_size and len(reader.pages) == 1
    assert f"orders {order.number}" in (reader.pages[0].extract_text() or "")


async def test_uploaded_attachments_become_a_contact_logs_attachments(tmp_path: Any) -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with client(fake, token) as fintoro:
        tokens = await fintoro.upload_attachments([b"minutes of the call", b"%PDF-1.4 offer"])
        assert len(tokens) == 2
        body = {"type": "note", "metadata": {"content": "call"}, "attachmentUploadTokens": list(tokens)}
        log = await fintoro.contact_activity_logs.create(body=ContactActivityLogCreateInput.from_dict(body))
        assert len(log.attachments) == 2
        async with fintoro.stream(f"/contact-activity-logs/{log.id}/attachments") as download:
            data = b"".join([chunk async for chunk in download.iter_bytes()])
        with pytest.raises(ValidationError) as reused:  # a token is used once
            await fintoro.contact_activity_logs.create(body=ContactActivityLogCreateInput.from_dict(body))
    assert "attachmentUploadTokens.0" in reused.value.errors
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.read(n) for n in archive.namelist()) == [b"%PDF-1.4 offer", b"minutes of the call"]


async def test_paying_an_invoice_in_full_marks_it_paid() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with raw(fake, token) as http:
        buyer = (await http.post("/clients", json={"name": "Beta"})).json()
        item = {"name": "x", "unitPrice": 100, "vatRate": 20, "quantity": 1}
        invoice = (await http.post("/invoices", json={"clientId": buyer["id"], "items": [item]})).json()
        assert invoice["toBePaid"] == 120
        await http.post(
            "/document-payments", json={"documentType": "invoice", "documentId": invoice["id"], "amount": 20}
        )
        assert (await http.get(f"/invoices/{invoice['id']}")).json()["status"] == "partially_paid"
        await http.post(
            "/document-payments", json={"documentType": "invoice", "documentId": invoice["id"], "amount": 100}
        )
        paid = (await http.get("/invoices", params={"paymentStatus": "paid"})).json()["data"]
    assert [i["id"] for i in paid] == [invoice["id"]]
    assert [e.type for e in fake.events][-2:] == ["document-payments.created", "invoices.paid"]


async def test_status_and_name_filters_and_document_mails() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with raw(fake, token) as http:
        buyer = (await http.post("/clients", json={"name": "Beta"})).json()
        for name in ("Oak table", "Oak chair", "Pine shelf"):
            item = {"name": name, "unitPrice": 10, "vatRate": 20, "unitId": 1}
            assert (await http.post("/price-list-items", json=item)).status_code == 201
        oak = (await http.get("/price-list-items", params={"name": "oak"})).json()["data"]
        assert sorted(i["name"] for i in oak) == ["Oak chair", "Oak table"]
        line = {"name": "x", "unitPrice": 1, "vatRate": 0, "quantity": 1}
        quotation = (await http.post("/quotations", json={"clientId": buyer["id"], "items": [line]})).json()
        waiting = (await http.get("/quotations", params={"status": "waiting"})).json()["data"]
        accepted = (await http.get("/quotations", params={"status": "accepted"})).json()["data"]
        assert [q["id"] for q in waiting] == [quotation["id"]] and accepted == []
        mail = {"documentType": "quotation", "documentId": quotation["id"], "to": ["a@b.test"], "type": "regular"}
        assert (await http.post("/document-mails", json=mail)).status_code == 202
        missing = await http.post("/document-mails", json={**mail, "documentId": quotation["id"] + 1000})
    assert missing.status_code == 422 and list(missing.json()["errors"]) == ["documentId"]
    assert [(m["documentId"], m["to"]) for m in fake.mails] == [(quotation["id"], ["a@b.test"])]


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "Beta \\ud800 s.r.o."}',  # a lone surrogate: valid JSON text, not valid Unicode (PHP refuses it)
        b"[" * 100_000 + b"]" * 100_000,  # nested deeper than any JSON parser follows
        b'{"name": ',  # cut short
    ],
    ids=["lone-surrogate", "deep-nesting", "truncated"],
)
async def test_an_unreadable_json_body_is_no_input_and_the_company_stays_usable(body: bytes) -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with raw(fake, token, "en") as http:
        for key in (None, "create-once"):  # also through the Idempotency-Key fingerprint
            headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
            answer = await http.post("/clients", content=body, headers=headers)
            assert answer.status_code == 422 and answer.json()["errors"] == {"name": ["The name field is required."]}
        assert fake.records(token, "clients") == []
        listed = await http.get("/clients")
    assert listed.status_code == 200 and listed.json()["data"] == []


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 201),
        ("application/json; charset=utf-8", 201),
        ("application/vnd.api+json", 201),
        ("text/plain", 422),  # Laravel reads a body as JSON only when its Content-Type says JSON
        ("application/x-www-form-urlencoded", 422),
        (None, 422),
    ],
)
async def test_a_body_is_json_only_under_a_json_content_type(content_type: str | None, status: int) -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with raw(fake, token, "en") as http:
        request = http.build_request("POST", "/clients", content=b'{"name": "Beta s.r.o."}')
        assert "Content-Type" not in request.headers  # httpx sets none for raw content
        if content_type is not None:
            request.headers["Content-Type"] = content_type
        answer = await http.send(request)
    assert answer.status_code == status
    assert len(fake.records(token, "clients")) == (1 if status == 201 else 0)


async def test_uploaded_file_names_are_reduced_to_their_base_name_as_php_does() -> None:
    # A client-sent name is untrusted: Fintoro (Symfony's UploadedFile) keeps only its last component, so the
    # fake must neither echo a path back nor serve a ZIP whose entries climb out of the extraction directory.
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    names = ["../../etc/passwd", "C:\\Users\\x\\offer.pdf", "/abs/notes.txt"]
    async with client(fake, token) as fintoro:
        tokens = await fintoro.upload_attachments([(name, b"content", None) for name in names])
        uploads = fake.company(token).uploads
        assert sorted(upload.file_name for upload in uploads.values()) == ["notes.txt", "offer.pdf", "passwd"]
        body = {"type": "note", "metadata": {"content": "call"}, "attachmentUploadTokens": list(tokens)}
        log = await fintoro.contact_activity_logs.create(body=ContactActivityLogCreateInput.from_dict(body))
        assert sorted(a.name for a in log.attachments) == ["notes.txt", "offer.pdf", "passwd"]
        async with fintoro.stream(f"/contact-activity-logs/{log.id}/attachments") as download:
            data = b"".join([chunk async for chunk in download.iter_bytes()])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert all("/" not in n and "\\" not in n and ".." not in n for n in archive.namelist())


@pytest.mark.parametrize("collection", ["order", "Orders", "bank_accounts", "webhooks"])
def test_records_of_a_collection_the_api_does_not_have_is_an_error_not_an_empty_list(collection: str) -> None:
    # An empty list for a typo would make "nothing was duplicated" assertions pass without checking anything.
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    with pytest.raises(ValueError, match="orders"):
        fake.records(token, collection)
    assert fake.records(token, "orders") == [] and fake.records(token, "bank-accounts") == []


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_a_fake_clock_only_moves_forward_by_finite_steps(seconds: float) -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="finite"):
        clock.advance(seconds)
    assert clock.now() == FakeClock().now()
    if seconds != -1.0:
        with pytest.raises(ValueError, match="finite"):
            FakeClock(start=seconds)
