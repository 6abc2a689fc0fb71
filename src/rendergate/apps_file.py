"""The apps a server offers: the built-in apps.toml, then RENDERGATE_APPS_FILE's.

Read at start-up, so a broken apps file or workflow file stops the start instead of
failing tasks later.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from rendergate.config import Settings
from rendergate.domain.apps import AppSpec, parse_apps
from rendergate.domain.errors import ConfigError


def load_apps(settings: Settings) -> dict[str, AppSpec]:
    """The built-in apps, then those of RENDERGATE_APPS_FILE (which may replace them)."""
    package = resources.files("rendergate")
    builtin = tomllib.loads(package.joinpath("apps.toml").read_text(encoding="utf-8"))
    apps = parse_apps(inline_workflows(builtin, package))
    if settings.apps_file is not None:
        document = tomllib.loads(settings.apps_file.read_text(encoding="utf-8"))
        apps.update(parse_apps(inline_workflows(document, settings.apps_file.parent)))
    return apps


def inline_workflows(document: dict[str, Any], base: Traversable | Path) -> dict[str, Any]:
    """Reads each `options.workflow_file` (relative to the apps file) into `options.workflow`,
    so a broken workflow file stops start-up instead of failing tasks later."""
    apps = document.get("apps")
    for name, app in apps.items() if isinstance(apps, dict) else ():
        routes = [app, *app.get("fallbacks", [])] if isinstance(app, dict) else []
        for route in routes:
            options = route.get("options") if isinstance(route, dict) else None
            if not isinstance(options, dict) or "workflow_file" not in options:
                continue
            path = base.joinpath(str(options["workflow_file"]))
            try:
                workflow = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"app {name!r}: cannot read its workflow_file {path}: {exc}"
                ) from exc
            if not isinstance(workflow, dict):
                raise ConfigError(f"app {name!r}: {path} is not an API-format workflow object")
            options["workflow"] = workflow
    return document
