"""Issue 18: the fake's webhooks - subscription rules, signed thin events, Fintoro's retry schedule on a fake clock."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from fintoro_api import FintoroClient, NoRateLimit, RetryPolicy, ValidationError
from fintoro_api.models import ClientCreateInput, WebhookSubscriptionInput
from fintoro_api.testing import BACKOFF_S, MAX_ATTEMPTS, FakeClock, FakeFintoro
from fintoro_api.webhooks import (
    Deleted,
    Fetched,
    WebhookSignatureError,
    create_subscription,
    fetch_resource,
    rotate_secret,
    signature_of,
    verify,
    webhook_app,
)

RECEIVER = "https://hooks.example.test/fintoro"


class Recorder:
    """An ASGI receiver that records raw deliveries and answers the statuses it is given, then 204."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        status = self.statuses.pop(0) if self.statuses else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class LibraryReceiver:
    """fintoro_api.webhooks.webhook_app once the secret is known (after ``fails`` 500s first); records events."""

    def __init__(self, fails: int = 0) -> None:
        self.secret = ""
        self.fails = fails
        self.handled: list[Any] = []

    async def handle(self, event: Any) -> None:
        self.handled.append(event)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.fails:
            self.fails -= 1
            await Recorder(500)(scope, receive, send)
            return
        await webhook_app(self.secret, self.handle)(scope, receive, send)


def client(fake: FakeFintoro, token: str) -> FintoroClient:
    return FintoroClient(
        token, transport=fake.transport(), retry=RetryPolicy(max_retries=0), rate_limiter=NoRateLimit()
    )


async def subscribe(fake: FakeFintoro, fintoro: FintoroClient, events: list[str]) -> tuple[int, str]:
    body = WebhookSubscriptionInput.from_dict({"url": RECEIVER, "isActive": True, "subscribedEvents": events})
    created = await create_subscription(fintoro, body, resolver=fake.resolve)
    return created.id, created.plain_text_secret


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.test/fintoro",  # not https
        "https://user:pw@hooks.example.test/fintoro",  # credentials in the URL
        "https://localhost/hook",
        "https://printer.local/hook",
        "https://10.1.2.3/hook",
        "https://127.0.0.1/hook",
        "https://private.example.test/hook",  # resolves to a private address
    ],
)
async def test_receiver_url_rules_are_enforced_at_save_time(url: str) -> None:
    async def resolver(host: str) -> list[str]:
        return ["192.168.1.20"] if host.startswith("private.") else ["93.184.215.14"]

    fake = FakeFintoro(resolver=resolver)
    token = fake.add_company("Acme s.r.o.")
    async with httpx.AsyncClient(transport=fake.transport(), base_url="https://f.test") as http:
        response = await http.post(
            "/webhook-subscriptions",
            json={"url": url, "isActive": True, "subscribedEvents": ["clients.created"]},
            headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
        )
    assert response.status_code == 422 and list(response.json()["errors"]) == ["url"]
    assert fake.records(token, "webhook-subscriptions") == []


async def test_subscription_crud_and_rotate_secret() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    fake.receive_webhooks(RECEIVER, Recorder())
    async with client(fake, token) as fintoro:
        subscription_id, secret = await subscribe(fake, fintoro, ["clients.created"])
        shown = await fintoro.webhook_subscriptions.show(subscription_id)
        assert shown.url == RECEIVER and "plainTextSecret" not in shown.to_dict()  # only create and rotate show it
        new_secret = await rotate_secret(fintoro, subscription_id)
        assert new_secret != secret and new_secret.startswith("whsec_")
        assert [s.id for s in (await fintoro.webhook_subscriptions.list()).data] == [subscription_id]
        with pytest.raises(ValidationError):
            body = WebhookSubscriptionInput.from_dict(
                {"url": "http://x.test", "isActive": True, "subscribedEvents": []}
            )
            await fintoro.webhook_subscriptions.update(subscription_id, body=body)
        await fintoro.webhook_subscriptions.delete(subscription_id)
        assert (await fintoro.webhook_subscriptions.list()).data == []


