"""The provider registry builds each adapter from its own settings, and each built-in adapter
has the optional capabilities the rest of rendergate finds on it (providers/base.py)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from rendergate.config.settings import load_settings
from rendergate.domain.errors import ConfigError
from rendergate.providers import BUILT_IN, registry
from rendergate.providers.base import (
    cancel_capability,
    job_count_capability,
    webhook_capability,
)

NAMES = ["local", "fake", "runninghub", "aliyun", "comfyui"]
CAPABILITIES = {  # what each built-in adapter does beyond the Provider port
    "local": {"cancel"},
    "fake": {"cancel", "webhooks"},
    "runninghub": {"cancel", "webhooks", "counts_jobs"},
    "aliyun": set(),  # no cancel: a task canceled there says the job may still run
    "comfyui": {"cancel"},
}


def test_the_built_in_modules_are_the_five_providers(tmp_path: Path) -> None:
    assert len(BUILT_IN) == len(NAMES)
    assert sorted(registry(load_settings(data_dir=tmp_path))) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
async def test_each_adapter_has_the_capabilities_it_is_known_for(name: str, tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        runninghub_api_key="k" * 32,
        aliyun_app_key="app-key",
        aliyun_app_secret="app-secret",
        comfyui_urls=["http://127.0.0.1:9"],
    )
    entry = registry(settings)[name]
    async with aiohttp.ClientSession() as http:
        provider = entry.build(settings, http)  # constructors do no I/O
        try:
            assert provider.name == name
            found = {
                "cancel": cancel_capability(provider),
                "webhooks": webhook_capability(provider),
                "counts_jobs": job_count_capability(provider),
            }
            assert {can for can, it in found.items() if it is not None} == CAPABILITIES[name]
        finally:
            await provider.aclose()
        assert not http.closed  # the adapter leaves the root's session open


def test_each_adapter_reads_its_own_settings_from_every_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "rendergate.toml"
    config.write_text('runninghub_base_url = "https://www.runninghub.ai"\ncomfyui_timeout_s = 7\n')
    monkeypatch.setenv("RENDERGATE_COMFYUI_TIMEOUT_S", "9")
    monkeypatch.setenv("RENDERGATE_ALIYUN_CONCURRENCY", "5")
    settings = load_settings(config, data_dir=tmp_path, aliyun_concurrency=6)
    entries = registry(settings)
    hub = settings.of(entries["runninghub"].settings)
    comfy = settings.of(entries["comfyui"].settings)
    assert hub.runninghub_base_url == "https://www.runninghub.ai"  # the file
    assert comfy.comfyui_timeout_s == 9  # the environment beats the file
    assert entries["aliyun"].concurrency(settings) == 6  # a value passed in beats both


def test_unknown_and_bad_settings_fail_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="unknown setting runninghub_api_kee"):
        load_settings(data_dir=tmp_path, runninghub_api_kee="x")
    config = tmp_path / "rendergate.toml"
    config.write_text("comfyui_url = 'http://gpu1:8188'\n")
    with pytest.raises(ConfigError, match="unknown setting comfyui_url"):
        load_settings(config, data_dir=tmp_path)
    monkeypatch.setenv("RENDERGATE_RUNNINGHUB_CONCURRENCY", "none")
    with pytest.raises(ValueError, match="runninghub_concurrency"):
        load_settings(data_dir=tmp_path)


def test_provider_secrets_are_redacted_with_the_core_ones(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        runninghub_api_key="k" * 32,
        aliyun_app_secret="app-secret",
        comfyui_urls=["http://user:s3cret@gpu1:8188"],
        database_url="postgresql+psycopg://rg:pgpass@db/rg",
    )
    assert sorted(settings.secret_values()) == sorted(["k" * 32, "app-secret", "s3cret", "pgpass"])
