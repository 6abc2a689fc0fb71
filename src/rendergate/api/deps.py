"""Annotated dependencies, so route signatures read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rendergate.services.context import Services


def get_services_now(request: Request) -> Services:
    """For hot routes that skip FastAPI's dependency resolution."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """Async, so FastAPI calls it on the event loop rather than in its threadpool."""
    return get_services_now(request)


ServicesDep = Annotated[Services, Depends(get_services)]
