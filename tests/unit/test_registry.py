"""The provider registry says what each adapter can do, and is right about it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rendergate.config import load_settings
from rendergate.providers import REGISTRY
from rendergate.providers.base import cancel_capability, webhook_capability


@pytest.mark.parametrize("name", sorted(REGISTRY))
async def test_each_entry_states_its_adapters_capabilities(name: str, tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        runninghub_api_key="k" * 32,
        aliyun_app_key="app-key",
        aliyun_app_secret="app-secret",
        comfyui_urls=["http://127.0.0.1:9"],
    )
    entry = REGISTRY[name]
    provider = entry.build(settings)  # constructors do no I/O
    try:
        assert provider.name == name
        assert (cancel_capability(provider) is not None) is entry.cancels
        assert (webhook_capability(provider) is not None) is entry.webhooks
    finally:
        await provider.aclose()
