"""A task's stored inputs (GET /tasks/{id}/input) and its images at a small width (GET
/tasks/{id}/thumbnail), over real HTTP on real files: the bytes sent come back, a task made
from a result names it, thumbnails keep the aspect and never enlarge, are made once and then
read back from storage, and go with the task's files when retention removes them."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

from PIL import Image

from rendergate.config.settings import Settings, load_settings
from rendergate.services import retention
from support.api_keys import key_headers
from support.images import make_reference, make_scene
from support.server import RunningServer, serve

SCENE = make_scene(400, 300, seed=3)  # 4:3, as a SketchUp view
TALL = make_scene(300, 500, seed=4)
REFERENCE = make_reference(160, 120)
DUE_AT_ONCE = 1e-9  # retention days: every finished task is due


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def fetch(
    server: RunningServer, path: str, headers: dict[str, str] | None = None, **query: Any
) -> tuple[int, bytes, Any]:
    url = f"{server.url}/tasks/{path}"
    async with server.http.get(url, params=query, headers=headers) as response:
        return response.status, await response.read(), response.headers


def made(server: RunningServer, outcome: str) -> float:
    value = server.services.metrics.registry.get_sample_value(
        "rendergate_thumbnails_total", {"outcome": outcome}
    )
    return value or 0.0


async def test_input_answers_the_screenshot_and_reference_as_sent(server: RunningServer) -> None:
    task = await server.completed({"image_base64": b64(SCENE), "reference_base64": b64(REFERENCE)})
    status, body, headers = await fetch(server, f"{task['task_id']}/input")
    assert (status, body, headers["Content-Type"]) == (200, SCENE, "image/png")
    assert headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert "Link" not in headers
    status, body, headers = await fetch(server, f"{task['task_id']}/input", role="reference")
    assert (status, body, headers["Content-Type"]) == (200, REFERENCE, "image/jpeg")
    again = {"If-None-Match": headers["ETag"]}
    status, body, _ = await fetch(server, f"{task['task_id']}/input", again, role="reference")
    assert (status, body) == (304, b"")
    plain = await server.completed({"image_base64": b64(SCENE)})
    status, body, _ = await fetch(server, f"{plain['task_id']}/input", role="reference")
    assert status == 404 and f"task {plain['task_id']} has no reference input" in body.decode()
    status, _, _ = await fetch(server, f"{plain['task_id']}/input", role="mask")
    assert status == 422


async def test_a_task_made_from_a_result_answers_that_result(server: RunningServer) -> None:
    render = await server.completed({"image_base64": b64(SCENE)})
    up = await server.completed(
        {"type": "upscale", "image_task_id": render["task_id"], "params": {"scale": 2}}
    )
    status, body, headers = await fetch(server, f"{up['task_id']}/input")
    assert status == 200 and body == await server.result(render["task_id"])
    parent = f"{server.url}/tasks/{render['task_id']}/image?index=0"
    assert headers["Link"] == f'<{parent}>; rel="via"'


async def test_thumbnails_keep_the_aspect_and_never_enlarge(server: RunningServer) -> None:
    wide = await server.completed({"image_base64": b64(SCENE)})
    tall = await server.completed({"image_base64": b64(TALL)})
    sizes = {}
    for task, role in ((wide, "result"), (wide, "image"), (tall, "result")):
        for width in (160, 320, 640, 1280):
            status, body, headers = await fetch(
                server, f"{task['task_id']}/thumbnail", width=width, role=role
            )
            assert status == 200, body
            assert headers["Content-Type"] == "image/webp"
            assert headers["ETag"] == f'"{task["task_id"]}-{role}-0-w{width}"'
            image = Image.open(io.BytesIO(body))
            assert image.format == "WEBP"
            sizes[task is tall, role, width] = image.size
    assert [sizes[False, "result", w] for w in (160, 320, 640, 1280)] == [
        (160, 120),
        (320, 240),
        (400, 300),  # the result is 400 wide: not enlarged
        (400, 300),
    ]
    assert sizes[False, "image", 320] == (320, 240)
    assert [sizes[True, "result", w] for w in (160, 320)] == [(160, 267), (300, 500)]


async def test_what_cannot_be_had_is_refused(server: RunningServer, settings: Settings) -> None:
    task = await server.completed({"image_base64": b64(SCENE)})
    thumbnail = f"{task['task_id']}/thumbnail"
    status, body, _ = await fetch(server, thumbnail, width=200)
    assert status == 422 and b"width" in body
    status, body, _ = await fetch(server, thumbnail)
    assert status == 422 and b"width" in body  # no default: the page says which it shows
    status, body, _ = await fetch(server, thumbnail, width=160, role="image", index=1)
    assert status == 422 and b"index is for role=result" in body
    status, body, _ = await fetch(server, thumbnail, width=160, index=1)
    assert status == 404 and b"none at index 1" in body
    status, _, _ = await fetch(server, "12345/thumbnail", width=160)
    assert status == 404
    status, _, _ = await fetch(server, f"{task['task_id']}/thumbnail", width=160, role="reference")
    assert status == 404
    mine = await key_headers(server, settings, "architect")
    theirs = await key_headers(server, settings, "another")
    async with server.http.post(
        f"{server.url}/tasks", json={"image_base64": b64(SCENE)}, headers=mine
    ) as response:
        assert response.status == 201
        owned = (await response.json())["data"]["task_id"]
    inputs = {"role": "image"}  # there at once, while the task may still run
    for path, query in (
        (f"{owned}/input", inputs),
        (f"{owned}/thumbnail", {"width": 160, **inputs}),
    ):
        status, body, _ = await fetch(server, path, theirs, **query)
        assert status == 404 and f"task {owned} not found" in body.decode(), body
        status, _, _ = await fetch(server, path, mine, **query)
        assert status == 200
    assert made(server, "made") == 1  # the refused ones made none


async def test_a_thumbnail_is_made_once_then_read_back(server: RunningServer) -> None:
    task = await server.completed({"image_base64": b64(SCENE)})
    path = f"{task['task_id']}/thumbnail"
    stored = server.services.settings.data_dir / "blobs" / "thumbnails" / str(task["task_id"])
    first, second = await asyncio.gather(
        fetch(server, path, width=320), fetch(server, path, width=320)
    )
    assert made(server, "made") == 1  # two at once: one making, shared
    assert [p.name for p in stored.iterdir()] == ["result-0-w320.webp"]
    status, body, headers = await fetch(server, path, width=320)
    assert (first[0], second[0], status) == (200, 200, 200)
    assert first[1] == second[1] == body == (stored / "result-0-w320.webp").read_bytes()
    assert (made(server, "made"), made(server, "stored")) == (1, 1)
    status, body, _ = await fetch(server, path, {"If-None-Match": headers["ETag"]}, width=320)
    assert (status, body) == (304, b"")


async def test_retention_removes_the_thumbnails_with_the_files(settings: Settings) -> None:
    live = load_settings(
        data_dir=settings.data_dir, apps_file=settings.apps_file, retention_days=DUE_AT_ONCE
    )
    async with serve(live) as server:
        task = await server.completed(
            {"image_base64": b64(SCENE), "reference_base64": b64(REFERENCE)}
        )
        task_id = task["task_id"]
        for role in ("result", "image", "reference"):
            for width in (160, 640):
                status, _, _ = await fetch(server, f"{task_id}/thumbnail", width=width, role=role)
                assert status == 200
        blobs = live.data_dir / "blobs"
        assert len(list((blobs / "thumbnails" / str(task_id)).iterdir())) == 6
        pruning = server.services.unpack(retention.Pruning, retention_days=DUE_AT_ONCE)
        pruned = await retention.prune(pruning)
        assert [t.task_id for t in pruned.tasks] == [task_id]
        assert not [p for p in blobs.rglob("*") if p.is_file()]
        for path, query in ((f"{task_id}/input", {}), (f"{task_id}/thumbnail", {"width": 160})):
            status, body, _ = await fetch(server, path, **query)
            assert status == 410 and f"inputs and results of task {task_id} were removed" in (
                body.decode()
            )