async def test_each_write_emits_its_catalogued_event_signed_as_fintoro_signs() -> None:
    clock = FakeClock()
    fake = FakeFintoro(clock=clock)
    token = fake.add_company("Acme s.r.o.")
    receiver = Recorder()
    fake.receive_webhooks(RECEIVER, receiver)
    async with client(fake, token) as fintoro:
        _, secret = await subscribe(fake, fintoro, ["clients.created", "clients.updated", "clients.deleted"])
        created = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta"}))
        await fintoro.clients.update(created.id, body=ClientCreateInput.from_dict({"name": "Beta a.s."}))
        await fintoro.suppliers.list()  # a read emits nothing
        await fintoro.clients.delete(created.id)
        await fake.deliver_webhooks()
    assert [json.loads(body)["type"] for _, body in receiver.received] == [
        "clients.created",
        "clients.updated",
        "clients.deleted",
    ]
    for headers, body in receiver.received:
        event = verify(body, headers, secret)  # stamped with the real send time, whatever the fake clock says
        assert event.resource.type == "client" and event.resource.id == created.id
        assert headers["webhook-id"] == event.id and event.occurred_at.timestamp() == clock.now()
        assert headers["webhook-signature"] == signature_of(body, secret)  # hex HMAC-SHA256 of the raw body
    assert all(d.delivered for d in fake.deliveries)


async def test_failed_deliveries_follow_fintoros_retry_schedule_on_the_fake_clock() -> None:
    clock = FakeClock()
    fake = FakeFintoro(clock=clock)
    token = fake.add_company("Acme s.r.o.")
    receiver = Recorder(500, 503)
    fake.receive_webhooks(RECEIVER, receiver)
    async with client(fake, token) as fintoro:
        await subscribe(fake, fintoro, ["clients.created"])
        await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta"}))
    start = clock.now()
    [delivery] = fake.deliveries
    assert len(await fake.deliver_webhooks()) == 1
    clock.advance(BACKOFF_S[0] - 1)
    assert await fake.deliver_webhooks() == []  # not due yet
    clock.advance(1)
    await fake.deliver_webhooks()
    clock.advance(BACKOFF_S[1])
    await fake.deliver_webhooks()
    assert [a.status for a in delivery.attempts] == [500, 503, 204] and delivery.delivered
    assert [a.at - start for a in delivery.attempts] == [0, BACKOFF_S[0], BACKOFF_S[0] + BACKOFF_S[1]]
    assert len({json.loads(body)["id"] for _, body in receiver.received}) == 1  # the same event every time


async def test_a_receiver_that_never_answers_2xx_gets_five_attempts_then_none() -> None:
    clock = FakeClock()
    fake = FakeFintoro(clock=clock)
    token = fake.add_company("Acme s.r.o.")
    fake.receive_webhooks(RECEIVER, Recorder(*[500] * 10))
    async with client(fake, token) as fintoro:
        await subscribe(fake, fintoro, ["clients.created"])
        await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta"}))
    for _ in range(10):
        await fake.deliver_webhooks()
        clock.advance(BACKOFF_S[-1])
    [delivery] = fake.deliveries
    assert len(delivery.attempts) == MAX_ATTEMPTS == 5 and delivery.failed and delivery.next_at is None


async def test_webhook_app_receives_verifies_and_fetches_what_the_event_points_at() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    handled: list[Any] = []

    async def handle(event: Any) -> None:
        handled.append(event)

    secret_box: list[str] = []
    async with client(fake, token) as fintoro:
        body = WebhookSubscriptionInput.from_dict(
            {"url": RECEIVER, "isActive": True, "subscribedEvents": ["clients.created", "clients.deleted"]}
        )
        fake.receive_webhooks(RECEIVER, Recorder())  # registered first so the URL passes the rules
        created = await create_subscription(fintoro, body, resolver=fake.resolve)
        secret_box.append(created.plain_text_secret)
        fake.receive_webhooks(RECEIVER, webhook_app(secret_box[0], handle))
        beta = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta"}))
        await fake.deliver_webhooks()
        fetched = await fetch_resource(handled[0], fintoro)
        assert isinstance(fetched, Fetched) and fetched.resource.name == "Beta"
        await fintoro.clients.delete(beta.id)
        await fake.deliver_webhooks()
        assert isinstance(await fetch_resource(handled[1], fintoro), Deleted)
    assert [e.type for e in handled] == ["clients.created", "clients.deleted"]


