"""API + worker + SQLite + providers, end to end over real HTTP."""

from __future__ import annotations

import base64
import io

from PIL import Image

from rendergate.providers.fake import FakeProvider
from support.images import make_reference, make_scene
from support.server import RunningServer


async def _create(server: RunningServer, **fields: object) -> dict[str, object]:
    async with server.http.post(f"{server.url}/tasks", json=fields) as response:
        body = await response.json()
        assert response.status == 201, body
        assert body["code"] == 0
        return body["data"]  # type: ignore[no-any-return]


async def test_preview_completes_with_a_stored_result(server: RunningServer) -> None:
    scene = make_scene(320, 240)
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("image", scene, filename="shot.png", content_type="image/png")
    form.add_field("reference", make_reference(), filename="ref.jpg", content_type="image/jpeg")
    form.add_field("type", "preview")
    form.add_field("angle", "front")
    async with server.http.post(f"{server.url}/tasks", data=form) as response:
        created = (await response.json())["data"]
        assert response.status == 201
    assert created["status"] == "submitted"
    assert created["image"] == {"image_base64": "", "image_url": ""}
    assert 2**40 <= created["task_id"] < 2**53

    progress_seen: list[int] = []

    def done(task: dict[str, object]) -> bool:
        progress_seen.append(int(task["progress"]))  # type: ignore[call-overload]
        return task["status"] == "completed"

    await server.wait_for(created["task_id"], done)
    assert progress_seen == sorted(progress_seen), "progress moved backwards"
    task = await server.get_task(created["task_id"])
    assert task["progress"] == 100 and task["error_message"] == ""
    assert task["provider_job_id"] == ""  # the local engine's jobs are ours, not a desk's
    assert task["image"]["image_url"] == f"{server.url}/tasks/{created['task_id']}/image"
    result = base64.b64decode(task["image"]["image_base64"])
    assert Image.open(io.BytesIO(result)).size == (320, 240)
    async with server.http.get(task["image"]["image_url"]) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        assert await response.read() == result
        etag = response.headers["ETag"]
        assert etag == f'"{created["task_id"]}-0"'
        assert response.headers["Content-Disposition"] == (
            f'inline; filename="{created["task_id"]}-0.png"'
        )
        assert "immutable" in response.headers["Cache-Control"]
    async with server.http.get(
        task["image"]["image_url"], headers={"If-None-Match": etag}
    ) as response:
        assert response.status == 304 and await response.read() == b""
    light = await server.get_task(created["task_id"], include_base64="false")
    assert light["image"]["image_base64"] == "" and light["image"]["image_url"]


async def test_fake_provider_failure_is_reported(server: RunningServer) -> None:
    image = base64.b64encode(make_scene(64, 48)).decode()
    created = await _create(
        server,
        type="fake",
        image_base64=image,
        params={"fake": {"outcome": "fail", "error": "node 9 exploded"}},
    )
    task = await server.wait_finished(created["task_id"])
    assert task["status"] == "failed"
    assert "node 9 exploded" in task["error_message"]
    assert task["image"] == {"image_base64": "", "image_url": ""}


async def test_lost_job_is_submitted_again(server: RunningServer) -> None:
    image = base64.b64encode(make_scene(64, 48)).decode()
    created = await _create(
        server, type="fake", image_base64=image, params={"fake": {"lose_first": True}}
    )
    task = await server.wait_finished(created["task_id"])
    assert task["status"] == "completed"
    assert task["attempts"] == 2
    fake = server.services.providers["fake"]
    assert isinstance(fake, FakeProvider)
    assert [r.attempt for r in fake.submitted] == [1, 2]


async def test_cancel_stops_a_running_task(server: RunningServer) -> None:
    image = base64.b64encode(make_scene(64, 48)).decode()
    created = await _create(
        server, type="fake", image_base64=image, params={"fake": {"outcome": "hang"}}
    )
    await server.wait_for(created["task_id"], lambda t: t["status"] == "processing")
    async with server.http.post(f"{server.url}/tasks/{created['task_id']}/cancel") as response:
        assert response.status == 200
        assert (await response.json())["data"]["status"] == "canceled"
    fake = server.services.providers["fake"]
    assert isinstance(fake, FakeProvider)
    # the API asks the provider to stop, and so may the tracking loop if it polls in
    # between: twice is harmless (a cancel is idempotent upstream), a job left running is not
    assert set(fake.canceled) == {f"fake-{created['task_id']}-1"}
    async with server.http.post(f"{server.url}/tasks/{created['task_id']}/cancel") as response:
        assert response.status == 409
    task = await server.get_task(created["task_id"])
    assert task["status"] == "canceled"


async def test_deadline_fails_a_stuck_task(server: RunningServer) -> None:
    image = base64.b64encode(make_scene(64, 48)).decode()
    created = await _create(
        server, type="fake_short", image_base64=image, params={"fake": {"outcome": "hang"}}
    )
    task = await server.wait_finished(created["task_id"], timeout_s=10)
    assert task["status"] == "failed"
    assert task["error_message"] == "timed out after 1 s"


async def test_an_adapter_bug_fails_the_task_instead_of_leaving_it_stuck(
    server: RunningServer,
) -> None:
    image = base64.b64encode(make_scene(64, 48)).decode()
    created = await _create(
        server, type="fake", image_base64=image, params={"fake": {"crash": True}}
    )
    task = await server.wait_finished(created["task_id"])
    assert task["status"] == "failed"
    assert task["error_message"] == (
        "internal error while running the task (RuntimeError); see the server log"
    )
    async with server.http.get(f"{server.url}/healthz") as response:
        assert response.status == 200
