"""What a batch is held to as a whole: the key's limits count every member, an
Idempotency-Key covers the batch, a preset gives every member its look, and another key's
batch is not there."""

from __future__ import annotations

import base64
from typing import Any

from test_limits import limited
from test_presets import add_key

from rendergate.config.settings import Settings
from support.images import make_scene
from support.server import RunningServer, serve

IMAGE = base64.b64encode(make_scene(48, 36)).decode()
HANG = {"fake": {"outcome": "hang"}}


def body(views: int = 2, **fields: Any) -> dict[str, Any]:
    return {"views": [{"image_base64": IMAGE}] * views, "type": "fake", "params": HANG} | fields


async def call(
    server: RunningServer, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[int, Any, Any]:
    async with server.http.request(method, f"{server.url}{path}", headers=headers, **kw) as r:
        return r.status, await r.json(), r.headers


async def task_count(server: RunningServer) -> int:
    return len((await call(server, "GET", "/tasks?limit=100"))[1]["data"]["tasks"])


async def test_the_in_flight_limit_counts_every_member(settings: Settings) -> None:
    async with serve(limited(settings, max_in_flight_per_key=5)) as server:
        status, answer, _ = await call(server, "POST", "/batches", json=body(3, variations=2))
        assert status == 429, answer
        assert "limit of tasks in flight is 5; these 6 tasks do not fit" in answer["msg"]
        assert await task_count(server) == 0
        status, answer, _ = await call(server, "POST", "/batches", json=body(2, variations=2))
        assert status == 201, answer
        status, answer, _ = await call(server, "POST", "/batches", json=body(2))
        assert status == 429 and "has 4 unfinished tasks" in answer["msg"], answer
        assert await task_count(server) == 4


async def test_the_rate_limit_counts_every_member(settings: Settings) -> None:
    async with serve(limited(settings, rate_limit_per_minute=5)) as server:
        status, answer, _ = await call(server, "POST", "/batches", json=body(6))
        assert status == 429, answer
        assert answer["msg"].startswith("6 tasks at once is over this key's limit of 5")
        assert (await call(server, "POST", "/batches", json=body(4)))[0] == 201
        status, answer, headers = await call(server, "POST", "/batches", json=body(2))
        assert status == 429 and 1 <= int(headers["Retry-After"]) <= 60, answer
        assert await task_count(server) == 4


async def test_an_idempotency_key_covers_the_whole_batch(server: RunningServer) -> None:
    key = {"Idempotency-Key": "villa-b-1"}
    status, first, _ = await call(server, "POST", "/batches", key, json=body(3))
    assert status == 201, first
    status, again, headers = await call(server, "POST", "/batches", key, json=body(3))
    assert status == 201 and headers["Idempotent-Replayed"] == "true", again
    assert again["data"]["batch_id"] == first["data"]["batch_id"]
    assert [t["task_id"] for t in again["data"]["tasks"]] == [
        t["task_id"] for t in first["data"]["tasks"]
    ]
    status, other, _ = await call(server, "POST", "/batches", key, json=body(2))
    assert status == 422 and "different request" in other["detail"][0]["msg"], other
    assert await task_count(server) == 3
    listed = (await call(server, "GET", "/batches"))[1]["data"]["batches"]
    assert len(listed) == 1


async def test_a_preset_gives_every_member_its_app_params_and_reference(
    server: RunningServer,
) -> None:
    fields = {"type": "", "params": {}, "preset": "dusk"}
    status, answer, _ = await call(server, "POST", "/batches", json=body(2, **fields))
    assert status == 201, answer
    batch = answer["data"]
    assert (batch["type"], batch["preset"], batch["preset_version"]) == ("preview", "dusk", 1)
    for member in batch["tasks"]:
        assert (member["type"], member["preset"], member["params"]["strength"]) == (
            "preview",
            "dusk",
            0.9,
        )
        stored = server.services.settings.data_dir / "blobs" / "inputs" / str(member["task_id"])
        assert sorted(p.stem for p in stored.iterdir()) == ["image", "reference"]


async def test_another_keys_batch_is_not_found(settings: Settings, server: RunningServer) -> None:
    alice = await add_key(settings, server, "alice")
    bob = await add_key(settings, server, "bob")
    status, answer, _ = await call(server, "POST", "/batches", alice, json=body(1))
    assert status == 201, answer
    batch_id = answer["data"]["batch_id"]
    for method, path in [
        ("GET", f"/batches/{batch_id}"),
        ("POST", f"/batches/{batch_id}/cancel"),
        ("POST", f"/batches/{batch_id}/retry"),
        ("GET", f"/batches/{batch_id}/archive"),
        ("GET", f"/batches/{batch_id}/events"),
    ]:
        status, said, _ = await call(server, method, path, bob)
        assert (status, said["msg"]) == (404, f"batch {batch_id} not found"), (method, path)
    assert (await call(server, "GET", "/batches", bob))[1]["data"]["batches"] == []
    status, mine, _ = await call(server, "GET", f"/batches/{batch_id}", alice)
    assert status == 200 and mine["data"]["tasks"][0]["status"] in ("submitted", "processing")


async def test_batches_are_listed_newest_first_page_by_page(server: RunningServer) -> None:
    made = []
    for _ in range(3):
        status, answer, _ = await call(server, "POST", "/batches", json=body(1))
        assert status == 201, answer
        made.append(answer["data"]["batch_id"])
    status, first, _ = await call(server, "GET", "/batches?limit=2")
    assert status == 200 and first["data"]["next_cursor"], first
    cursor = first["data"]["next_cursor"]
    status, second, _ = await call(server, "GET", f"/batches?limit=2&cursor={cursor}")
    assert status == 200 and second["data"]["next_cursor"] is None, second
    listed = [b["batch_id"] for b in first["data"]["batches"] + second["data"]["batches"]]
    assert listed == made[::-1]  # newest first, each once
    status, refused, _ = await call(server, "GET", "/batches?cursor=nonsense")
    assert status == 422 and refused["detail"][0]["loc"] == ["query", "cursor"], refused
