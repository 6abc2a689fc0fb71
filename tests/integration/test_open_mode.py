"""Open mode is a choice: without `--open` no key means 401 on every /tasks route; with it,
only until a key is made (revoking never reopens), only on loopback, and never for a
request that came through a proxy."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from pathlib import Path

import pytest
from test_keys_api import assert_answered, call, create_fake_task, create_key, finished

from rendergate.config.settings import Settings, load_settings
from support.images import make_scene
from support.process import RENDERGATE, child_env, free_port, rendergate_keys, serving
from support.server import RunningServer, serve

HOW = "create one with `rendergate keys create NAME`"
PROXIES = [
    {"X-Forwarded-For": "203.0.113.7"},
    {"Forwarded": "for=203.0.113.7;proto=https"},
    {"X-Real-IP": "203.0.113.7"},
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Host": "render.example.com"},
]


def task_routes(task_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/tasks"),
        ("GET", f"/tasks/{task_id}"),
        ("GET", f"/tasks/{task_id}?include_base64=false"),
        ("GET", f"/tasks/{task_id}/image"),
        ("GET", f"/tasks/{task_id}/events"),
        ("GET", f"/tasks/{task_id}/deliveries"),
        ("POST", f"/tasks/{task_id}/cancel"),
        ("POST", f"/tasks/{task_id}/deliveries/msg_0/replay"),
    ]


@pytest.fixture
def closed(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a deployment has by default: no open mode."""
    monkeypatch.delenv("RENDERGATE_OPEN")
    return load_settings(data_dir=settings.data_dir, apps_file=settings.apps_file)


async def assert_refused_everywhere(
    server: RunningServer, task_id: int, headers: dict[str, str], says: str
) -> None:
    for method, path in task_routes(task_id):
        status, body, _ = await call(server, method, path, headers)
        assert status == 401, (method, path, body)
        assert says in body["msg"], (method, path, body)
    image = base64.b64encode(make_scene(32, 24)).decode()
    status, body, _ = await call(
        server, "POST", "/tasks", headers, json={"type": "fake", "image_base64": image}
    )
    assert status == 401 and says in body["msg"], body


async def test_without_open_mode_no_key_means_401_saying_how_to_make_one(
    closed: Settings,
) -> None:
    async with serve(closed) as server:
        await assert_refused_everywhere(server, 1, {}, HOW)
        assert await server.services.store.find(limit=10) == []
        status, _, _ = await call(server, "GET", "/healthz", {})
        assert status == 200  # the health check stays open


@pytest.mark.slow  # `rendergate keys` makes and revokes the key
async def test_revoking_every_key_never_opens_the_server(settings: Settings) -> None:
    """Open mode asked for: the first key closes it, and revoking it does not reopen it."""
    async with serve(settings) as server:
        task_id = await create_fake_task(server, {})  # open: no key yet
        alice = await create_key(settings.data_dir, "alice")
        await assert_answered(server, alice, 200)
        done = await asyncio.to_thread(rendergate_keys, settings.data_dir, "revoke", "alice")
        assert done.returncode == 0, done.stderr
        await assert_answered(server, alice, 401)
        await assert_refused_everywhere(server, task_id, {}, "none is active")


@pytest.mark.parametrize("proxy", PROXIES, ids=lambda h: next(iter(h)))
async def test_open_mode_refuses_a_request_that_came_through_a_proxy(
    settings: Settings, proxy: dict[str, str]
) -> None:
    async with serve(settings) as server:
        task_id = await create_fake_task(server, {})
        await finished(server, task_id, {})  # a finished body: the cached path answers too
        await finished(server, task_id, {})
        name = next(iter(proxy)).lower()
        await assert_refused_everywhere(server, task_id, proxy, f"through a proxy ({name})")
        status, body, _ = await call(server, "GET", f"/tasks/{task_id}", {})
        assert status == 200 and body["data"]["task_id"] == task_id  # direct: still open


@pytest.mark.slow  # starts `rendergate serve`
def test_open_mode_is_refused_off_loopback(tmp_path: Path) -> None:
    port = str(free_port())
    command = [str(RENDERGATE), "serve", "--open", "--host", "0.0.0.0", "--port", port]
    refused = subprocess.run(
        command, env=child_env(tmp_path / "data"), capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2, refused.stderr
    assert "--open serves a loopback address only" in refused.stderr
    assert "rendergate keys create NAME" in refused.stderr


@pytest.mark.slow  # starts `rendergate serve`
def test_serve_says_at_start_which_mode_it_is_in(tmp_path: Path) -> None:
    opened, closed = tmp_path / "open.log", tmp_path / "closed.log"
    with serving(tmp_path / "a", opened):
        pass
    with serving(tmp_path / "b", closed, RENDERGATE_OPEN="false"):
        pass
    warning = [line for line in opened.read_text().splitlines() if "open mode" in line]
    assert len(warning) == 1, opened.read_text()
    assert "X-Forwarded-For" in warning[0] and "refused" in warning[0]
    said = closed.read_text()
    assert "open mode" not in said
    assert "every /tasks request is answered 401" in said and "keys create NAME" in said
