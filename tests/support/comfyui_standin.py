"""A ComfyUI server's HTTP API as the adapter uses it, on 127.0.0.1, written from ComfyUI's
server.py: prompts wait in the queue until the test finishes them (`finish`) or the server
forgets them (`forget`, as a restart does), and every request is counted by its route, so a
test can say how many `/queue` and `/history` reads tracking cost."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from support.images import make_png


@dataclass
class ComfyStandIn:
    pending: list[str] = field(default_factory=list)
    history: dict[str, dict[str, Any]] = field(default_factory=dict)  # oldest first
    requests: Counter[str] = field(default_factory=Counter)  # "GET /queue" -> how many
    history_items: list[int] = field(default_factory=list)  # each GET /history's max_items
    image: bytes = field(default_factory=lambda: make_png(16, 16))

    def finish(self, *prompt_ids: str) -> None:
        """The prompts end with one saved image each, in this order."""
        for prompt_id in prompt_ids:
            self.pending.remove(prompt_id)
            self.history[prompt_id] = {
                "prompt": [0, prompt_id, {}, {}, ["9"]],
                "outputs": {"9": {"images": [{"filename": f"{prompt_id}.png", "type": "output"}]}},
                "status": {"status_str": "success", "completed": True, "messages": []},
            }

    def forget(self, prompt_id: str) -> None:
        self.pending.remove(prompt_id)

    def count(self, route: str) -> int:
        return self.requests[route]

    def routes(self, app: web.Application) -> None:
        @web.middleware
        async def counted(request: web.Request, handler: Any) -> web.StreamResponse:
            route = request.match_info.route.resource
            self.requests[f"{request.method} {route.canonical if route else request.path}"] += 1
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.append(counted)
        app.router.add_get("/prompt", self._load)
        app.router.add_post("/prompt", self._prompt)
        app.router.add_get("/queue", self._queue)
        app.router.add_get("/history", self._latest)
        app.router.add_get("/history/{prompt_id}", self._one)
        app.router.add_post("/upload/image", self._upload)
        app.router.add_get("/view", self._view)

    async def _load(self, _: web.Request) -> web.Response:
        return web.json_response({"exec_info": {"queue_remaining": len(self.pending)}})

    async def _prompt(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.pending.append(body["prompt_id"])
        return web.json_response({"prompt_id": body["prompt_id"], "number": 0, "node_errors": {}})

    async def _queue(self, _: web.Request) -> web.Response:
        pending = [[n, pid, {}, {}, ["9"]] for n, pid in enumerate(self.pending)]
        return web.json_response({"queue_running": [], "queue_pending": pending})

    async def _latest(self, request: web.Request) -> web.Response:
        """GET /history?max_items=n: the n entries that ended last (ComfyUI: all without it)."""
        items = int(request.query.get("max_items", len(self.history)))
        self.history_items.append(items)
        latest = list(self.history.items())[-items:] if items else []
        return web.json_response(dict(latest))

    async def _one(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry is not None else {})

    async def _upload(self, request: web.Request) -> web.Response:
        name = (await request.post())["image"].filename  # type: ignore[union-attr]
        return web.json_response({"name": name, "subfolder": "", "type": "input"})

    async def _view(self, _: web.Request) -> web.Response:
        return web.Response(body=self.image, content_type="image/png")
