"""The one place rendergate's exceptions become HTTP responses.

Validation problems are 422 in FastAPI's own `{detail: [{loc, msg, type}]}` shape (seed 004);
everything else is the `{code, msg, data: null}` envelope. No stack trace ever leaves.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rendergate.domain.errors import (
    InvalidInput,
    InvalidTransition,
    RendergateError,
    ResultLost,
    ResultNotReady,
    TaskNotFound,
)

log = structlog.get_logger(__name__)


def envelope_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "msg": message, "data": None}, status_code=status)


def validation_error(loc: list[str | int], message: str, kind: str = "value_error") -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": message, "type": kind}]}, status_code=422)


async def _rendergate_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, TaskNotFound | ResultNotReady):
        return envelope_error(404, str(exc))
    if isinstance(exc, InvalidTransition):
        return envelope_error(409, str(exc))
    if isinstance(exc, InvalidInput):
        if exc.status_code != 422:
            return envelope_error(exc.status_code, str(exc))
        loc: list[str | int] = [exc.location, exc.field] if exc.field else [exc.location]
        return validation_error(loc, str(exc))
    if isinstance(exc, ResultLost):
        log.error("stored result missing", path=request.url.path)
        return envelope_error(500, str(exc))
    return await _unexpected(request, exc)


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return envelope_error(exc.status_code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
    return envelope_error(500, "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RendergateError, _rendergate_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
