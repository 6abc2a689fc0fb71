"""Per-key limits over real HTTP: a 429 with Retry-After and a message naming the limit,
and nothing stored for the refused create; and each key's share of what all keys use at
once (large uploads being read, event streams)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

import pytest

from rendergate.config.settings import Settings, load_settings
from support.images import make_scene
from support.process import create_api_key
from support.refusals import refused
from support.server import RunningServer, serve
from support.waiting import until


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
        assert "has 1 unfinished tasks, its limit of tasks in flight is 1;" in body["msg"]
        cancel = f"{server.url}/tasks/{first['data']['task_id']}/cancel"
        async with server.http.post(cancel) as response:
            assert response.status == 200
        assert (await post(server))[0] == 201


async def test_the_daily_quota_counts_the_days_tasks(settings: Settings) -> None:
    async with serve(limited(settings, daily_tasks_per_key=2)) as server:
        assert [(await post(server))[0] for _ in range(2)] == [201, 201]
        status, body, retry_after = await post(server)
        assert status == 429, body
        assert body["msg"].startswith(
            "this key has created 2 tasks today, its daily limit (UTC days) is 2; it resets at "
        )
        assert body["msg"].endswith(" 00:00 UTC")
        assert retry_after is not None and 1 <= int(retry_after) <= 86400
        assert await count(server) == 2


async def stalled_upload(server: RunningServer, token: str) -> asyncio.StreamWriter:
    """A create whose 3 MB body stops after its first bytes, as a slow client's would."""
    host, port = server.url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 3000000\r\n\r\n"
        '{"image_base64": "'.encode()
    )
    await writer.drain()
    return writer


@pytest.mark.slow  # `rendergate keys` makes the keys
async def test_one_key_holds_at_most_its_share_of_the_large_body_slots(
    settings: Settings,
) -> None:
    """Alice's slow uploads hold two of the four slots, not all four: Bob's still gets in."""
    alice, bob = (create_api_key(settings.data_dir, name) for name in ("alice", "bob"))
    big = {"type": "fake", "image_base64": base64.b64encode(make_scene(1024, 768)).decode()}
    async with serve(limited(settings, max_large_bodies=4)) as server:
        slots = server.services.large_bodies
        stalled = [await stalled_upload(server, alice) for _ in range(2)]
        await until(lambda: slots.in_use == 2, 15, "both slots taken", every_s=0.01)
        headers = {"Authorization": f"Bearer {alice}"}
        async with server.http.post(f"{server.url}/tasks", json=big, headers=headers) as r:
            await refused(r, 429, "this key holds 2 large uploads already, its share")
            assert r.headers["Retry-After"] == "2"
        headers = {"Authorization": f"Bearer {bob}"}
        async with server.http.post(f"{server.url}/tasks", json=big, headers=headers) as r:
            assert r.status == 201, await r.text()
        for writer in stalled:
            writer.close()
        await until(lambda: slots.in_use == 0, 15, "both slots freed", every_s=0.01)


async def test_one_key_holds_at_most_its_share_of_event_streams(settings: Settings) -> None:
    async with serve(limited(settings, max_streams_per_key=2)) as server:
        status, task, _ = await post(server, outcome="hang")
        assert status == 201, task
        events = f"{server.url}/tasks/{task['data']['task_id']}/events"
        async with contextlib.AsyncExitStack() as open_streams:
            first, second = [
                await open_streams.enter_async_context(server.http.get(events)) for _ in range(2)
            ]
            assert (first.status, second.status) == (200, 200)
            async with server.http.get(events) as third:
                await refused(third, 429, "this key holds 2 event streams already, its share")
                assert third.headers["Retry-After"] == "10"
                assert third.headers["X-Rendergate-Limit"] == "share"
            first.close()  # one ends: its slot is free again
            await until(
                lambda: server.services.streams.in_use == 1,
                15,
                "the closed stream to free its slot",
                every_s=0.01,
            )
            async with server.http.get(events) as again:
                assert again.status == 200