async def test_after_rotation_deliveries_are_signed_with_the_new_secret_only() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    receiver = Recorder()
    fake.receive_webhooks(RECEIVER, receiver)
    async with client(fake, token) as fintoro:
        subscription_id, old = await subscribe(fake, fintoro, ["clients.created"])
        new = await rotate_secret(fintoro, subscription_id)
        await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta"}))
        await fake.deliver_webhooks()
    [(headers, body)] = receiver.received
    assert verify(body, headers, [new, old]).type == "clients.created"
    with pytest.raises(WebhookSignatureError):
        verify(body, headers, old)


async def test_over_http_deliveries_reach_a_local_receiver_when_receiver_rules_are_relaxed() -> None:
    from fintoro_api.testing._server import serve

    from .support.asgi import serve as serve_receiver

    fake = FakeFintoro(receiver_rules=False)
    token = fake.add_company("Acme s.r.o.")
    receiver = LibraryReceiver()
    async with (
        serve_receiver(receiver) as receiver_url,
        serve(fake) as url,
        FintoroClient(token, base_url=url, retry=RetryPolicy(max_retries=0)) as fintoro,
    ):
        body = WebhookSubscriptionInput.from_dict(
            {"url": f"{receiver_url}/hooks", "isActive": True, "subscribedEvents": ["clients.created"]}
        )
        created = await fintoro.webhook_subscriptions.create(body=body)
        receiver.secret = created.plain_text_secret
        await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta"}))
        async with asyncio.timeout(10):  # the server sends due deliveries every second by itself
            while not receiver.handled:
                await asyncio.sleep(0.05)
    assert [e.type for e in receiver.handled] == ["clients.created"]
    assert fake.deliveries[0].attempts[0].status == 204


async def test_with_fintoros_rules_a_loopback_receiver_is_refused() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with client(fake, token) as fintoro:
        body = WebhookSubscriptionInput.from_dict(
            {"url": "https://127.0.0.1:8443/hooks", "isActive": True, "subscribedEvents": ["clients.created"]}
        )
        with pytest.raises(ValidationError) as refused:
            await fintoro.webhook_subscriptions.create(body=body)
    assert "url" in refused.value.errors


async def test_concurrent_creates_with_one_idempotency_key_commit_one_subscription() -> None:
    # Creating a subscription awaits the receiver's DNS; requests with the same key arriving meanwhile must
    # wait for the first one and replay it, not each create their own subscription.
    async def slow_public_dns(host: str) -> list[str]:
        await asyncio.sleep(0.01)
        return ["93.184.215.14"]

    fake = FakeFintoro(resolver=slow_public_dns)
    token = fake.add_company("Acme s.r.o.")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "subscribe-once"}
    body = {"url": RECEIVER, "isActive": True, "subscribedEvents": ["clients.created"]}
    base_url = "https://f.test/api/public/v1"
    async with httpx.AsyncClient(transport=fake.transport(), base_url=base_url, headers=headers) as http:
        answers = await asyncio.gather(*(http.post("/webhook-subscriptions", json=body) for _ in range(5)))
    assert [a.status_code for a in answers] == [201] * 5
    assert sorted(a.headers["Idempotency-Status"] for a in answers) == ["Original"] + ["Repeated"] * 4
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(fake.records(token, "webhook-subscriptions")) == 1


class Stuck:
    """An ASGI receiver that never answers its first ``stuck`` requests (it waits forever), then answers 204."""

    def __init__(self, stuck: int) -> None:
        self.stuck = stuck
        self.entered = asyncio.Event()
        self.answered = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.stuck > 0:
            self.stuck -= 1
            self.entered.set()
            await asyncio.Event().wait()
        self.answered += 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def two_due_deliveries(fake: FakeFintoro, receiver: Stuck) -> str:
    token = fake.add_company("Acme s.r.o.")
    fake.receive_webhooks(RECEIVER, receiver)
    async with client(fake, token) as fintoro:
        await subscribe(fake, fintoro, ["clients.created"])
        await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta"}))
        await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Gamma"}))
    return token


