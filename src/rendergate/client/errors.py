"""The SDK's exceptions: each HTTP refusal is an `ApiError` subclass named by what went wrong,
carrying the API's own message, so callers catch `NotFound` rather than compare statuses."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """The server answered with an error status. `message` is the API's own `msg` (or, for a
    422, the first `detail` entry's); `body` the JSON it sent, if any; `retry_after` the
    seconds its Retry-After header asked for (429, 503, and a 409 still in progress), else
    None; `limit` which of the key's limits a 429 met (its X-Rendergate-Limit), else None."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        body: Any = None,
        retry_after: float | None = None,
        limit: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body
        self.retry_after = retry_after
        self.limit = limit

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r})"


class Unauthorized(ApiError):
    """401: no API key, or one the server does not know (or has revoked)."""


class NotFound(ApiError):
    """404: no such task (another key's task is one too), or no result at that index."""


class Conflict(ApiError):
    """409: the task already finished (cancel), or the same Idempotency-Key is still in
    flight (then with `retry_after`, which the SDK waits out within its retries)."""


class InvalidRequest(ApiError):
    """422: `detail` is the API's list of `{loc, msg, type}`, one per problem."""

    @property
    def detail(self) -> list[dict[str, Any]]:
        found = self.body.get("detail") if isinstance(self.body, dict) else None
        return list(found) if isinstance(found, list) else []


class RateLimited(ApiError):
    """429: over one of the key's limits; `retry_after` says when to come back, `limit`
    which one (rate_per_minute, max_in_flight, daily_tasks, monthly_budget; or share: the
    key holds its share of what every key draws on, such as large uploads or streams)."""


class ServerError(ApiError):
    """5xx: the server (or a proxy before it) failed; retried before it is raised."""


class Unreachable(Exception):
    """No answer from the server at all (refused, reset, timed out), after the retries."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(f"cannot reach {base_url}: {reason}")
        self.base_url = base_url
        self.reason = reason


class InvalidSignature(Exception):
    """A webhook whose signature, headers or age do not verify: answer it 400, act on none
    of it."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    429: RateLimited,
}


def error_from(status: int, body: bytes, headers: Mapping[str, str]) -> ApiError:
    """The exception for one error response, with the API's message."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    limit = headers.get("X-Rendergate-Limit") or None
    return kind(status, _message(data, body), body=data, retry_after=_seconds(headers), limit=limit)


def _message(data: Any, body: bytes) -> str:
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return str(detail[0].get("msg", ""))
        if "msg" in data:
            return str(data["msg"])
    return body.decode("utf-8", "replace").strip()[:200] or "(no message)"


def _seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return None  # absent, or an HTTP date, which rendergate never sends
    return max(seconds, 0.0) if math.isfinite(seconds) else None
