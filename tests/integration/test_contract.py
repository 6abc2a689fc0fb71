"""Seed 004: real GET /tasks/{task_id} responses validated against the user's OpenAPI document."""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import stamina
import yaml
from jsonschema import Draft202012Validator
from PIL import Image

from rendergate.config.settings import Settings
from rendergate.providers.fake import FakeProvider
from support.images import make_png, make_reference, make_scene
from support.logs import captured_logs
from support.server import RunningServer

SEED = Path(__file__).parents[1] / "contract" / "004_4305f8b8e97f0845.txt"
SHARED_SEED = Path(__file__).parents[3] / "shared" / "seeds" / SEED.name
PY_TYPES: dict[str, type] = {"integer": int, "string": str, "object": dict}


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: drop vendor (x-*) keys, turn `nullable` into a type."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if not k.startswith("x-")}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    out.pop("example", None)
    return out


@cache
def _operation() -> dict[str, Any]:
    match = re.search(r"```yaml\n(.*?)```", SEED.read_text(encoding="utf-8"), re.DOTALL)
    assert match is not None, "the seed has no ```yaml block"
    operation: dict[str, Any] = yaml.safe_load(match.group(1))["paths"]["/tasks/{task_id}"]["get"]
    return operation


@cache
def _schema(status: str) -> dict[str, Any]:
    raw = _operation()["responses"][status]["content"]["application/json"]["schema"]
    schema: dict[str, Any] = _json_schema(raw)
    Draft202012Validator.check_schema(schema)
    return schema


def _statuses() -> set[str]:
    """The status table in the seed's description, plus `canceled`, which rendergate adds."""
    table = re.findall(r"^\|\s*([a-z_]+)\s*\|", _operation()["description"], re.MULTILINE)
    assert table == ["submitted", "processing", "completed", "failed"]
    return {*table, "canceled"}


def _errors(status: str, body: Any) -> list[str]:
    return [e.message for e in Draft202012Validator(_schema(status)).iter_errors(body)]


def _check_task(data: dict[str, Any]) -> None:
    """What the seed's schema cannot say: exact types, value ranges, emptiness before completion."""
    schema = _schema("200")["properties"]["data"]
    assert not [e.message for e in Draft202012Validator(schema).iter_errors(data)]
    for name in schema["required"]:
        expected = PY_TYPES[schema["properties"][name]["type"]]
        assert type(data[name]) is expected, f"{name} is {type(data[name]).__name__}"
    image = data["image"]
    assert type(image["image_base64"]) is str and type(image["image_url"]) is str
    assert 0 < data["task_id"] < 2**53
    assert data["status"] in _statuses()
    assert 0 <= data["progress"] <= 100
    if data["status"] != "completed":
        assert image == {"image_base64": "", "image_url": ""}
    if data["status"] in ("submitted", "processing", "completed"):
        assert data["error_message"] == ""


async def _get(http: aiohttp.ClientSession, url: str, **query: str) -> tuple[int, Any]:
    async with http.get(url, params=query) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


def test_the_seed_schemas_can_fail() -> None:
    data: dict[str, Any] = {"task_id": 1, "status": "submitted", "progress": 0, "type": "x"}
    data |= {"angle": "", "error_message": "", "image": {"image_base64": "", "image_url": ""}}
    good: dict[str, Any] = {"code": 0, "msg": "success", "data": data}
    assert _errors("200", good) == []
    assert _errors("200", {**good, "data": {**good["data"], "task_id": "1"}})
    assert _errors("200", {**good, "data": {**good["data"], "image": {}}})
    assert _errors("404", {"code": 404, "msg": "x", "data": {}})
    assert _errors("500", {"code": 500, "msg": "x"})
    assert _errors("422", {"detail": [{"loc": [None], "msg": "x", "type": "y"}]})
    assert not any("x-apifox" in str(_schema(s)) for s in ("200", "404", "422", "500"))


