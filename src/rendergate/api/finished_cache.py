"""An ASGI layer that answers polls of finished tasks from bytes rendered once.

Clients keep polling a finished task. The GET /tasks/{task_id} route stores the JSON it
rendered for one (with `include_base64=false`) in `FinishedBodies` (on `app.state`), with the
task's version; this layer sends those bytes for the same request without entering FastAPI's
routing and validation, which cost about five times the rest of the request, while the
services' FinishedTasks holds that same version (it forgets a task once a change to it is
heard, services/cache.py), so a body rendered before a change is never sent after it.
Anything else passes through untouched.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from rendergate.api.deps import services_of
from rendergate.domain.errors import Unauthorized
from rendergate.lru import Lru
from rendergate.services.keys import through_proxy
from rendergate.services.links import answer_base

TASK_PATH = re.compile(r"/tasks/([0-9]{1,16})")  # not \d: the route refuses other digits
FALSE_VALUES = {"0", "off", "f", "false", "n", "no"}  # what FastAPI parses as bool False


class FinishedTaskCache:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._cached(scope) if scope["type"] == "http" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _cached(scope: Scope) -> bytes | None:
        if scope["method"] != "GET" or not scope["query_string"]:
            return None
        match = TASK_PATH.fullmatch(scope["path"])
        if match is None:
            return None
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        if query.get("include_base64", "").lower() not in FALSE_VALUES:
            return None
        state = scope["app"].state
        services = services_of(scope)
        if services is None:
            return None
        try:  # first, so that a stranger's poll does the same work whether the id exists
            caller = await services.keys.caller(
                bearer_token(scope), proxy_header=through_proxy(Headers(scope=scope))
            )
        except Unauthorized:
            return None  # the route answers 401
        task_id = int(match[1])
        bodies: FinishedBodies = state.finished_bodies
        cached = bodies.get((task_id, answer_base(services.settings, scope)))
        task = services.finished.get(task_id)
        if cached is None or task is None or cached[0] != task.version:
            return None
        return cached[1] if caller is None or caller == task.owner else None  # else a 404


def bearer_token(scope: Scope) -> str | None:
    header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class FinishedBodies(Lru[tuple[int, str], tuple[int, bytes]]):
    """Rendered JSON of finished tasks, by (task id, base URL), with the version of the
    task each was rendered from, for the polling hot path."""
