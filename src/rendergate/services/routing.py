"""Which of an app's routes a new task starts on, and which it may fall back to, given what
this process can run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import AppUnavailable, InvalidInput
from rendergate.domain.task import Skip, Task
from rendergate.providers import ProviderEntry, registry, unavailable_reason
from rendergate.providers.base import Provider


@dataclass(frozen=True)
class RunsHere:
    """The one answer to "can this provider run tasks here", asked at create, at submit and
    by the reconciler: it can when this process built it (the composition root builds every
    provider an app routes to that the settings configure: providers.build_providers);
    otherwise the settings say why not."""

    providers: Mapping[str, Provider]
    settings: Settings

    def runs(self, provider: str) -> bool:
        return provider in self.providers

    def reason(self, provider: str) -> str | None:
        """Why `provider` cannot run tasks here, or None when it can."""
        if self.runs(provider):
            return None
        return (
            unavailable_reason(provider, self.settings)
            or f"provider {provider!r} is not running here"
        )

    def first_route(self, app: AppSpec) -> tuple[str, tuple[Skip, ...]]:
        """The first of the app's routes that runs here, and the ones passed over.

        None does: AppUnavailable, with the first route's reason (what the app was written for).
        """
        skipped: list[Skip] = []
        for route in app.routes:
            reason = self.reason(route.provider)
            if reason is None:
                return route.provider, tuple(skipped)
            skipped.append(Skip(provider=route.provider, reason=reason))
        raise AppUnavailable(skipped[0].reason, field="type")

    def next_route(self, app: AppSpec, task: Task) -> str | None:
        """The provider of the first route after the task's that runs here and that the
        task has not been passed over on, if any: where it may fall back to."""
        tried = {skip.provider for skip in task.skipped}
        later = (p for p in app.after(task.provider) if self.runs(p) and p not in tried)
        return next(later, None)

    def availability(self, app: AppSpec) -> tuple[str, str | None]:
        """For listings: the provider the app's tasks start on here and None, or its first
        route's provider and why no route can run here."""
        try:
            provider, _ = self.first_route(app)
        except AppUnavailable as exc:
            return app.provider, exc.message
        return provider, None


def read_params(app: AppSpec, entries: Mapping[str, ProviderEntry[Any]]) -> set[str] | None:
    """The params the app's routes read: their `params.<key>` bindings and what their
    providers read themselves; None when a provider takes any."""
    names: set[str] = set()
    for route in app.routes:
        entry = entries.get(route.provider)
        read = entry.reads(route.options) if entry is not None else ()
        if read is None:
            return None
        names |= set(read)
        names |= {
            b.source.removeprefix("params.")
            for b in route.bindings
            if b.source.startswith("params.")
        }
    return names


def declared_params(app: AppSpec, entries: Mapping[str, ProviderEntry[Any]]) -> set[str] | None:
    """The params a task of the app may hold. An app that declares its form takes the form's
    (which name every `params.<key>` binding: domain/apps.py) and the fixed ones its providers
    read themselves; one that does not, what its routes read (None: any)."""
    if not app.params:
        return read_params(app, entries)
    names = {spec.name for spec in app.params}
    for route in app.routes:
        entry = entries.get(route.provider)
        names |= set(entry.reads(route.options) or ()) if entry is not None else set()
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
