"""fintoro-api quickstart: the first script a new integration runs.

    FINTORO_TOKEN=<a sandbox company's token> python examples/quickstart.py           # read-only steps
    FINTORO_TOKEN=<a sandbox company's token> python examples/quickstart.py --write   # also creates an order

`make demo` runs it (with --write) against fintoro_api.testing's fake Fintoro
served on loopback. Steps: who am I; page through invoices; find or create a
client, create an order with an idempotency key and find it in the order list;
download a PDF to a file; verify a signed webhook delivery and fetch the
resource it points at. Use a sandbox company for --write: it creates a real
client and order.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fintoro_api import DEFAULT_BASE_URL, FintoroClient, FintoroError, idempotency_key
from fintoro_api.api.orders import create_order
from fintoro_api.models import ClientCreateInput, OrderInput
from fintoro_api.types import Unset
from fintoro_api.webhooks import Deleted, Fetched, NoDetailEndpoint, fetch_resource, sign, verify


async def main(write: bool) -> int:
    token = os.environ.get("FINTORO_TOKEN")
    if not token:
        print("Set FINTORO_TOKEN to an API token (Fintoro: Integrations -> API); use a sandbox company.")
        return 2
    base_url = os.environ.get("FINTORO_BASE_URL", DEFAULT_BASE_URL)
    out_dir = Path(os.environ.get("FINTORO_QUICKSTART_DIR", "fintoro-quickstart"))

    async with FintoroClient(token, base_url=base_url, accept_language="en") as fintoro:
        company = await fintoro.current_company()
        print(f"1. The token belongs to {company!r} ({base_url}).")

        pager = fintoro.invoices.list_all(max_items=25)
        invoices = [invoice async for invoice in pager]
        print(
            f"2. Listed {len(invoices)} of {pager.total_results} invoice(s) in {pager.pages_fetched} request(s) "
            f"({pager.per_page} per page)."
        )

        order_id = None
        if write:
            name = "fintoro-api quickstart client"
            found = await fintoro.clients.list(search=name)
            client = next((c for c in found.data or [] if c.name == name), None) if found.data else None
            if client is None:
                client = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": name}))
            order = OrderInput.from_dict(
                {
                    "clientId": client.id,
                    "items": [{"name": "fintoro-api quickstart", "unitPrice": 10, "vatRate": 20, "quantity": 1}],
                }
            )
            # One key per business attempt: rerunning this script replays the same order, not a new one.
            key = idempotency_key("fintoro-api-quickstart-order", company)
            created = await create_order.asyncio_detailed(client=fintoro, body=order, idempotency_key=key)
            order_id = created.parsed.id if isinstance(created.parsed.id, int) else None
            print(
                f"3. Created order {created.parsed.number} for {client.name} "
                f"({created.parsed.total_with_vat} with VAT; "
                f"Idempotency-Key {key}, Idempotency-Status {created.idempotency_status or 'n/a'}, "
                f"request id {created.request_id})."
            )
            orders = [o async for o in fintoro.orders.list_all(client_id=client.id)]
            listed = any(o.id == order_id for o in orders)
            shown = "shows" if listed else "does NOT show"
            print(f"   The order list {shown} it ({len(orders)} order(s) of this client).")
        else:
            print("3. Skipped creating a client and an order (pass --write, with a sandbox company's token).")

        if invoices and isinstance(invoices[0].id, int):
            invoice_id = invoices[0].id
            target = out_dir / f"invoice-{invoice_id}.pdf"
            size = await fintoro.invoices.save_pdf(invoice_id, target)
            print(f"4. Saved invoice {invoice_id} as PDF: {target} ({size} bytes, written atomically).")
        elif order_id is not None:
            invoice_id = None
            target = out_dir / f"order-{order_id}.pdf"
            size = await fintoro.orders.save_pdf(order_id, target)
            print(f"4. Saved order {order_id} as PDF: {target} ({size} bytes, written atomically).")
        else:
            invoice_id = None
            print("4. No invoice to download yet.")

        # What Fintoro POSTs to your receiver; here we sign one ourselves to show verification.
        secret = os.environ.get("FINTORO_WEBHOOK_SECRET", "whsec_quickstart_example")
        body = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "type": "invoices.paid",
                "occurredAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "resource": {"type": "invoice", "id": invoice_id or 301},
            }
        ).encode()
        event = verify(body, sign(body, secret), secret)
        result = await fetch_resource(event, fintoro)
        if isinstance(result, Fetched):
            number = result.resource.number if not isinstance(result.resource.number, Unset) else "?"
            print(f"5. Verified webhook {event.type} ({event.id[:8]}...) and fetched invoice {number}.")
        elif isinstance(result, Deleted | NoDetailEndpoint):
            print(f"5. Verified webhook {event.type}; the resource is not fetchable: {result.reason}.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(write="--write" in sys.argv[1:])))
    except FintoroError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
