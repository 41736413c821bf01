"""What each operation does to a company's state, and the spec-shaped answer it gives.

Routes are handled by shape: ``GET /c`` lists, ``POST /c`` creates, ``GET /c/{id}``
shows, ``PUT|PATCH /c/{id}`` updates, ``DELETE /c/{id}`` deletes, ``GET /c/{id}/pdf``
downloads; the few operations with their own meaning (whoami, lookups, the
company registry, uploads, document mail, credit notes from an invoice,
secret rotation) have their own handler. Every JSON answer is the stored
record fitted to the operation's response schema, so it validates.
"""

from __future__ import annotations

import inspect
import logging
import math
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import attrs

from ..webhooks import ReceiverURLError
from . import _documents
from ._lookups import LOOKUPS, SERIES_PREFIX, SUBJECTS, localised
from ._reply import Reply
from ._schema import Problem
from ._spec import Route, SpecData
from ._store import Company, Upload
from ._webhooks import Dispatcher, iso

# Body fields that point at another record of the company (Laravel's "exists" rule).
REFERENCES = {
    "clientId": "clients",
    "supplierId": "suppliers",
    "businessCaseId": "business-cases",
    "warehouseId": "warehouses",
    "priceListItemId": "price-list-items",
    "quotationId": "quotations",
}
DOCUMENT_COLLECTIONS = {
    "invoice": "invoices",
    "proforma": "proformas",
    "credit-note": "credit-notes",
    "order": "orders",
    "quotation": "quotations",
}
_log = logging.getLogger("fintoro_api.testing")
STATELESS_HEADER = ("X-Fake-Stateless", "1")  # on answers built from the spec alone (no handler)
_LIST_CONTROLS = {"page", "perPage", "sortBy", "sortDirection", "limit"}
_TEXT_SEARCH = {"search", "searchQuery"}


