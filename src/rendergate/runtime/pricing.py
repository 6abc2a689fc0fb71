"""The operator's rates, from the settings and the apps files, for pricing finished tasks
(domain/costing.py): read once at start, in the composition root."""

from __future__ import annotations

from collections.abc import Mapping

from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.costing import Rates
from rendergate.providers.comfyui import ComfyUISettings
from rendergate.providers.runninghub import RunningHubSettings


def rates_of(settings: Settings, apps: Mapping[str, AppSpec]) -> Rates:
    per_second = {
        name: app.price_per_second for name, app in apps.items() if app.price_per_second is not None
    }
    return Rates(
        currency=settings.currency,
        coin_price=settings.of(RunningHubSettings).runninghub_coin_price,
        per_second=per_second,
        per_gpu_hour=settings.of(ComfyUISettings).comfyui_gpu_hour_price,
    )
