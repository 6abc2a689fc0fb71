"""A provider added as one module of its own (tests/support/echo_provider.py) is found,
configured and run through a whole task, with no rendergate module edited."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from rendergate.config.settings import Settings, load_settings
from rendergate.domain.errors import ConfigError
from support.images import make_png
from support.server import serve


async def test_a_provider_module_named_in_the_settings_runs_a_task(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apps = tmp_path / "apps.toml"
    apps.write_text('[apps.echo_app]\nprovider = "echo"\ntitle = "hands the image back"\n')
    monkeypatch.setenv("RENDERGATE_ECHO_TAG", "from-the-environment")
    configured = load_settings(
        data_dir=settings.data_dir, apps_file=apps, provider_modules=["support.echo_provider"]
    )
    image = make_png(24, 16)
    async with serve(configured) as server:
        assert "echo" in server.services.providers
        body = {"type": "echo_app", "image_base64": base64.b64encode(image).decode()}
        async with server.http.post(f"{server.url}/tasks", json=body) as response:
            assert response.status == 201, await response.text()
            task_id = (await response.json())["data"]["task_id"]
        task = await server.wait_finished(task_id)
        assert (task["status"], task["provider"]) == ("completed", "echo"), task
        assert task["cost"]["provider"] == {"tag": "from-the-environment"}
        async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
            assert response.status == 200 and await response.read() == image
        async with server.http.get(f"{server.url}/apps") as response:
            listed = {a["name"]: a for a in (await response.json())["data"]}
        assert listed["echo_app"]["available"] is True


def test_a_module_without_an_entry_is_refused_by_name(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"support\.images has no PROVIDER"):
        load_settings(data_dir=settings.data_dir, provider_modules=["support.images"])
