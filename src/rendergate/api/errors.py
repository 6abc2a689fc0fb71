"""The one place rendergate's exceptions become HTTP responses.

Validation problems are 422 in FastAPI's own `{detail: [{loc, msg, type}]}` shape (the task API's);
everything else is the `{code, msg, data: null}` envelope. No stack trace ever leaves.

An unexpected error is caught by `CatchAll`, an ASGI layer, rather than by an exception
handler for Exception: Starlette re-raises after such a handler, so the server logged each
error a second time. Here it is logged once, as a bounded traceback (runtime/logs.py),
under the route's template rather than its path, which may hold a webhook token.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rendergate.domain.errors import (
    BatchNotFound,
    FilesExpired,
    InputsUnavailable,
    InputTooLarge,
    InvalidInput,
    InvalidTransition,
    LimitReached,
    PresetExists,
    PresetNotFound,
    RendergateError,
    ReplayPending,
    RequestInProgress,
    ResultLost,
    ResultNotReady,
    ServerBusy,
    ShareExpired,
    ShareNotFound,
    ShareTaken,
    TaskNotFound,
    Unauthorized,
    UnsupportedInput,
)

log = structlog.get_logger(__name__)


def envelope_error(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"code": status, "msg": message, "data": None}, status_code=status, headers=headers
    )


def validation_error(loc: list[str | int], message: str, kind: str = "value_error") -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": message, "type": kind}]}, status_code=422)


def limit_headers(exc: LimitReached) -> dict[str, str]:
    """A 429's headers: when to try again, and which of the key's limits it met (the
    message says it in words; a program reads the name)."""
    return {"Retry-After": str(exc.retry_after_s), "X-Rendergate-Limit": exc.limit}


def body_refusal(exc: InputTooLarge | ServerBusy | ShareTaken) -> JSONResponse:
    """413 for a body over its limit; 503 with Retry-After when no large body fits now, 429
    when the caller's key holds its share. All close the connection, since the client may
    still be sending (a refused stream or replay, with no body, loses only its keep-alive).
    Answered here and by the body-limit layer (api/limits.py) before a route runs."""
    if isinstance(exc, ServerBusy):
        headers = {"Retry-After": str(exc.retry_after_s), "Connection": "close"}
        return envelope_error(503, str(exc), headers)
    if isinstance(exc, ShareTaken):
        return envelope_error(429, str(exc), limit_headers(exc) | {"Connection": "close"})
    return envelope_error(413, str(exc), {"Connection": "close"})


async def _rendergate_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, TaskNotFound | ResultNotReady | PresetNotFound | BatchNotFound):
        return envelope_error(404, str(exc))
    if isinstance(exc, ShareNotFound | ShareExpired):
        return envelope_error(404 if isinstance(exc, ShareNotFound) else 410, str(exc))
    if isinstance(exc, Unauthorized):
        return envelope_error(401, str(exc), {"WWW-Authenticate": "Bearer"})
    if isinstance(exc, RequestInProgress):  # Retry-After: the SDK waits this 409 out
        return envelope_error(409, str(exc), {"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, InvalidTransition | ReplayPending | PresetExists | InputsUnavailable):
        return envelope_error(409, str(exc))
    if isinstance(exc, InvalidInput):
        if isinstance(exc, InputTooLarge):
            return body_refusal(exc)
        if isinstance(exc, UnsupportedInput):
            return envelope_error(415, str(exc))
        loc: list[str | int] = [exc.location, exc.field] if exc.field else [exc.location]
        return validation_error(loc, str(exc))
    if isinstance(exc, ServerBusy | ShareTaken):
        return body_refusal(exc)
    if isinstance(exc, LimitReached):
        return envelope_error(429, str(exc), limit_headers(exc))
    if isinstance(exc, FilesExpired):
        return envelope_error(410, str(exc))
    if isinstance(exc, ResultLost):  # gone from our storage: as gone as expired, and logged
        log.error("stored result missing", route=route_of(request.scope))
        return envelope_error(410, str(exc))
    log.error("unhandled error", route=route_of(request.scope), exc_info=exc)
    return envelope_error(500, "internal server error")


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (404, 405 with its Allow header, ...) in our envelope."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # Starlette names only the first route's methods
        headers["Allow"] = ", ".join(_methods_at(request))
    return envelope_error(exc.status_code, str(exc.detail), headers)


def _methods_at(request: Request) -> list[str]:
    """Every method some route answers in full at this path."""
    routes = request.app.routes
    return [
        method
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]


def route_of(scope: Scope) -> str:
    """The matched route's template (`/webhooks/{provider}/{task_id}/{token}`), never the
    path itself: paths of provider callbacks carry secrets."""
    route = scope.get("route")
    return str(getattr(route, "path", "")) or "(no route)"


class CatchAll:
    """Answers 500 for any error nothing else handled, and logs it once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:  # the client went away mid-request: nothing to answer
            log.info("client disconnected", route=route_of(scope))
        except Exception as exc:
            log.error("unhandled error", route=route_of(scope), exc_info=exc)
            if not started:
                await envelope_error(500, "internal server error")(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RendergateError, _rendergate_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(CatchAll)  # innermost of our layers: outside it is only Starlette's