class Invalid(Exception):
    """A request broke a rule: answered 422 with these problems."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


class Missing(Exception):
    """The record does not exist in this company: 404."""


@attrs.frozen
class Call:
    """One request as a handler sees it."""

    company: Company
    route: Route
    ids: list[str]  # path parameters, in order
    query: dict[str, Any]  # coerced and validated
    body: Any  # parsed JSON, multipart parts, or None
    language: str
    base_url: str  # the API root as the caller addressed it, for URLs in answers


@attrs.frozen
class Event:
    type: str
    collection: str
    id: int


class Handlers:
    def __init__(self, spec: SpecData, dispatcher: Dispatcher, next_id: Callable[[], int], now: Callable[[], float]):
        self.spec = spec
        self.schemas = spec.schemas
        self.dispatcher = dispatcher
        self.next_id = next_id
        self.now = now
        self.events: list[Event] = []
        self._follow_ups: list[tuple[Company, str, str, int]] = []  # events caused by a write, emitted after it
        self.mails: list[dict[str, Any]] = []
        self._warned: set[str] = set()  # operations answered statelessly (warned about once)
        self._special: dict[str, Callable[[Call], Any]] = {
            "showWhoami": self._whoami,
            "searchSubjects": self._search_subjects,
            "showSubject": self._show_subject,
            "uploadContactActivityAttachments": self._upload,
            "sendDocumentMail": self._send_mail,
            "createInvoiceCreditNote": self._credit_note_from_invoice,
            "rotateWebhookSubscriptionSecret": self._rotate_secret,
        }

    # --- dispatch ----------------------------------------------------------------

    async def handle(self, call: Call) -> Reply:
        route = call.route
        special = self._special.get(route.operation_id)
        if special is not None:
            result = special(call)
            result = await result if inspect.isawaitable(result) else result
            return result if isinstance(result, Reply) else self._json(route, result)
        segments = route.segments
        if route.media_type in ("application/pdf", "application/zip"):
            return self._download(call)
        if len(segments) == 2 and not segments[1].startswith("{"):  # /widgets/summary names no record
            return self._stateless(route)
        if len(segments) == 1 and route.method == "GET":
            return self._json(route, self._list(call))
        if len(segments) == 1 and route.method == "POST":
            return self._json(route, await self._create(call, route.collection, call.body))
        if len(segments) == 2 and route.method == "GET":
            return self._json(route, self._record(call.company, route.collection, call.ids[0]))
        if len(segments) == 2 and route.method in ("PUT", "PATCH"):
            return self._json(route, await self._update(call))
        if len(segments) == 2 and route.method == "DELETE":
            self._delete(call)
            return Reply(route.status, None, None)
        return self._stateless(route)

    def _stateless(self, route: Route) -> Reply:
        """An operation the fake has no handler for (new in a spec it was not written for): answered from the
        spec, flagged, and keeping no state. The request was still authenticated, throttled and validated."""
        if route.operation_id not in self._warned:
            self._warned.add(route.operation_id)
            _log.warning(
                "fintoro_api.testing: no handler for %s (%s %s): answering from its response schema, keeping no state",
                route.operation_id,
                route.method,
                route.path,
            )
        body = None if route.schema is None else self.schemas.sample(route.schema)
        problems = [] if route.schema is None else self.schemas.validate(route.schema, body)
        if problems:  # the 500 names the operation; the fake's own bug, not the caller's
            raise ValueError(f"{route.operation_id}: no valid sample of its response schema ({problems[0]})")
        return Reply(route.status, body, route.media_type if body is not None else None, (STATELESS_HEADER,))

    def _json(self, route: Route, value: Any) -> Reply:
        if route.schema is None:
            return Reply(route.status, None, None)
        return Reply(route.status, self.schemas.fit(route.schema, value))

    # --- records -----------------------------------------------------------------

    def _record(self, company: Company, collection: str, raw_id: str | int) -> dict[str, Any]:
        if collection in LOOKUPS or collection == "numerical-series":
            rows = self._fixed_rows(company, collection, "en")
            found = next((r for r in rows if str(r["id"]) == str(raw_id)), None)
        else:
            try:
                found = company.collection(collection).get(int(raw_id))
            except ValueError:
                found = None
        if found is None:
            raise Missing(collection)
        return found

    def detail_schema(self, collection: str) -> dict[str, Any]:
        route = next(
            (r for r in self.spec.routes if r.method == "GET" and r.collection == collection and len(r.segments) == 2),
            None,
        )
        schema = route.schema if route is not None else None
        return schema or {"type": "object"}

    async def _create(self, call: Call, collection: str, body: Any, extra: dict[str, Any] | None = None) -> Any:
        company = call.company
        self._check_references(company, body)
        record_id = self.next_id()
        record = await self._derive(call, collection, {**(extra or {}), **body}, {"id": record_id}, created=True)
        company.collection(collection)[record_id] = record
        self._emit(company, f"{collection}.created", collection, record_id)
        while self._follow_ups:
            self._emit(*self._follow_ups.pop(0))
        if collection == "webhook-subscriptions":
            return {**record, "plainTextSecret": company.webhook_secrets[record_id]}
        return record

    async def _update(self, call: Call) -> Any:
        collection = call.route.collection
        existing = self._record(call.company, collection, call.ids[0])
        self._check_references(call.company, call.body)
        record = await self._derive(call, collection, call.body, existing, created=False)
        stored = call.company.collection(collection)
        if int(existing["id"]) not in stored:  # deleted while _derive awaited (receiver DNS): not resurrected
            raise Missing(collection)
        stored[int(existing["id"])] = record
        self._emit(call.company, f"{collection}.updated", collection, int(existing["id"]))
        return record

    def _delete(self, call: Call) -> None:
        collection = call.route.collection
        record = self._record(call.company, collection, call.ids[0])
        del call.company.collection(collection)[int(record["id"])]
        call.company.files.pop(int(record["id"]), None)
        call.company.webhook_secrets.pop(int(record["id"]), None)
        self._emit(call.company, f"{collection}.deleted", collection, int(record["id"]))

    def _emit(self, company: Company, event_type: str, collection: str, record_id: int) -> None:
        if event_type in self.spec.event_types:
            self.events.append(Event(event_type, collection, record_id))
            self.dispatcher.emit(company, event_type, collection, record_id)

    def _check_references(self, company: Company, body: Any) -> None:
        if not isinstance(body, dict):
            return
        problems = []
        for field, value in body.items():
            target = REFERENCES.get(field)
            if target and value is not None and int(value) not in company.collection(target):
                problems.append(Problem((field,), "exists"))
        for index, item in enumerate(body.get("items") or []):
            value = item.get("priceListItemId") if isinstance(item, dict) else None
            if value is not None and int(value) not in company.collection("price-list-items"):
                problems.append(Problem(("items", index, "priceListItemId"), "exists"))
        if problems:
            raise Invalid(problems)

    async def _derive(
        self, call: Call, collection: str, body: dict[str, Any], existing: dict[str, Any], *, created: bool
    ) -> dict[str, Any]:
        """The stored record: the previous one, the request's fields, and what Fintoro computes."""
        company = call.company
        record: dict[str, Any] = {**existing, **body}
        record_id = int(record["id"])
        stamp = iso(self.now())
        record["updatedAt"] = stamp
        if created:
            record["createdAt"] = stamp
            record["uuid"] = str(uuid.uuid4())
        if self._is_document(collection):
            self._document_fields(call, collection, record, created=created)
        if collection == "webhook-subscriptions":
            try:
                await self.dispatcher.check_url(str(record.get("url")))
            except ReceiverURLError as exc:
                raise Invalid([Problem(("url",), "receiver_url", {"reason": str(exc)})]) from None
            record["companyId"] = company.id
            if created:
                company.webhook_secrets[record_id] = _secret()
        if collection == "contact-activity-logs":
            self._attach_uploads(company, record, body.get("attachmentUploadTokens") or [])
        if collection == "document-payments":
            self._payment_fields(call, record)
        for field, target in (("bankId", "banks"), ("currencyId", "currencies"), ("countryId", "countries")):
            row = next((r for r in LOOKUPS[target] if r["id"] == record.get(field)), None)
            if row is not None:
                record[field.removesuffix("Id")] = localised(row, call.language)
        client = company.collection("clients").get(record.get("clientId") or -1)
        if client is not None:
            record["client"] = client
        supplier = company.collection("suppliers").get(record.get("supplierId") or -1)
        if supplier is not None:
            record["supplier"] = supplier
        return self.schemas.fit(self.detail_schema(collection), record)  # type: ignore[no-any-return]

    # --- documents ---------------------------------------------------------------

    def _is_document(self, collection: str) -> bool:
        return any(r.collection == collection and r.media_type == "application/pdf" for r in self.spec.routes)

    def _document_fields(self, call: Call, collection: str, record: dict[str, Any], *, created: bool) -> None:
        company = call.company
        today = datetime.fromtimestamp(self.now(), UTC).date()
        if created and not record.get("number"):
            company.numbers[collection] = company.numbers.get(collection, 0) + 1
            prefix = SERIES_PREFIX.get(collection.rstrip("s").replace("-receipt", ""), collection[:3].upper())
            record["number"] = f"{prefix}{today.year}{company.numbers[collection]:04d}"
        record.setdefault("issueDate", today.isoformat())
        record.setdefault("deliveryDate", record["issueDate"])
        record.setdefault("dueDate", (today + timedelta(days=14)).isoformat())
        record.setdefault("currencyId", 1)
        url = f"{call.base_url}/{collection}/{record['id']}/pdf"
        record["pdfDownloadUrl"] = url
        record["webDokladUrl"] = f"{call.base_url.split('/api/', 1)[0]}/doklad/{record.get('uuid', record['id'])}"
        record["company"] = {"name": company.name}
        total = total_with_vat = Decimal(0)
        items = []
        for item in record.get("items") or []:
            item = dict(item)
            source = company.collection("price-list-items").get(item.get("priceListItemId") or -1, {})
            for field in ("name", "unitPrice", "vatRate", "unitId"):
                if item.get(field) is None and field in source:
                    item[field] = source[field]
            quantity = Decimal(str(item.get("quantity") or 1))
            net = Decimal(str(item.get("unitPrice") or 0)) * quantity
            gross = net * (1 + Decimal(str(item.get("vatRate") or 0)) / 100)
            item.setdefault("id", self.next_id())
            item["total"], item["totalWithVat"] = _money(net), _money(gross)
            total, total_with_vat = total + net, total_with_vat + gross
            items.append(item)
        record["items"] = items
        record["itemsTotal"] = record["total"] = _money(total)
        record["itemsTotalWithVat"] = record["totalWithVat"] = _money(total_with_vat)
        record["hasVat"] = total_with_vat != total
        if created:
            record.setdefault("status", "waiting" if collection == "quotations" else "unpaid")
            record["toBePaid"] = record["totalWithVat"]

    def _payment_fields(self, call: Call, record: dict[str, Any]) -> None:
        collection = DOCUMENT_COLLECTIONS.get(str(record.get("documentType")), "")
        document = call.company.collection(collection).get(int(record.get("documentId") or -1))
        if document is None:
            raise Invalid([Problem(("documentId",), "exists")])
        record.setdefault("paymentDate", datetime.fromtimestamp(self.now(), UTC).date().isoformat())
        record.setdefault("amount", document.get("toBePaid", 0))
        record.setdefault("paymentMethodId", 1)
        row = next(r for r in LOOKUPS["payment-methods"] if r["id"] == record["paymentMethodId"])
        record["paymentMethod"] = localised(row, call.language)
        to_pay = Decimal(str(document.get("toBePaid") or 0)) - Decimal(str(record["amount"]))
        document["toBePaid"] = _money(max(to_pay, Decimal(0)))
        if to_pay <= 0:
            document["status"] = "paid"
            self._follow_ups.append((call.company, f"{collection}.paid", collection, int(document["id"])))
        else:
            document["status"] = "partially_paid"

    def _download(self, call: Call) -> Reply:
        route = call.route
        record = self._record(call.company, route.collection, call.ids[0])
        if route.media_type == "application/zip":
            files = call.company.files.get(int(record["id"]), [])
            return _file(route.status, _documents.zip_of(files), "application/zip", f"attachments-{record['id']}.zip")
        number = str(record.get("number") or record["id"])
        lines = [
            f"{call.company.name}",
            f"{route.collection} {number}",
            f"Issued {record.get('issueDate', '')}",
            *(f"{i.get('quantity', 1)} x {i.get('name', '')}: {i.get('total', '')}" for i in record.get("items", [])),
            f"Total {record.get('totalWithVat', '')}",
        ]
        return _file(route.status, _documents.pdf(lines), "application/pdf", f"{number}.pdf")

    # --- lists -------------------------------------------------------------------

    def _fixed_rows(self, company: Company, collection: str, language: str) -> list[dict[str, Any]]:
        if collection == "numerical-series":
            rows = []
            for offset, (kind, prefix) in enumerate(SERIES_PREFIX.items()):
                plural = DOCUMENT_COLLECTIONS[kind]
                next_number = company.numbers.get(plural, 0) + 1
                year = datetime.fromtimestamp(self.now(), UTC).year
                rows.append(
                    {
                        "id": company.id * 10 + offset,
                        "documentType": kind,
                        "name": f"{prefix} {year}",
                        "isDefault": True,
                        "pattern": f"{prefix}(RRRR)(CCCC)",
                        "nextNumber": next_number,
                        "nextDocumentNumber": f"{prefix}{year}{next_number:04d}",
                        "nextVariableSymbol": int(f"{year}{next_number:04d}"),
                    }
                )
            return rows
        return [localised(row, language) for row in LOOKUPS[collection]]

    def _list(self, call: Call) -> dict[str, Any]:
        route, query = call.route, call.query
        collection = route.collection
        if collection in LOOKUPS or collection == "numerical-series":
            rows = self._fixed_rows(call.company, collection, call.language)
        else:
            rows = list(call.company.collection(collection).values())
        rows = [row for row in rows if _matches(row, query)]
        sort_param = route.query("sortBy")
        if sort_param is not None:
            field = _camel(str(query.get("sortBy") or sort_param["schema"].get("default") or "id"))
            direction = query.get("sortDirection") or (route.query("sortDirection") or {}).get("schema", {}).get(
                "default", "asc"
            )
            rows.sort(key=lambda row: _sort_key(row, field), reverse=direction == "desc")
        if "limit" in query:
            rows = rows[: int(query["limit"])]
        per_page_param = route.query("perPage")
        if per_page_param is None:
            return {"data": rows}
        per_page = int(query.get("perPage") or per_page_param["schema"].get("default", 10))
        page = int(query.get("page") or 1)
        total = len(rows)
        pages = max(1, math.ceil(total / per_page))
        chunk = rows[(page - 1) * per_page : page * per_page]
        return {"data": chunk, "paginator": _paginator(call, page, per_page, pages, total, len(chunk))}

    # --- operations with their own meaning ----------------------------------------

    def _whoami(self, call: Call) -> dict[str, Any]:
        return {"name": call.company.name}

    def _search_subjects(self, call: Call) -> dict[str, Any]:
        needle = str(call.query.get("searchQuery", "")).lower()
        rows = [
            s
            for s in SUBJECTS
            if needle in s["name"].lower() or needle in str(s["id"]) or needle in str(s.get("taxId") or "")
        ]
        if "legalForm" in call.query:
            rows = [s for s in rows if s["legalForm"] == call.query["legalForm"]]
        return {"data": rows[: int(call.query.get("limit", 10))]}

    def _show_subject(self, call: Call) -> dict[str, Any]:
        found = next((s for s in SUBJECTS if str(s["id"]) == call.ids[0]), None)
        if found is None:
            raise Missing("subjects")
        return found

    def _upload(self, call: Call) -> dict[str, Any]:
        parts = [p for p in call.body if p.name in ("files", "files[]") and p.filename is not None]
        if not parts:
            raise Invalid([Problem(("files",), "required")])
        uploads = []
        for part in parts:
            token = secrets.token_hex(20)
            call.company.uploads[token] = Upload(part.filename or "file", part.content_type, part.data)
            uploads.append(
                {"uploadToken": token, "fileName": part.filename, "mimeType": part.content_type, "size": len(part.data)}
            )
        return {"data": uploads}

    def _attach_uploads(self, company: Company, record: dict[str, Any], tokens: list[str]) -> None:
        problems = [
            Problem(("attachmentUploadTokens", i), "exists") for i, t in enumerate(tokens) if t not in company.uploads
        ]
        if problems:
            raise Invalid(problems)
        attachments = list(record.get("attachments") or [])
        files = company.files.setdefault(int(record["id"]), [])
        for token in tokens:
            upload = company.uploads.pop(token)
            attachment_id = self.next_id()
            attachments.append(
                {
                    "id": attachment_id,
                    "name": upload.file_name,
                    "mimeType": upload.mime_type,
                    "url": f"/files/{attachment_id}",
                }
            )
            files.append((upload.file_name, upload.data))
        record["attachments"] = attachments

    def _send_mail(self, call: Call) -> Reply:
        collection = DOCUMENT_COLLECTIONS[call.body["documentType"]]
        if int(call.body["documentId"]) not in call.company.collection(collection):
            raise Invalid([Problem(("documentId",), "exists")])
        self.mails.append({"company": call.company.name, **call.body})
        return Reply(call.route.status, None, None)

    async def _credit_note_from_invoice(self, call: Call) -> Any:
        invoice = self._record(call.company, "invoices", call.ids[0])
        copied: dict[str, Any] = {k: invoice[k] for k in ("clientId", "items", "currencyId") if k in invoice}
        return await self._create(call, "credit-notes", call.body, extra={**copied, "invoiceId": invoice["id"]})

    def _rotate_secret(self, call: Call) -> dict[str, Any]:
        record = self._record(call.company, "webhook-subscriptions", call.ids[0])
        secret = _secret()
        call.company.webhook_secrets[int(record["id"])] = secret  # the old secret stops working at once
        return {**record, "plainTextSecret": secret}


