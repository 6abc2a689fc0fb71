"""What each provider's queue allows: its cap across the cluster and each worker's share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rendergate.config.apps_file import load_apps
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.providers import ProviderEntry, registry, unavailable_reason
from rendergate.runtime.dbos_orchestrator import QueueLimits


def queue_limits(settings: Settings, providers: Iterable[str]) -> dict[str, QueueLimits]:
    entries = registry(settings)
    return {name: _limits(entries[name], settings) for name in providers}


def runnable_providers(settings: Settings) -> set[str]:
    """The providers some app routes to and these settings can run."""
    return {p for p in routed(load_apps(settings)) if unavailable_reason(p, settings) is None}


def routed(apps: Mapping[str, AppSpec]) -> set[str]:
    """Every provider some app's route names, fallbacks too."""
    return {route.provider for app in apps.values() for route in app.routes}


def _limits(entry: ProviderEntry[Any], settings: Settings) -> QueueLimits:
    """A provider's cap holds across the cluster, and each worker takes only its share; the
    cap of a provider on this machine's own CPU (local) holds per worker instead."""
    cap = entry.concurrency(settings)
    if entry.cap_per_worker:
        return QueueLimits(cluster=None, worker=cap)
    share = settings.worker_concurrency
    return QueueLimits(cluster=cap, worker=share if cap is None else min(share, cap))
