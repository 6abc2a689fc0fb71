"""Per-key limits over real HTTP: a 429 with Retry-After and a message naming the limit,
and nothing stored for the refused create."""

from __future__ import annotations

import base64
from typing import Any

from rendergate.config import Settings, load_settings
from support.images import make_scene
from support.server import RunningServer, serve


def limited(settings: Settings, **limits: Any) -> Settings:
    return load_settings(data_dir=settings.data_dir, apps_file=settings.apps_file, **limits)


async def post(server: RunningServer, **params: Any) -> tuple[int, Any, str | None]:
    image = base64.b64encode(make_scene(32, 24)).decode()
    body = {"type": "fake", "image_base64": image, "params": {"fake": params}}
    async with server.http.post(f"{server.url}/tasks", json=body) as response:
        return response.status, await response.json(), response.headers.get("Retry-After")


async def count(server: RunningServer) -> int:
    async with server.http.get(f"{server.url}/tasks?limit=100") as response:
        return len((await response.json())["data"]["tasks"])


async def test_the_rate_limit_refuses_the_creates_over_it(settings: Settings) -> None:
    async with serve(limited(settings, rate_limit_per_minute=3)) as server:
        assert [(await post(server))[0] for _ in range(3)] == [201, 201, 201]
        status, body, retry_after = await post(server)
        assert status == 429, body
        assert body["msg"].startswith("over this key's limit of 3 task creates a minute")
        assert retry_after is not None and 1 <= int(retry_after) <= 60
        assert await count(server) == 3


async def test_creates_refused_for_their_input_do_not_use_up_the_rate_limit(
    settings: Settings,
) -> None:
    """Refused after the limits are checked (the images are read last): not counted."""
    scene = make_scene(32, 24)
    refusals = [(b"GIF89a?", 415), (scene[: len(scene) // 2], 422)] * 2
    async with serve(limited(settings, rate_limit_per_minute=2)) as server:
        for image, status in refusals:
            body = {"type": "fake", "image_base64": base64.b64encode(image).decode()}
            async with server.http.post(f"{server.url}/tasks", json=body) as response:
                assert response.status == status, await response.text()
        assert [(await post(server))[0] for _ in range(3)] == [201, 201, 429]
        assert await count(server) == 2


async def test_the_in_flight_cap_frees_up_when_a_task_ends(settings: Settings) -> None:
    async with serve(limited(settings, max_in_flight_per_key=1)) as server:
        status, first, _ = await post(server, outcome="hang")
        assert status == 201, first
        status, body, retry_after = await post(server)
        assert status == 429 and retry_after == "10", body
        assert "1 unfinished tasks, its limit of tasks in flight" in body["msg"]
        cancel = f"{server.url}/tasks/{first['data']['task_id']}/cancel"
        async with server.http.post(cancel) as response:
            assert response.status == 200
        assert (await post(server))[0] == 201


async def test_the_daily_quota_counts_the_days_tasks(settings: Settings) -> None:
    async with serve(limited(settings, daily_tasks_per_key=2)) as server:
        assert [(await post(server))[0] for _ in range(2)] == [201, 201]
        status, body, retry_after = await post(server)
        assert status == 429, body
        assert body["msg"] == "this key has created 2 tasks today, its daily limit (UTC days)"
        assert retry_after is not None and 1 <= int(retry_after) <= 86400
        assert await count(server) == 2