def _secret() -> str:
    return f"whsec_{secrets.token_hex(16)}"


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _sort_key(row: dict[str, Any], field: str) -> tuple[int, Any]:
    # totalWithVatEur: the fake keeps one currency's totals, so it sorts by totalWithVat
    value = row.get(field, row.get(field.removesuffix("Eur"), row.get("id")))
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        return (0, "")
    return (1, value) if isinstance(value, int | float) else (2, str(value).lower())


def _matches(row: dict[str, Any], query: dict[str, Any]) -> bool:
    """Fintoro's simple list filters: text search, equality (status, client, ...), from/to ranges."""
    for name, wanted in query.items():
        if name in _LIST_CONTROLS or wanted is None or name.startswith(("without", "only")):
            continue
        if name in _TEXT_SEARCH:
            haystack = " ".join(str(v) for v in row.values() if isinstance(v, str | int) and not isinstance(v, bool))
            if str(wanted).lower() not in haystack.lower():
                return False
        elif name in ("name", "number"):
            if str(wanted).lower() not in str(row.get(name, "")).lower():
                return False
        elif name.endswith(("From", "To")):
            if not _in_range(row, name, wanted):
                return False
        else:
            field = "status" if name == "paymentStatus" else name
            value = row.get(field)
            if value is None and field.endswith("Id") and isinstance(row.get(field[:-2]), dict):
                value = row[field[:-2]].get("id")
            if str(value).lower() != str(wanted).lower():
                return False
    return True


