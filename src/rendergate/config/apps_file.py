"""The apps a server offers: the built-in apps.toml, then RENDERGATE_APPS_FILE's.

Read at start-up, so a broken apps file or workflow file stops the start instead of
failing tasks later.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from rendergate.config.settings import Settings
from rendergate.config.values import read_toml
from rendergate.domain.apps import AppSpec, Route, parse_apps
from rendergate.domain.errors import ConfigError, InvalidInput
from rendergate.domain.presets import BuiltinPresets, Preset, PresetDeclaration, parse_presets
from rendergate.domain.task import InputRef
from rendergate.imaging.inputs import check_image
from rendergate.providers import ProviderEntry, registry

READABLE_PIXELS = 100_000_000  # our own files: only checked to be readable images
BUILT_IN_AT = datetime(2026, 12, 1, tzinfo=UTC)  # a built-in preset's one version's date


Document = tuple[Mapping[str, Any], Traversable | Path]  # a parsed apps file, and its folder


def load_apps_and_presets(settings: Settings) -> tuple[dict[str, AppSpec], BuiltinPresets]:
    """The apps and the presets of the built-in apps file, then RENDERGATE_APPS_FILE's
    (which may replace them), each file read once; a broken one stops the start."""
    documents = _documents(settings)
    apps = _apps(documents, settings)
    return apps, _presets(documents, apps)


def load_apps(settings: Settings) -> dict[str, AppSpec]:
    """The built-in apps, then those of RENDERGATE_APPS_FILE (which may replace them)."""
    return _apps(_documents(settings), settings)


def _documents(settings: Settings) -> list[Document]:
    """The built-in apps file, then RENDERGATE_APPS_FILE's, parsed, each with the folder its
    relative paths (workflow files, reference images) are read from."""
    package = resources.files("rendergate")
    builtin = tomllib.loads(package.joinpath("apps.toml").read_text(encoding="utf-8"))
    documents: list[Document] = [(builtin, package)]
    if settings.apps_file is not None:
        own = read_toml(settings.apps_file, what="RENDERGATE_APPS_FILE")
        documents.append((own, settings.apps_file.parent))
    return documents


def _apps(documents: list[Document], settings: Settings) -> dict[str, AppSpec]:
    entries = registry(settings)
    apps: dict[str, AppSpec] = {}
    for document, base in documents:
        apps.update(_prepared(parse_apps(document), base, entries))
    return apps


def _presets(documents: list[Document], apps: Mapping[str, AppSpec]) -> BuiltinPresets:
    """The documents' presets, their apps and params checked and their reference images
    read."""
    presets: dict[str, Preset] = {}
    references: dict[str, bytes] = {}
    for document, base in documents:
        try:
            declared = parse_presets(document)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        for declaration in declared:
            preset, data = _builtin_preset(declaration, apps, base)
            presets[preset.name] = preset
            if preset.reference is not None and data is not None:
                references[preset.reference.key] = data
    return BuiltinPresets(presets, references)


def _builtin_preset(
    declaration: PresetDeclaration,
    apps: Mapping[str, AppSpec],
    base: Traversable | Path,
) -> tuple[Preset, bytes | None]:
    where = f"preset {declaration.name!r}"
    app = apps.get(declaration.app)
    if app is None:
        raise ConfigError(f"{where} names type {declaration.app!r}, which is no app")
    try:
        params = app.checked_params(declaration.params)
        data = base.joinpath(declaration.reference).read_bytes() if declaration.reference else None
        checked = (
            None
            if data is None
            else check_image(
                data, role="reference", max_bytes=len(data) or 1, max_pixels=READABLE_PIXELS
            )
        )
    except InvalidInput as exc:
        raise ConfigError(f"{where}: {exc.message}") from exc
    except OSError as exc:
        raise ConfigError(f"{where}: its reference {declaration.reference} cannot be read") from exc
    reference = (
        None
        if checked is None
        else InputRef(key=f"builtin:{declaration.name}", content_type=checked.content_type)
    )
    preset = Preset(
        name=declaration.name,
        version=1,
        app=app.name,
        params=params,
        reference=reference,
        description=declaration.description,
        label=declaration.label,
        built_in=True,
        price=declaration.price,
        created_at=BUILT_IN_AT,
    )
    return preset, data


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
