"""Which of an app's routes a new task starts on, given what these settings can run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import AppUnavailable, InvalidInput
from rendergate.domain.task import Skip
from rendergate.providers import ProviderEntry, registry, unavailable_reason


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


def declared_params(app: AppSpec, entries: Mapping[str, ProviderEntry[Any]]) -> set[str] | None:
    """The params the app's routes use: its `params.<key>` bindings and what its providers
    read themselves; None when a provider takes any."""
    names: set[str] = set()
    for route in app.routes:
        entry = entries.get(route.provider)
        if entry is not None and entry.params is None:
            return None
        names |= set(entry.params or ()) if entry is not None else set()
        names |= {
            b.source.removeprefix("params.")
            for b in route.bindings
            if b.source.startswith("params.")
        }
    return names


def refuse_undeclared(app: AppSpec, params: Mapping[str, Any], settings: Settings) -> None:
    """A param no route uses would be silently ignored: refused, with the app's list."""
    declared = declared_params(app, registry(settings))
    if declared is None:
        return
    unknown = sorted(set(params) - declared)
    if unknown:
        listed = ", ".join(sorted(declared)) or "none"
        raise InvalidInput(
            f"app {app.name!r} takes no param {unknown[0]!r}; its params: {listed}",
            field=f"params.{unknown[0]}",
        )