def _in_range(row: dict[str, Any], name: str, bound: Any) -> bool:
    lower = name.endswith("From")
    field = name.removesuffix("From") if lower else name.removesuffix("To")
    value = row.get({"price": "unitPrice"}.get(field, field))
    if value is None:
        return False
    if isinstance(value, str):
        bound = str(bound)
    try:
        return bool(value >= bound) if lower else bool(value <= bound)
    except TypeError:
        return False


def _paginator(call: Call, page: int, per_page: int, pages: int, total: int, count: int) -> dict[str, Any]:
    base = f"{call.base_url}{call.route.path}"
    others = {k: v for k, v in call.query.items() if k not in ("page", "perPage")}

    def url(number: int) -> str:
        return f"{base}?{urlencode({**others, 'perPage': per_page, 'page': number})}"

    first = (page - 1) * per_page + 1 if count else 0
    return {
        "currentPage": page,
        "perPage": per_page,
        "totalPages": pages,
        "totalResults": total,
        "currentFrom": first,
        "currentTo": first + count - 1 if count else 0,
        "firstPageUrl": url(1),
        "lastPageUrl": url(pages),
        "nextPageUrl": url(page + 1) if page < pages else None,
        "previousPageUrl": url(page - 1) if page > 1 else None,
        "links": [{"url": url(n), "label": str(n), "active": n == page} for n in range(1, pages + 1)],
    }


def _file(status: int, data: bytes, media_type: str, filename: str) -> Reply:
    disposition = f'attachment; filename="{filename}"'
    return Reply(status, data, media_type, (("Content-Disposition", disposition),))
