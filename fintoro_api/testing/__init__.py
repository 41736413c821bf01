"""fintoro_api.testing: a stateful, spec-driven fake of the Fintoro API for your integration's own tests.

>>> from fintoro_api.testing import FakeFintoro
>>> fake = FakeFintoro()
>>> token = fake.add_company("Acme s.r.o.")
>>> async with FintoroClient(token, transport=fake.transport()) as fintoro: ...

Or over HTTP for the rest of your stack: ``python -m fintoro_api.testing --port 0``.
Needs nothing beyond fintoro-api itself in process (uvicorn for the HTTP server).
"""

from ._clock import Clock, FakeClock, SystemClock
from ._fake import FakeFintoro
from ._faults import Fault, drop_connection, latency, rate_limit_storm, server_error
from ._handlers import Event
from ._webhooks import BACKOFF_S, MAX_ATTEMPTS, Attempt, Delivery

__all__ = [
    "BACKOFF_S",
    "MAX_ATTEMPTS",
    "Attempt",
    "Clock",
    "Delivery",
    "Event",
    "FakeClock",
    "FakeFintoro",
    "Fault",
    "SystemClock",
    "drop_connection",
    "latency",
    "rate_limit_storm",
    "server_error",
]
