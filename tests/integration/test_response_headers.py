"""Headers every answer carries: `X-Content-Type-Options: nosniff` (a browser must not
run a result or an error as something else), from every kind of route and from the layers
that answer before the app; /docs also has a Content-Security-Policy and cannot be framed."""

from __future__ import annotations

import base64
import hashlib
import re

from multidict import CIMultiDictProxy

from rendergate.config.settings import Settings
from support.images import make_scene
from support.server import RunningServer, serve


async def answer(
    server: RunningServer, method: str, path: str, **options: object
) -> tuple[int, CIMultiDictProxy[str]]:
    async with server.http.request(method, server.url + path, **options) as response:  # type: ignore[arg-type]
        await response.read()
        return response.status, response.headers


async def test_every_kind_of_answer_says_nosniff(settings: Settings) -> None:
    async with serve(settings) as server:
        image = base64.b64encode(make_scene(32, 24)).decode()
        async with server.http.post(
            f"{server.url}/tasks", json={"type": "fake", "image_base64": image}
        ) as response:
            assert response.status == 201
            task_id = (await response.json())["data"]["task_id"]
        assert (await server.wait_finished(task_id))["status"] == "completed"
        light = f"/tasks/{task_id}?include_base64=false"
        assert (await answer(server, "GET", light))[0] == 200  # rendered, then kept
        bodies = server.app.state.finished_bodies
        assert bodies.get((task_id, server.url)) is not None  # the next is the cache's
        kinds = {
            "finished-body cache": ("GET", light, {}),
            "task": ("GET", f"/tasks/{task_id}", {}),
            "image": ("GET", f"/tasks/{task_id}/image", {}),
            "list": ("GET", "/tasks", {}),
            "web page": ("GET", "/", {}),
            "static file": ("GET", "/static/web/main.js", {}),
            "docs": ("GET", "/docs", {}),
            "openapi": ("GET", "/openapi.json", {}),
            "metrics": ("GET", "/metrics", {}),
            "health": ("GET", "/healthz", {}),
            "no such route": ("GET", "/nope", {}),
            "no such task": ("GET", "/tasks/1099511627776", {}),
            "wrong method": ("DELETE", "/tasks", {}),
            "invalid input": ("POST", "/tasks", {"json": {"type": "fake"}}),
            "finished already": ("POST", f"/tasks/{task_id}/cancel", {}),
            "body over the limit": ("POST", f"/tasks/{task_id}/cancel", {"data": b"x" * 70_000}),
        }
        answers = {kind: await answer(server, m, p, **o) for kind, (m, p, o) in kinds.items()}
    statuses = {kind: status for kind, (status, _) in answers.items()}
    assert statuses["body over the limit"] == 413 and statuses["no such route"] == 404
    assert statuses["finished already"] == 409 and statuses["image"] == 200, statuses
    missing = [k for k, (_, h) in answers.items() if h.get("X-Content-Type-Options") != "nosniff"]
    assert missing == []


async def test_docs_has_a_policy_and_cannot_be_framed(server: RunningServer) -> None:
    async with server.http.get(f"{server.url}/docs") as response:
        page = await response.text()
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    [inline] = re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)  # Swagger's start
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"  # that script, no other
