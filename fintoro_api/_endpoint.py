"""The seam between generated endpoint modules and the hand-written layer.

Generated code (fintoro_api/api/...) imports only these names, so the
templates stay small and every behaviour lives in reviewed, type-checked code.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import httpx

from . import _json
from ._exceptions import APIResponseValidationError, FintoroError, status_error
from ._schema import SchemaMismatch


class RequestSender(Protocol):
    """The part of ``httpx.AsyncClient`` generated functions use (an AsyncClient satisfies it)."""

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response: ...


class EndpointClient(Protocol):
    """What a generated endpoint function needs from ``client=``: something to send requests with.

    FintoroClient (and its scopes) hand out a sender that adds auth, body
    checks, idempotency keys, rate limiting, retries and typed errors.
    """

    def get_async_httpx_client(self) -> RequestSender: ...


def json_body(response: httpx.Response) -> Any:
    """Decode a JSON response body; numbers with a fraction become Decimal, exactly as sent."""
    return _json.loads(response.content)


@contextmanager
def parsing(response: httpx.Response) -> Iterator[None]:
    """Turn a body that does not fit the model into APIResponseValidationError (with request id).

    The cyclic garbage collector is paused while the body is parsed: a 500-row page creates
    thousands of objects that all outlive the parse, and collecting while they are being
    created only walks them again and again (about a sixth of the parse time, bench/parse.py).
    They are collected as usual afterwards. Parsing never awaits, so nothing else runs meanwhile.
    """
    pause = gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    except RecursionError:  # JSON nested thousands deep: no schema of ours is
        raise APIResponseValidationError(response, "JSON nested too deeply") from None
    except (SchemaMismatch, _json.NotJSONNumberError) as exc:  # already name the JSON path: "items[3].vatRate: ..."
        raise APIResponseValidationError(response, str(exc)) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise APIResponseValidationError(response, f"{type(exc).__name__}: {exc}") from exc
    finally:
        if pause:
            gc.enable()


def unexpected_response(response: httpx.Response) -> FintoroError:
    """The error for a status the operation does not declare as success."""
    if response.is_success:
        return APIResponseValidationError(response, f"status {response.status_code} is not declared for this operation")
    return status_error(response)
