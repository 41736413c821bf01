"""FakeFintoro: a stateful, spec-driven Fintoro for your own tests, in process or over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._app import FakeApp
from ._clock import Clock, SystemClock
from ._faults import Fault, Faults
from ._handlers import Event, Handlers
from ._replay import ReplayStore
from ._spec import parse_spec_data, spec_data
from ._store import Company, Scope, Store
from ._throttle import LIMIT, WINDOW_S, WindowLimiter
from ._transport import FakeTransport
from ._webhooks import ASGIApp, Delivery, Dispatcher, Resolver


class FakeFintoro:
    """Fintoro as documented, in memory: per-company state, validation, idempotency, rate limit, webhooks, faults.

    >>> fake = FakeFintoro()
    >>> token = fake.add_company("Acme s.r.o.")
    >>> async with FintoroClient(token, transport=fake.transport()) as fintoro: ...

    ``clock`` drives the rate-limit window and webhook retries (pass a
    ``FakeClock`` and move it: nothing sleeps). ``resolver`` resolves receiver
    hosts for the webhook URL rules (default: DNS; hosts registered with
    ``receive_webhooks`` count as public). ``receiver_rules=False`` accepts any
    http(s) receiver URL, e.g. a receiver on localhost (Fintoro itself never does).
    ``spec`` serves another spec than the bundled one: the data the repository's
    ``codegen.fakedata.fake_spec(raw_spec)`` builds (what ``make generate`` writes to _fake_spec.json).
    Operations the fake has no handler for answer statelessly from their success response
    schema, flagged with the header ``X-Fake-Stateless: 1`` and a one-time warning.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rate_limit: int = LIMIT,
        rate_window_s: float = WINDOW_S,
        resolver: Resolver | None = None,
        receiver_rules: bool = True,
        spec: Mapping[str, Any] | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.store = Store()
        self.dispatcher = Dispatcher(self.clock, resolver, receiver_rules=receiver_rules)
        self.faults = Faults()
        spec_ = spec_data() if spec is None else parse_spec_data(spec)
        self._operation_ids = frozenset(route.operation_id for route in spec_.routes)
        self._collections = frozenset(route.collection for route in spec_.routes)
        self._handlers = Handlers(spec_, self.dispatcher, self.store.next_id, self.clock.now)
        self.app = FakeApp(
            spec_,
            self.store,
            self._handlers,
            WindowLimiter(self.clock, rate_limit, rate_window_s),
            self.faults,
            ReplayStore(),
        )

    # --- companies and tokens -------------------------------------------------------

    def add_company(self, name: str, *, token: str | None = None) -> str:
        """Create a company (sandboxes are companies too); return a write-scoped bearer token for it."""
        return self.store.issue_token(self.store.add_company(name), "write", token)

    def add_token(self, token_of_company: str, *, scope: Scope = "read", token: str | None = None) -> str:
        """Another token of the same company (``read`` tokens cannot write: 403); they share the rate limit."""
        return self.store.issue_token(self.store.company_of(token_of_company), scope, token)

    def revoke(self, token: str) -> None:
        """Revoke a token: its next request gets 401."""
        self.store.revoke(token)

    def company(self, token: str) -> Company:
        return self.store.company_of(token)

    def records(self, token: str, collection: str) -> list[dict[str, Any]]:
        """What the company of ``token`` has stored in ``collection`` (e.g. "orders"), oldest first."""
        if collection not in self._collections:  # a typo must not read as "nothing stored"
            raise ValueError(f"no collection {collection!r} in the API (the path's first segment, e.g. 'orders')")
        return list(self.company(token).collection(collection).values())

    # --- transports ---------------------------------------------------------------

    def transport(self) -> FakeTransport:
        """An httpx transport into this fake, for ``FintoroClient(token, transport=...)``."""
        return FakeTransport(self.app)

    # --- faults -------------------------------------------------------------------

    def inject(self, operation_id: str, fault: Fault) -> None:
        """Make ``operation_id`` (e.g. "createOrder", or "*" for all) fail as ``fault`` says."""
        if operation_id != "*" and operation_id not in self._operation_ids:
            raise ValueError(f"no operation {operation_id!r} in the spec (use an operationId such as 'createOrder')")
        self.faults.add(operation_id, fault)

    # --- webhooks -----------------------------------------------------------------

    def receive_webhooks(self, url: str, app: ASGIApp) -> None:
        """Deliver webhooks for ``url``'s origin to the ASGI ``app`` in process (its host counts as public)."""
        self.dispatcher.register(url, app)

    async def resolve(self, host: str) -> list[str]:
        """The fake's view of DNS for receiver URLs; pass it as ``resolver=`` to create_subscription()."""
        return await self.dispatcher.resolve(host)

    async def deliver_webhooks(self) -> list[Delivery]:
        """Send every delivery due on the clock now (first attempts and retries); return those attempted."""
        return await self.dispatcher.deliver_due()

    @property
    def deliveries(self) -> list[Delivery]:
        """Every queued delivery with its attempts, in the order the events happened."""
        return self.dispatcher.deliveries

    @property
    def events(self) -> list[Event]:
        """Every catalogued event emitted (whether or not a subscription wanted it)."""
        return self._handlers.events

    @property
    def mails(self) -> list[dict[str, Any]]:
        """Document mails accepted by POST /document-mails (nothing is sent)."""
        return self._handlers.mails

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request answered, in order."""
        return self.app.requests

    def __repr__(self) -> str:
        return f"<FakeFintoro companies={len(self.store.companies)}>"


__all__ = ["FakeFintoro"]
