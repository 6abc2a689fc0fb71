"""Batches over real HTTP on SQLite and PostgreSQL, on the local engine: several views of
one model, each in several variations, accepted or refused whole, read, listed, zipped."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from typing import Any

import aiohttp
import pytest
from PIL import Image

from rendergate.config.settings import Settings
from support.images import make_scene
from support.pg import DATABASES, on_database
from support.server import RunningServer
from support.waiting import until

VIEWS = [make_scene(96, 72, seed=i) for i in range(3)]
REFERENCE = make_scene(64, 48, seed=9)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def post(server: RunningServer, path: str, **options: Any) -> tuple[int, Any]:
    async with server.http.post(f"{server.url}{path}", **options) as response:
        return response.status, await response.json()


async def get(server: RunningServer, path: str) -> Any:
    async with server.http.get(f"{server.url}{path}") as response:
        assert response.status == 200, await response.text()
        return (await response.json())["data"]


async def finished(server: RunningServer, batch_id: int, timeout_s: float = 60) -> Any:
    async def ended() -> Any:
        batch = await get(server, f"/batches/{batch_id}")
        return batch if batch["status"] not in ("submitted", "processing") else None

    return await until(ended, timeout_s, f"batch {batch_id} to end")


def form(images: list[bytes], **texts: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for i, image in enumerate(images):
        data.add_field("image", image, filename=f"view{i}.png", content_type="image/png")
    for name, value in texts.items():
        data.add_field(name, value)
    return data


async def test_a_batch_of_views_and_variations_completes_as_one_set(server: RunningServer) -> None:
    data = form(VIEWS, type="preview", variations="2", seed="1000", name="house A")
    for angle in ("front", "left side", "aerial"):
        data.add_field("angle", angle)
    data.add_field("reference", REFERENCE, filename="ref.png", content_type="image/png")
    status, answer = await post(server, "/batches", data=data)
    assert status == 201, answer
    batch = answer["data"]
    assert batch["status"] == "submitted" and batch["name"] == "house A"
    assert batch["counts"]["submitted"] == 6 and len(batch["tasks"]) == 6
    places = [(t["view"], t["variation"], t["seed"]) for t in batch["tasks"]]
    assert places == [(v, k, 1000 + k) for v in range(3) for k in range(2)]
    assert {t["batch_id"] for t in batch["tasks"]} == {batch["batch_id"]}
    assert [v["angle"] for v in batch["views"]] == ["front", "left side", "aerial"]
    inputs = server.services.settings.data_dir / "blobs" / "inputs"
    assert len(list(inputs.iterdir())) == 6  # each member's own copy: retention takes each alone
    done = await finished(server, batch["batch_id"])
    assert done["status"] == "completed" and done["progress"] == 100, done
    assert done["counts"]["completed"] == 6
    member = await get(server, f"/tasks/{done['tasks'][0]['task_id']}")
    assert member["batch_id"] == batch["batch_id"] and member["view"] == 0
    results = {}
    for task in done["tasks"]:
        async with server.http.get(f"{server.url}/tasks/{task['task_id']}/image") as response:
            results[(task["view"], task["variation"])] = await response.read()
    assert results[(0, 0)] != results[(0, 1)]  # two seeds, two renders
    async with server.http.get(f"{server.url}/batches/{batch['batch_id']}/archive") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    names = sorted(archive.namelist())
    assert names[:2] == ["view01_front_v1.png", "view01_front_v2.png"]
    assert "view02_left-side_v1.png" in names and len(names) == 6
    assert archive.read("view01_front_v2.png") == results[(0, 1)]


async def test_a_json_batch_takes_views_by_base64_and_by_task(server: RunningServer) -> None:
    status, answer = await post(
        server, "/tasks", json={"type": "preview", "image_base64": b64(VIEWS[0])}
    )
    assert status == 201, answer
    parent = await server.wait_finished(answer["data"]["task_id"], timeout_s=60)
    body = {
        "type": "preview",
        "views": [
            {"image_base64": b64(VIEWS[1]), "angle": "front"},
            {"image_task_id": parent["task_id"]},
        ],
        "params": {"strength": 0.5},
    }
    status, answer = await post(server, "/batches", json=body)
    assert status == 201, answer
    tasks = answer["data"]["tasks"]
    assert tasks[1]["parent_task_id"] == parent["task_id"]
    assert all(t["params"]["strength"] == 0.5 for t in tasks)
    assert (await finished(server, answer["data"]["batch_id"]))["status"] == "completed"
    listed = await get(server, "/batches")
    assert [b["batch_id"] for b in listed["batches"]] == [answer["data"]["batch_id"]]


async def count_tasks(server: RunningServer) -> int:
    return len((await get(server, "/tasks?limit=100"))["tasks"])


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"views": []}, "views", "at least 1"),
        ({"views": [{"image_base64": "x"}] * 13}, "views", "at most 12"),
        ({"views": [{}]}, "views.0", "exactly one of image_base64"),
        ({"views": [{"image_base64": b64(VIEWS[0])}], "variations": 5}, "variations", "4"),
        ({"views": [{"image_base64": b64(VIEWS[0])}], "type": "nope"}, "type", "unknown type"),
    ],
)
async def test_a_bad_batch_is_refused_whole_and_stores_nothing(
    server: RunningServer, body: dict[str, Any], field: str, says: str
) -> None:
    status, answer = await post(server, "/batches", json=body)
    assert status == 422, answer
    detail = answer["detail"][0]
    assert detail["loc"][-1] == field, detail
    assert says in detail["msg"], detail
    assert await count_tasks(server) == 0
    assert (await get(server, "/batches"))["batches"] == []


async def test_one_bad_image_refuses_the_batch_and_stores_nothing(server: RunningServer) -> None:
    views = [{"image_base64": b64(VIEWS[0])}, {"image_base64": b64(b"not a png")}]
    status, answer = await post(server, "/batches", json={"views": views, "variations": 2})
    assert status == 415, answer
    assert "image is not an image we can read" in answer["msg"]
    assert await count_tasks(server) == 0
    assert (await get(server, "/batches"))["batches"] == []
    stored = server.services.settings.data_dir / "blobs" / "inputs"
    assert not stored.exists() or not any(stored.iterdir())


async def test_an_unknown_batch_is_not_found(server: RunningServer) -> None:
    status, _ = await post(server, "/batches", json={"views": [{"image_base64": b64(VIEWS[0])}]})
    assert status == 201
    async with server.http.get(f"{server.url}/batches/12345") as response:
        assert response.status == 404


async def test_a_batchs_stream_tells_each_member_and_ends_with_the_batch(
    server: RunningServer,
) -> None:
    body = {"type": "preview", "views": [{"image_base64": b64(v)} for v in VIEWS[:2]]}
    status, answer = await post(server, "/batches", json=body)
    assert status == 201, answer
    batch_id = answer["data"]["batch_id"]
    events = await followed(server, batch_id)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "batch.completed", kinds
    assert events[-1][1]["progress"] == 100 and events[-1][1]["counts"]["completed"] == 2
    done = {data["task_id"] for kind, data in events if kind == "task.completed"}
    assert done == {t["task_id"] for t in answer["data"]["tasks"]}
    async with server.http.get(f"{server.url}/batches/1/events") as response:
        assert response.status == 404


async def followed(
    server: RunningServer, batch_id: int, headers: dict[str, str] | None = None
) -> list[tuple[str, Any]]:
    """The batch's event stream, read to its end: (event, data) in order."""
    events: list[tuple[str, Any]] = []
    url = f"{server.url}/batches/{batch_id}/events"
    timeout = aiohttp.ClientTimeout(total=60)
    async with server.http.get(url, headers=headers, timeout=timeout) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        await read_frames(response, events)
    return events