def test_the_seed_copy_matches_the_shared_seed() -> None:
    if not SHARED_SEED.exists():
        pytest.skip(f"{SHARED_SEED} is not beside the repository")
    assert SEED.read_bytes() == SHARED_SEED.read_bytes()


async def test_a_submitted_task_matches_the_seed(server: RunningServer) -> None:
    """A task stays `submitted` while its provider refuses it as busy and the worker backs off."""
    stamina.set_testing(False)  # real back-off: 5 attempts take 1.5 s at the very least
    try:
        image = base64.b64encode(make_png()).decode()
        fake = server.services.providers["fake"]
        assert isinstance(fake, FakeProvider)
        busy = {"fake": {"busy_submits": 1000}}
        task = {"type": "fake", "angle": "front", "image_base64": image, "params": busy}
        async with server.http.post(f"{server.url}/tasks", json=task) as response:
            assert response.status == 201
            task_id = (await response.json())["data"]["task_id"]
        await server.wait_for(task_id, lambda _: fake.submit_calls >= 1)
        url = f"{server.url}/tasks/{task_id}"
        for query in ({}, {"include_base64": "false"}):
            status, body = await _get(server.http, url, **query)
            assert status == 200 and _errors("200", body) == []
            assert body["code"] == 0 and body["msg"] == "success"
            _check_task(body["data"])
            assert body["data"]["task_id"] == task_id
            assert body["data"]["status"] == "submitted" and body["data"]["progress"] == 0
            assert (body["data"]["type"], body["data"]["angle"]) == ("fake", "front")
        async with server.http.post(f"{url}/cancel") as response:
            assert response.status == 200
        status, body = await _get(server.http, url)
        assert status == 200 and _errors("200", body) == []
        _check_task(body["data"])
        assert body["data"]["status"] == "canceled"
    finally:
        stamina.set_testing(True, attempts=3)


async def test_a_completed_task_matches_the_seed(server: RunningServer) -> None:
    form = aiohttp.FormData()
    form.add_field("image", make_scene(160, 120), filename="s.png", content_type="image/png")
    form.add_field("reference", make_reference(), filename="r.jpg", content_type="image/jpeg")
    form.add_field("type", "preview")
    async with server.http.post(f"{server.url}/tasks", data=form) as response:
        assert response.status == 201
        task_id = (await response.json())["data"]["task_id"]

    seen: list[dict[str, Any]] = []

    def done(task: dict[str, Any]) -> bool:
        _check_task(task)  # every state on the way must match the seed too
        seen.append(task)
        return task["status"] in ("completed", "failed", "canceled")

    await server.wait_for(task_id, done)
    assert seen[-1]["status"] == "completed", seen[-1]
    assert [t["progress"] for t in seen] == sorted(t["progress"] for t in seen)

    url = f"{server.url}/tasks/{task_id}"
    status, full = await _get(server.http, url)
    assert status == 200 and _errors("200", full) == []
    data = full["data"]
    _check_task(data)
    assert data["progress"] == 100 and data["error_message"] == ""
    assert data["image"]["image_url"] == f"{url}/image"
    png = base64.b64decode(data["image"]["image_base64"], validate=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(png)).size == (160, 120)
    async with server.http.get(data["image"]["image_url"]) as response:
        assert response.status == 200 and response.content_type == "image/png"
        assert await response.read() == png

    status, light = await _get(server.http, url, include_base64="false")
    assert status == 200 and _errors("200", light) == []
    _check_task(light["data"])
    assert light["data"]["image"] == {"image_base64": "", "image_url": f"{url}/image"}


@pytest.mark.parametrize("query", [{}, {"include_base64": "false"}])
async def test_an_unknown_task_is_a_seed_404(server: RunningServer, query: dict[str, str]) -> None:
    status, body = await _get(server.http, f"{server.url}/tasks/1234567890123", **query)
    assert status == 404 and _errors("404", body) == []
    assert body == {"code": 404, "msg": "task 1234567890123 not found", "data": None}


