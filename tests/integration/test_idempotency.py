"""Idempotent create over real HTTP: a retried POST /tasks with the same Idempotency-Key
gives back the first task; another request under the key, or a duplicate still being
processed, is told so; keys belong to one API key."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from typing import Any

from rendergate.config.settings import Settings
from rendergate.services.create_checks import Upload
from rendergate.services.creating import NewTask
from rendergate.services.idempotency import fingerprint
from support.images import make_scene
from support.server import RunningServer, serve


def body(seed: int = 0) -> dict[str, Any]:
    image = base64.b64encode(make_scene(32 + seed, 24)).decode()
    return {"type": "fake", "image_base64": image}


async def post(
    server: RunningServer, json: dict[str, Any], key: str | None
) -> tuple[int, Any, str | None]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    async with server.http.post(f"{server.url}/tasks", json=json, headers=headers) as response:
        return response.status, await response.json(), response.headers.get("Idempotent-Replayed")


async def listed(server: RunningServer) -> list[int]:
    async with server.http.get(f"{server.url}/tasks?limit=100") as response:
        return [t["task_id"] for t in (await response.json())["data"]["tasks"]]


async def test_a_retried_create_gives_back_the_first_task(settings: Settings) -> None:
    async with serve(settings) as server:
        first = await post(server, body(), "order-17")
        again = await post(server, body(), "order-17")
        assert first[0] == again[0] == 201, (first, again)
        assert again[1]["data"]["task_id"] == first[1]["data"]["task_id"]
        assert (first[2], again[2]) == (None, "true")
        assert await listed(server) == [first[1]["data"]["task_id"]]


async def test_the_same_key_with_another_request_is_refused(settings: Settings) -> None:
    async with serve(settings) as server:
        assert (await post(server, body(0), "order-18"))[0] == 201
        status, refused, _ = await post(server, body(1), "order-18")
        assert status == 422, refused
        [detail] = refused["detail"]
        assert detail["loc"] == ["header", "Idempotency-Key"]
        assert "used with a different request" in detail["msg"]
        assert len(await listed(server)) == 1


async def test_a_refused_request_releases_its_key(settings: Settings) -> None:
    async with serve(settings) as server:
        status, _, _ = await post(server, {**body(), "type": "nope"}, "order-19")
        assert status == 422
        status, created, replayed = await post(server, body(), "order-19")  # corrected
        assert status == 201 and replayed is None, created


async def test_concurrent_duplicates_make_one_task(settings: Settings) -> None:
    async with serve(settings) as server:
        answers = await asyncio.gather(*(post(server, body(), "order-20") for _ in range(10)))
        statuses = sorted(status for status, _, _ in answers)
        assert set(statuses) <= {201, 409}, answers
        created = {a[1]["data"]["task_id"] for a in answers if a[0] == 201}
        assert len(created) == 1, answers
        assert [a[2] for a in answers if a[0] == 201].count(None) == 1  # one made it, once
        for status, refused, _ in answers:
            if status == 409:
                assert "still being processed" in refused["msg"]
        assert await listed(server) == list(created)
        later = await post(server, body(), "order-20")
        assert later[0] == 201 and later[2] == "true"


async def test_a_retry_that_changes_the_deadline_is_refused(settings: Settings) -> None:
    async with serve(settings) as server:
        assert (await post(server, {**body(), "deadline_s": 10}, "order-21"))[0] == 201
        status, refused, _ = await post(server, {**body(), "deadline_s": 20}, "order-21")
        assert status == 422, refused
        assert "used with a different request" in refused["detail"][0]["msg"]
        assert len(await listed(server)) == 1


def test_the_fingerprint_covers_what_the_task_will_do() -> None:
    first = NewTask(app="fake", uploads=(Upload(role="image", data=b"png"),))
    changed = [
        dataclasses.replace(first, webhook_url="https://hooks.example/a"),
        dataclasses.replace(first, webhook_events=("task.completed",)),
        dataclasses.replace(first, deadline_s=5.0),
    ]
    assert len({fingerprint(request) for request in [first, *changed]}) == 4
    assert fingerprint(dataclasses.replace(first)) == fingerprint(first)