async def read_frames(response: aiohttp.ClientResponse, into: list[tuple[str, Any]]) -> None:
    """An event stream's (event, data) frames, appended to `into` as they come, to its end."""
    event = ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            into.append((event, json.loads(line.removeprefix("data: "))))


async def test_a_batch_with_then_ends_only_when_every_chain_has(server: RunningServer) -> None:
    data = form(VIEWS[:2], type="preview", then="upscale", name="with upscale")
    status, answer = await post(server, "/batches", data=data)
    assert status == 201, answer
    assert answer["data"]["then"] == [{"type": "upscale", "params": {"scale": 2}}]
    done = await finished(server, answer["data"]["batch_id"])
    assert done["status"] == "completed" and done["counts"]["completed"] == 4, done
    steps = [t for t in done["tasks"] if t["parent_task_id"] is not None]
    assert [(t["type"], t["view"], t["variation"]) for t in steps] == [
        ("upscale", 0, 0),
        ("upscale", 1, 0),
    ]
    parents = {t["task_id"]: t for t in done["tasks"] if t["parent_task_id"] is None}
    assert all(step["parent_task_id"] in parents for step in steps)
    async with server.http.get(f"{server.url}/batches/{done['batch_id']}/archive") as response:
        archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    names = sorted(archive.namelist())
    assert names == [
        "view01_v1.png",
        "view01_v1_upscale.png",
        "view02_v1.png",
        "view02_v1_upscale.png",
    ]
    small = Image.open(io.BytesIO(archive.read("view01_v1.png")))
    large = Image.open(io.BytesIO(archive.read("view01_v1_upscale.png")))
    assert large.size == (small.width * 2, small.height * 2)
