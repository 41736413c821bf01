"""The ``fintoro_api`` logger; ``FINTORO_LOG=debug`` (or ``info``) turns it on without code.

One DEBUG line per attempt: method, path (never the query or headers), outcome,
request id, duration and attempt number.
"""

from __future__ import annotations

import logging
import os
import time

import httpx

from ._headers import request_id_of

logger = logging.getLogger("fintoro_api")
_configured = False


def setup_from_env() -> None:
    """Honour FINTORO_LOG once per process: add a stderr handler at the requested level."""
    global _configured
    if _configured:
        return
    _configured = True
    level = os.environ.get("FINTORO_LOG", "").strip().upper()
    if level in ("DEBUG", "INFO"):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)


def log_attempt(request: httpx.Request, outcome: httpx.Response | BaseException, started: float, attempt: int) -> None:
    """Log one attempt's outcome (a status, or an exception's class name only: its text may quote headers)."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    if isinstance(outcome, httpx.Response):
        result, request_id = str(outcome.status_code), request_id_of(outcome.headers)
    else:
        result, request_id = type(outcome).__name__, None
    logger.debug(
        "HTTP %s %s -> %s (request id %s, %.0f ms, attempt %d)",
        request.method,
        request.url.path,
        result,
        request_id or "-",
        (time.monotonic() - started) * 1000,
        attempt,
    )
