"""The provider registry: names to adapters, resolved lazily so the core imports none of them.

The built-in entries are below. More come from RENDERGATE_PROVIDER_MODULES: each module
named there exports `PROVIDER`, its ProviderEntry, so a provider can live in a module of
its own (a plug-in, or a test's) without an edit anywhere else (docs/adding-a-provider.md).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from rendergate.domain.errors import ConfigError

if TYPE_CHECKING:
    from rendergate.config import Settings
    from rendergate.providers.base import Provider


@dataclass(frozen=True, kw_only=True)
class ProviderEntry:
    name: str
    target: str  # "module:factory", the factory taking Settings and returning a Provider
    required: tuple[str, ...] = ()  # Settings fields that must be set
    concurrency_setting: str | None = None  # Settings field capping tasks run at once
    params_check: str | None = None  # "module:function" refusing bad `params` at submit time
    prepare_options: str | None = None  # "module:function" reading a route's options at start
    cancels: bool = False  # the adapter is Cancellable: it can stop a job it accepted
    webhooks: bool = False  # the adapter ReceivesWebhooks at the task's callback URL

    def missing_settings(self, settings: Settings) -> list[str]:
        return [
            f"RENDERGATE_{name.upper()}" for name in self.required if not getattr(settings, name)
        ]

    def is_installed(self) -> bool:
        module = self.target.partition(":")[0]
        return importlib.util.find_spec(module) is not None

    def concurrency(self, settings: Settings) -> int | None:
        if self.concurrency_setting is None:
            return None
        return int(getattr(settings, self.concurrency_setting))

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raises InvalidInput for params this provider would refuse later."""
        if self.params_check is not None:
            _resolve(self.params_check)(params)

    def prepare_route_options(self, options: Mapping[str, Any], base: Any) -> Mapping[str, Any]:
        """A route's options as the adapter wants them; `base` is the apps file's folder."""
        if self.prepare_options is None:
            return options
        return cast("Mapping[str, Any]", _resolve(self.prepare_options)(options, base))

    def build(self, settings: Settings) -> Provider:
        factory = cast("Callable[[Settings], Provider]", _resolve(self.target))
        return factory(settings)


def _resolve(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    return cast("Callable[..., Any]", getattr(importlib.import_module(module_name), attr))


REGISTRY: dict[str, ProviderEntry] = {
    entry.name: entry
    for entry in (
        ProviderEntry(
            name="local",
            target="rendergate.providers.local:from_settings",
            concurrency_setting="local_concurrency",
            params_check="rendergate.imaging.preview:validate_preview_params",
            cancels=True,
        ),
        ProviderEntry(
            name="fake",
            target="rendergate.providers.fake:from_settings",
            cancels=True,
            webhooks=True,
        ),
        ProviderEntry(
            name="runninghub",
            target="rendergate.providers.runninghub:from_settings",
            required=("runninghub_api_key",),
            concurrency_setting="runninghub_concurrency",
            cancels=True,
            webhooks=True,
        ),
        ProviderEntry(
            name="aliyun",
            target="rendergate.providers.aliyun:from_settings",
            required=("aliyun_app_key", "aliyun_app_secret"),
            concurrency_setting="aliyun_concurrency",
        ),
        ProviderEntry(
            name="comfyui",
            target="rendergate.providers.comfyui:from_settings",
            required=("comfyui_urls",),
            concurrency_setting="comfyui_concurrency",
            prepare_options="rendergate.providers.comfyui_workflow:read_workflow_file",
            cancels=True,
        ),
    )
}


def registry(settings: Settings) -> Mapping[str, ProviderEntry]:
    """The built-in providers and those of RENDERGATE_PROVIDER_MODULES (worked out once per
    list of modules: every create and start-up step asks)."""
    return _registry_with(tuple(settings.provider_modules))


@functools.cache
def _registry_with(modules: tuple[str, ...]) -> Mapping[str, ProviderEntry]:
    entries = dict(REGISTRY)
    for module_name in modules:
        entry = getattr(importlib.import_module(module_name), "PROVIDER", None)
        if not isinstance(entry, ProviderEntry):
            raise ConfigError(f"provider module {module_name} has no PROVIDER = ProviderEntry(...)")
        entries[entry.name] = entry
    return types.MappingProxyType(entries)


def unavailable_reason(name: str, settings: Settings) -> str | None:
    """Why provider `name` cannot run tasks here, or None when it can."""
    known = registry(settings)
    entry = known.get(name)
    if entry is None:
        return f"provider {name!r} is unknown; known: {', '.join(sorted(known))}"
    missing = entry.missing_settings(settings)
    if missing:
        return f"provider {name!r} is not configured: set {' and '.join(missing)}"
    if not entry.is_installed():
        return f"provider {name!r} has no adapter in this build of rendergate"
    return None


def build_providers(names: set[str], settings: Settings) -> dict[str, Provider]:
    """Builds every named provider that can run here; the others are left out."""
    entries = registry(settings)
    return {
        name: entries[name].build(settings)
        for name in sorted(names)
        if unavailable_reason(name, settings) is None
    }