@pytest.mark.parametrize(
    ("task_id", "kind"),
    [("abc", "int_parsing"), ("1.5", "int_parsing"), (str(2**53), "less_than_equal")],
)
async def test_a_bad_task_id_is_a_seed_422(server: RunningServer, task_id: str, kind: str) -> None:
    status, body = await _get(server.http, f"{server.url}/tasks/{task_id}")
    assert status == 422 and _errors("422", body) == []
    assert [(d["loc"], d["type"]) for d in body["detail"]] == [(["path", "task_id"], kind)]
    assert body["detail"][0]["msg"]


async def _finished_fake_task(server: RunningServer, outcome: str = "succeed") -> int:
    image = base64.b64encode(make_png()).decode()
    body = {"type": "fake", "image_base64": image, "params": {"fake": {"outcome": outcome}}}
    async with server.http.post(f"{server.url}/tasks", json=body) as response:
        assert response.status == 201
        task_id: int = (await response.json())["data"]["task_id"]
    await server.wait_finished(task_id)
    return task_id


async def test_a_lost_result_file_answers_the_task_without_it(
    server: RunningServer, settings: Settings
) -> None:
    """The task exists but our storage lost its result (deleted by hand, a lost bucket): GET
    answers the task, in the seed's shape, without its image and saying why; the image route
    answers 410. Never a 500, and never a 404 (the seed's for a task that does not exist)."""
    task_id = await _finished_fake_task(server)
    results = [p for p in (settings.data_dir / "blobs").rglob("*") if p.is_file()]
    results = [p for p in results if "results" in p.parts]
    assert len(results) == 1, results
    results[0].unlink()
    url = f"{server.url}/tasks/{task_id}"
    status, body = await _get(server.http, url)
    assert status == 200 and _errors("200", body) == []
    task = body["data"]
    assert (task["status"], task["files_expired_at"]) == ("completed", None)
    assert task["image"] == {"image_base64": "", "image_url": ""}
    assert [output["url"] for output in task["outputs"]] == [""]  # no link to a 410
    assert task["error_message"] == f"the stored result of task {task_id} is missing"
    status, light = await _get(server.http, url, include_base64="false")
    assert status == 200 and light["data"]["status"] == "completed"
    status, body = await _get(server.http, light["data"]["image"]["image_url"])
    assert status == 410
    assert body == {
        "code": 410,
        "msg": f"the stored result of task {task_id} is missing",
        "data": None,
    }


async def test_an_unexpected_error_is_a_seed_500(server: RunningServer, settings: Settings) -> None:
    """A row the code cannot read (written behind the server's back) is a genuine 500."""
    model = await _finished_fake_task(server, outcome="fail")
    bad_id = model + 1  # a new row, so no cache can have seen it
    with sqlite3.connect(settings.data_dir / "rendergate.db") as db:
        db.execute("CREATE TEMP TABLE bad AS SELECT * FROM tasks WHERE task_id = ?", (model,))
        db.execute("UPDATE bad SET task_id = ?, status = 'secret-stack-detail'", (bad_id,))
        db.execute("INSERT INTO tasks SELECT * FROM bad")
    db.close()
    # a fresh connection: the server may close one after a 500
    with captured_logs() as logs:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.url}/tasks/{bad_id}") as response,
        ):
            text = await response.text()
            assert response.status == 500, text
            assert response.content_type == "application/json"
            body = await response.json()
    assert _errors("500", body) == []
    # logged once (Starlette's handler for Exception re-raised it to uvicorn, who logged
    # it again), under the route's template, with a plain traceback
    events = [json.loads(line) for line in logs.getvalue().splitlines()]
    errors = [e for e in events if e["level"] in ("error", "critical")]
    assert [(e["event"], e["route"]) for e in errors] == [("unhandled error", "/tasks/{task_id}")]
    assert "ValueError: 'secret-stack-detail' is not a valid TaskStatus" in errors[0]["exception"]
    assert body == {"code": 500, "msg": "internal server error", "data": None}
    for leak in ("secret-stack-detail", "Traceback", "TaskStatus", 'File "', "ValueError"):
        assert leak not in text
