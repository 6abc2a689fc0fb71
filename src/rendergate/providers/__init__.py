"""The provider registry: provider names to the adapters that run them.

Each adapter module exports `PROVIDER`, its ProviderEntry: its settings class, its
factory and what it can do. The registry is a list of such modules, the built-in ones
below plus those of RENDERGATE_PROVIDER_MODULES, so a provider lives in one module of its
own (a plug-in, or a test's) without an edit anywhere else (docs/adding-a-provider.md).
"""

from __future__ import annotations

import functools
import importlib
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rendergate.config.settings import ProviderSettings
from rendergate.domain.errors import ConfigError

if TYPE_CHECKING:
    import aiohttp

    from rendergate.config.settings import Settings
    from rendergate.providers.accounts import ProviderAccount
    from rendergate.providers.base import Provider

BUILT_IN = (
    "rendergate.providers.local",
    "rendergate.providers.fake",
    "rendergate.providers.runninghub",
    "rendergate.providers.aliyun",
    "rendergate.providers.comfyui",
)

S = TypeVar("S", bound=ProviderSettings)


@dataclass(frozen=True, kw_only=True)
class ProviderEntry(Generic[S]):
    name: str
    settings: type[S]  # the adapter's own settings, every field named `<name>_…`
    factory: Callable[[S, aiohttp.ClientSession], Provider]  # does no I/O
    required: tuple[str, ...] = ()  # fields of `settings` that must be set ("a|b": either)
    concurrency_setting: str | None = None  # the field capping tasks run at once
    # its pooled keys (providers/accounts.py): the cap is the sum of theirs
    accounts: Callable[[S], Sequence[ProviderAccount]] | None = None
    cap_per_worker: bool = False  # the cap is each machine's (local CPU), not the cluster's
    params_check: Callable[[Mapping[str, Any]], object] | None = None  # refuses bad params
    prepare_options: Callable[[Mapping[str, Any], Any], Mapping[str, Any]] | None = None
    params: tuple[str, ...] | None = ()  # the task params the adapter reads itself; None: any
    # where they differ by route: the params a route reads, from its options (local's engine)
    route_params: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None

    def reads(self, options: Mapping[str, Any]) -> tuple[str, ...] | None:
        """The task params a route with these options has the adapter read; None: any."""
        if self.route_params is not None:
            return self.route_params(options)
        return self.params

    def missing_settings(self, settings: Settings) -> list[str]:
        own = settings.of(self.settings)
        return [
            f"RENDERGATE_{names.split('|')[0].upper()}"
            for names in self.required
            if not any(getattr(own, name) for name in names.split("|"))
        ]

    def concurrency(self, settings: Settings) -> int | None:
        own = settings.of(self.settings)
        pooled = self.accounts(own) if self.accounts is not None else ()
        if pooled:
            return sum(account.concurrency for account in pooled)
        if self.concurrency_setting is None:
            return None
        return int(getattr(own, self.concurrency_setting))

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raises InvalidInput for params this provider would refuse later."""
        if self.params_check is not None:
            self.params_check(params)

    def prepare_route_options(self, options: Mapping[str, Any], base: Any) -> Mapping[str, Any]:
        """A route's options as the adapter wants them; `base` is the apps file's folder."""
        if self.prepare_options is None:
            return options
        return self.prepare_options(options, base)

    def build(self, settings: Settings, http: aiohttp.ClientSession) -> Provider:
        """The adapter, on the composition root's HTTP session (which it does not close)."""
        return self.factory(settings.of(self.settings), http)


def registry(settings: Settings) -> Mapping[str, ProviderEntry[Any]]:
    """The built-in providers and those of RENDERGATE_PROVIDER_MODULES (worked out once per
    list of modules: every create and start-up step asks)."""
    return _registry_with(tuple(settings.provider_modules))


@functools.cache
def _registry_with(modules: tuple[str, ...]) -> Mapping[str, ProviderEntry[Any]]:
    entries: dict[str, ProviderEntry[Any]] = {}
    for module_name in (*BUILT_IN, *modules):
        entry = getattr(importlib.import_module(module_name), "PROVIDER", None)
        if not isinstance(entry, ProviderEntry):
            raise ConfigError(f"provider module {module_name} has no PROVIDER = ProviderEntry(...)")
        strays = [
            field for field in entry.settings.model_fields if not field.startswith(f"{entry.name}_")
        ]
        if strays:
            raise ConfigError(
                f"provider {entry.name!r} has settings not named after it: {', '.join(strays)}"
            )
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
    return None


def build_providers(
    names: set[str], settings: Settings, http: aiohttp.ClientSession
) -> dict[str, Provider]:
    """Builds every named provider that can run here; the others are left out."""
    entries = registry(settings)
    return {
        name: entries[name].build(settings, http)
        for name in sorted(names)
        if unavailable_reason(name, settings) is None
    }
