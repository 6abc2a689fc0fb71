"""Annotated dependencies, so route signatures read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from rendergate.services.context import Services
from rendergate.services.keys import through_proxy


def get_services_now(request: Request) -> Services:
    """For hot routes that skip FastAPI's dependency resolution."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """Async, so FastAPI calls it on the event loop rather than in its threadpool."""
    return get_services_now(request)


ServicesDep = Annotated[Services, Depends(get_services)]


def services_of(scope: Scope) -> Services | None:
    """For the ASGI layers before the routes; None before the lifespan has built them."""
    services: Services | None = getattr(scope["app"].state, "services", None)
    return services


bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `rendergate keys create NAME`; not needed in open mode "
    "(`serve --open`, on a loopback address, until a key is created).",
)


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str | None:
    """The id of the caller's API key; None in open mode. Unauthorized (401) otherwise."""
    token = credentials.credentials if credentials is not None else None
    keys = get_services_now(request).keys
    return await keys.caller(token, proxy_header=through_proxy(request.headers))


CallerDep = Annotated[str | None, Depends(get_caller)]
