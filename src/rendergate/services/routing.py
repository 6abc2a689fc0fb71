"""Which of an app's routes a new task starts on, given what these settings can run."""

from __future__ import annotations

from rendergate.config import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import AppUnavailable
from rendergate.domain.task import Skip
from rendergate.providers import unavailable_reason


def choose_route(app: AppSpec, settings: Settings) -> tuple[str, tuple[Skip, ...]]:
    """The first of the app's routes whose provider can run here, and the ones passed over.

    None can: AppUnavailable, with the first route's reason (what the app was written for).
    """
    skipped: list[Skip] = []
    for route in app.routes:
        reason = unavailable_reason(route.provider, settings)
        if reason is None:
            return route.provider, tuple(skipped)
        skipped.append(Skip(provider=route.provider, reason=reason))
    raise AppUnavailable(skipped[0].reason, field="type")


def app_availability(app: AppSpec, settings: Settings) -> tuple[str, str | None]:
    """For listings: the provider the app's tasks start on here and None, or its first
    route's provider and why no route can run here."""
    try:
        provider, _ = choose_route(app, settings)
    except AppUnavailable as exc:
        return app.provider, exc.message
    return provider, None
