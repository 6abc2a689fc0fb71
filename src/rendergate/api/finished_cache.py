"""An ASGI layer that answers polls of tasks from bytes rendered once per version.

Clients keep polling a task. The GET /tasks/{task_id} route stores the JSON it
rendered for one (with `include_base64=false`) in `FinishedBodies` (on `app.state`), with the
task's version; this layer sends those bytes for the same request without entering FastAPI's
routing and validation, which cost about five times the rest of the request, while the
services' FinishedTasks holds that same version (it forgets a task once a change to it is
heard, services/cache.py), so a body rendered before a change is never sent after it.
An unfinished task's answer is kept the same way in `UnfinishedBodies`, until a change to
it is heard (its docstring says why that is safe, and where it is not kept). A request
with a `Prefer` header (a long poll) and anything else pass through untouched.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from rendergate.api.deps import services_of
from rendergate.domain.errors import Unauthorized
from rendergate.domain.task import Task, TaskStatus
from rendergate.lru import Lru
from rendergate.services.cache import RacedReads
from rendergate.services.keys import through_proxy
from rendergate.services.links import answer_base

TASK_PATH = re.compile(r"/tasks/([0-9]{1,16})")  # not \d: the route refuses other digits
FALSE_VALUES = {"0", "off", "f", "false", "n", "no"}  # what FastAPI parses as bool False
TRUE_VALUES = {"1", "on", "t", "true", "y", "yes"}  # and as True


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
        if scope["method"] != "GET" or (match := TASK_PATH.fullmatch(scope["path"])) is None:
            return None
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        include = query.get("include_base64", "true").lower()
        if include not in FALSE_VALUES | TRUE_VALUES or long_poll(scope):
            return None  # the route answers 422, or waits
        services = services_of(scope)
        if services is None:
            return None
        try:  # first, so that a stranger's poll does the same work whether the id exists
            caller = await services.keys.caller(
                bearer_token(scope), proxy_header=through_proxy(header_names(scope))
            )
        except Unauthorized:
            return None  # the route answers 401
        task_id, base = int(match[1]), answer_base(services.settings, scope)
        state = scope["app"].state
        unfinished: UnfinishedBodies = state.unfinished_bodies
        kept = unfinished.get(task_id)  # the same whether or not the image is asked for
        if kept is not None and kept.base == base and await services.changes.caught_up():
            kept = unfinished.get(task_id)  # unless a change heard meanwhile dropped it
            if kept is not None and kept.base == base:
                return kept.body if caller is None or caller == kept.owner else None
        if include not in FALSE_VALUES:
            return None
        bodies: FinishedBodies = state.finished_bodies
        cached = bodies.get((task_id, base))
        task = services.finished.get(task_id)
        if cached is None or task is None or cached[0] != task.version:
            return None
        return cached[1] if caller is None or caller == task.owner else None  # else a 404


def long_poll(scope: Scope) -> bool:
    return any(k == b"prefer" for k, _ in scope["headers"])


def header_names(scope: Scope) -> frozenset[str]:
    """The request's header names (the server gives them in lower case): a set, where
    Starlette's Headers would scan them all for each name asked."""
    return frozenset(k.decode("latin-1") for k, _ in scope["headers"])


def bearer_token(scope: Scope) -> str | None:
    header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class FinishedBodies(Lru[tuple[int, str], tuple[int, bytes]]):
    """Rendered JSON of finished tasks, by (task id, base URL), with the version of the
    task each was rendered from, for the polling hot path."""


@dataclass(frozen=True)
class Kept:
    """An unfinished task's rendered answer: the version, owner and link base it is for."""

    version: int
    owner: str
    base: str
    body: bytes


class UnfinishedBodies:
    """Rendered answers of unfinished tasks, by task id, each dropped once a change to its
    task is heard: `Changes` tells this process of every commit.

    Why a client is never answered an older version than one it has seen: an entry comes
    from a read that began after the last change heard for the task (a read in flight when
    one was heard keeps nothing) and is never replaced by an older version, so what this
    process answers for a task never goes back. In one process (SQLite) every write is
    heard here as it commits. On PostgreSQL another process's write is heard through
    NOTIFY, a moment after another API process may have answered the new version; so an
    entry is served only once `Changes.caught_up()` says every change committed before
    the request has been heard (a round trip, runtime/pg_rounds.py), else the route
    answers. A task still `submitted` is not kept: its queue position moves without a
    write.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._kept: Lru[int, Kept] = Lru(capacity)
        self._reads = RacedReads()

    def get(self, task_id: int) -> Kept | None:
        return self._kept.get(task_id)

    @contextlib.contextmanager
    def reading(self, task_id: int) -> Iterator[Callable[[Task, str, bytes], None]]:
        """Inside, a read of the task and its rendering; the callable keeps what was
        rendered, unless a change to the task was heard since the read began."""
        with self._reads.reading(task_id) as unchanged:

            def keep(task: Task, base: str, body: bytes) -> None:
                if not unchanged() or task.status.is_terminal:
                    return
                if task.status is TaskStatus.SUBMITTED:
                    return
                kept = self._kept.get(task_id)
                if kept is None or kept.version <= task.version:
                    self._kept.put(task_id, Kept(task.version, task.owner, base, body))

            yield keep

    def forget(self, task_id: int) -> None:
        self._kept.discard(task_id)
        self._reads.changed(task_id)

    def forget_all(self) -> None:
        self._kept.clear()
        self._reads.all_changed()