async def test_an_in_process_receiver_that_hangs_is_a_timeout_and_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    from fintoro_api.testing import _webhooks

    monkeypatch.setattr(_webhooks, "TIMEOUT_S", 0.05)  # Fintoro's 10 s, shortened so the test does not wait
    clock = FakeClock()
    fake = FakeFintoro(clock=clock)
    await two_due_deliveries(fake, Stuck(1))
    async with asyncio.timeout(30):  # a bound on a hang, not a measurement
        attempted = await fake.deliver_webhooks()
    assert len(attempted) == 2
    first, second = fake.deliveries
    assert (first.attempts[0].status, first.attempts[0].error) == (None, "timeout")
    assert first.next_at == clock.now() + BACKOFF_S[0] and second.delivered
    clock.advance(BACKOFF_S[0])
    await fake.deliver_webhooks()
    assert first.delivered and len(first.attempts) == 2


async def test_cancelled_delivery_run_leaves_what_it_did_not_finish_due() -> None:
    fake = FakeFintoro(clock=FakeClock())
    receiver = Stuck(1)
    await two_due_deliveries(fake, receiver)
    run = asyncio.create_task(fake.deliver_webhooks())
    await receiver.entered.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert all(d.next_at is not None and not d.attempts for d in fake.deliveries)  # nothing lost, nothing counted
    assert len(await fake.deliver_webhooks()) == 2
    assert all(d.delivered for d in fake.deliveries) and receiver.answered == 2


async def test_on_a_fake_clock_the_librarys_own_receiver_accepts_deliveries_and_retries() -> None:
    # webhook_app checks webhook-timestamp against real time (300 s), as a receiver must; a fake clock
    # (2026-01-01, then moved by hours for retries) must not make every delivery a 401.
    clock = FakeClock()
    fake = FakeFintoro(clock=clock)
    token = fake.add_company("Acme s.r.o.")
    receiver = LibraryReceiver(fails=3)  # the receiver's own trouble first, then its real answer
    fake.receive_webhooks(RECEIVER, receiver)
    async with client(fake, token) as fintoro:
        receiver.secret = (await subscribe(fake, fintoro, ["clients.created"]))[1]
        await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta"}))
    await fake.deliver_webhooks()
    for backoff in BACKOFF_S[:3]:
        clock.advance(backoff)
        await fake.deliver_webhooks()
    [delivery] = fake.deliveries
    assert [a.status for a in delivery.attempts] == [500, 500, 500, 204] and len(receiver.handled) == 1


async def test_a_subscription_deleted_while_its_update_awaits_dns_stays_deleted() -> None:
    asked, answer = asyncio.Event(), asyncio.Event()

    async def slow_dns(host: str) -> list[str]:
        if host.startswith("slow."):
            asked.set()
            await answer.wait()
        return ["93.184.215.14"]

    fake = FakeFintoro(resolver=slow_dns)
    token = fake.add_company("Acme s.r.o.")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url="https://f.test/api/public/v1", headers=headers
    ) as http:
        body = {"url": RECEIVER, "isActive": True, "subscribedEvents": ["clients.created"]}
        subscription_id = (await http.post("/webhook-subscriptions", json=body)).json()["id"]
        moved = {**body, "url": "https://slow.example.test/hook"}
        update = asyncio.create_task(http.put(f"/webhook-subscriptions/{subscription_id}", json=moved))
        await asyncio.wait_for(asked.wait(), timeout=10)  # the update is inside the fake, waiting for DNS
        assert (await http.delete(f"/webhook-subscriptions/{subscription_id}")).status_code == 204
        answer.set()
        updated = await update
    assert updated.status_code == 404  # not resurrected by the update that lost the race
    assert fake.records(token, "webhook-subscriptions") == []
