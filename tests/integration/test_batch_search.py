"""GET /batches?q= finds batches by a piece of their name, in any case, on SQLite and
PostgreSQL alike, `%` and `_` taken as themselves; members=false lists them light, each with
the member whose result stands for it (the first kept, else the first completed); another
key's batches are never listed."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from rendergate.config.settings import Settings
from support.api_keys import key_headers
from support.images import make_scene
from support.pg import DATABASES, on_database
from support.server import RunningServer
from support.waiting import until

NAMES = ["Villa, scheme B", "VILLA_2 at 50% off", "Office tower", "villa-c", "axb", "a_b"]


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def create(
    server: RunningServer, name: str, headers: dict[str, str] | None = None, views: int = 1
) -> Any:
    data = aiohttp.FormData()
    for view in range(views):
        image = make_scene(48, 36, seed=view)
        data.add_field("image", image, filename=f"v{view}.png", content_type="image/png")
    data.add_field("name", name)
    async with server.http.post(f"{server.url}/batches", data=data, headers=headers) as response:
        body = await response.json()
        assert response.status == 201, body
        return body["data"]


async def listed(
    server: RunningServer, headers: dict[str, str] | None = None, **query: str
) -> tuple[int, Any]:
    url = f"{server.url}/batches"
    async with server.http.get(url, params=query, headers=headers) as response:
        return response.status, await response.json()


async def names(server: RunningServer, q: str, headers: dict[str, str] | None = None) -> list[str]:
    status, body = await listed(server, headers, q=q, members="false")
    assert status == 200, body
    return [batch["name"] for batch in body["data"]["batches"]]


async def test_a_name_search_is_a_substring_in_any_case_with_no_wildcards(
    server: RunningServer,
) -> None:
    for name in NAMES:
        await create(server, name)
    assert await names(server, "villa") == ["villa-c", "VILLA_2 at 50% off", "Villa, scheme B"]
    assert await names(server, "SCHEME b") == ["Villa, scheme B"]
    assert await names(server, "%") == ["VILLA_2 at 50% off"]
    assert await names(server, "50%") == ["VILLA_2 at 50% off"]
    assert await names(server, "_") == ["a_b", "VILLA_2 at 50% off"]
    assert await names(server, "a_b") == ["a_b"]  # not axb: `_` is no single-character wildcard
    assert await names(server, "/") == []  # the escape character is a character too
    assert await names(server, "") == list(reversed(NAMES))  # no q: every batch
    status, body = await listed(server, q="villa", limit="1")
    assert status == 200 and [b["name"] for b in body["data"]["batches"]] == ["villa-c"]
    cursor = body["data"]["next_cursor"]
    status, body = await listed(server, q="villa", limit="2", cursor=cursor)
    pages = [b["name"] for b in body["data"]["batches"]]
    assert pages == ["VILLA_2 at 50% off", "Villa, scheme B"], body
    assert body["data"]["next_cursor"] is None
    await create(server, "Élan")
    on_sqlite = server.services.settings.database_url is None
    assert await names(server, "élan") == ([] if on_sqlite else ["Élan"])  # SQLite: ASCII case
    assert await names(server, "Élan") == ["Élan"]
    for bad in ("x" * 101, "villa\x00"):
        status, body = await listed(server, q=bad)
        assert status == 422 and body["detail"][0]["loc"] == ["query", "q"], body


async def test_a_light_list_has_no_members_and_a_cover(server: RunningServer) -> None:
    made = await create(server, "Villa, three views", views=3)
    batch_id = made["batch_id"]

    async def ended() -> Any:
        status, body = await listed(server, members="false")
        assert status == 200, body
        batch = body["data"]["batches"][0]
        return batch if batch["status"] not in ("submitted", "processing") else None

    light = await until(ended, 60, f"batch {batch_id} to end")
    status, full = await listed(server)
    assert status == 200, full
    whole = full["data"]["batches"][0]
    assert light["tasks"] == [] and [t["view"] for t in whole["tasks"]] == [0, 1, 2]
    assert light["cover_task_id"] == whole["cover_task_id"] == whole["tasks"][0]["task_id"]
    assert light["status"] == "completed" and light["counts"]["completed"] == 3
    status, _ = await listed(server, members="maybe")
    assert status == 422


async def test_another_keys_batches_are_not_found(
    server: RunningServer, settings: Settings
) -> None:
    mine = await key_headers(server, settings, "architect")
    theirs = await key_headers(server, settings, "another")
    made = await create(server, "Villa of mine", mine)
    assert made["cover_task_id"] is None  # nothing completed yet
    assert await names(server, "villa", mine) == ["Villa of mine"]
    assert await names(server, "villa", theirs) == []
    assert await names(server, "", theirs) == []


async def test_a_kept_member_is_the_cover_before_the_first_completed(
    server: RunningServer,
) -> None:
    batch_id = (await create(server, "Villa, the pick is the cover", views=3))["batch_id"]

    async def ended() -> Any:
        status, body = await listed(server)
        assert status == 200, body
        batch = body["data"]["batches"][0]
        return batch if batch["status"] not in ("submitted", "processing") else None

    first, second, third = [t["task_id"] for t in (await until(ended, 60, "the end"))["tasks"]]

    async def cover(method: str | None = None, task_id: int = 0) -> tuple[int, int]:
        if method:
            url = f"{server.url}/tasks/{task_id}/kept"
            async with server.http.request(method, url) as answer:
                assert answer.status == 200, await answer.text()
        status, light = await listed(server, members="false")
        assert status == 200, light
        async with server.http.get(f"{server.url}/batches/{batch_id}") as answer:
            whole = (await answer.json())["data"]
        return light["data"]["batches"][0]["cover_task_id"], whole["cover_task_id"]

    assert await cover() == (first, first)  # none kept: the first completed
    assert await cover("PUT", third) == (third, third)
    assert await cover("PUT", second) == (second, second)  # the first kept, by view
    assert await cover("DELETE", second) == (third, third)
    assert await cover("DELETE", third) == (first, first)
