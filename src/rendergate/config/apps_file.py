"""The apps a server offers: the built-in apps.toml, then RENDERGATE_APPS_FILE's.

Read at start-up, so a broken apps file or workflow file stops the start instead of
failing tasks later.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from rendergate.config.settings import Settings
from rendergate.config.values import read_toml
from rendergate.domain.apps import AppSpec, Route, parse_apps
from rendergate.domain.errors import ConfigError
from rendergate.providers import ProviderEntry, registry


def load_apps(settings: Settings) -> dict[str, AppSpec]:
    """The built-in apps, then those of RENDERGATE_APPS_FILE (which may replace them)."""
    package = resources.files("rendergate")
    builtin = tomllib.loads(package.joinpath("apps.toml").read_text(encoding="utf-8"))
    entries = registry(settings)
    apps = _prepared(parse_apps(builtin), package, entries)
    if settings.apps_file is not None:
        document = read_toml(settings.apps_file, what="RENDERGATE_APPS_FILE")
        apps.update(_prepared(parse_apps(document), settings.apps_file.parent, entries))
    return apps


def _prepared(
    apps: dict[str, AppSpec], base: Traversable | Path, entries: Mapping[str, ProviderEntry[Any]]
) -> dict[str, AppSpec]:
    """Each route's options as its provider wants them at start-up (ComfyUI reads its
    `workflow_file`, relative to the apps file, so a broken one stops the start)."""
    return {name: _prepare_app(app, base, entries) for name, app in apps.items()}


def _prepare_app(
    app: AppSpec, base: Traversable | Path, entries: Mapping[str, ProviderEntry[Any]]
) -> AppSpec:
    return dataclasses.replace(
        app, routes=tuple(_prepare_route(app, route, base, entries) for route in app.routes)
    )


def _prepare_route(
    app: AppSpec, route: Route, base: Traversable | Path, entries: Mapping[str, ProviderEntry[Any]]
) -> Route:
    entry = entries.get(route.provider)
    if entry is None or entry.prepare_options is None:
        return route
    try:
        options = entry.prepare_route_options(route.options, base)
    except ConfigError as exc:
        raise ConfigError(f"app {app.name!r}: {exc.message}") from exc
    return dataclasses.replace(route, options=options)
