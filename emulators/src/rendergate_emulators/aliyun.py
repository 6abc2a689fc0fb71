"""An emulator of Aliyun 智作工坊 (SpeedPix) behind its API gateway, on 127.0.0.1.

    emu = AliyunEmulator("app-key", "app-secret", run_s=0.5, queue_ahead=2)
    async with emu.serve() as base_url:
        emu.script_next(fail="P_Request_ContentSafe")   # the next task ends failed with it
        emu.configure(successed=True)                   # the progress document's spelling
        emu.forget()                                    # the service loses every task
        emu.add_app("other-key", "other-secret", arrears=True)  # a second app, in arrears
        ...  emu.stats, emu.tasks[task_id].requests, emu.snapshot()

Every /scc/ call passes the gateway's AK/SK check first (aliyun_gateway.py: a wrongly
signed, stale or replayed request is refused as the real gateway does); the endpoints and
the OSS-like storage are in aliyun_api.py, tasks and knobs in aliyun_model.py. Each app
sees only its own tasks: another app's task id is answered CanNotFindTask.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from rendergate_emulators.aliyun_api import APP_KEY, AliyunApi
from rendergate_emulators.aliyun_gateway import Gateway, GatewayRefusal, refuse, request_id
from rendergate_emulators.aliyun_model import (
    CAN_NOT_FIND_TASK,
    CONTENT_SAFE,
    DEFAULT_WORKFLOWS,
    AliyunKnobs,
    AliyunScript,
    AliyunStats,
    AliyunTask,
    Workflow,
)
from rendergate_emulators.serving import serve_app

__all__ = ["CAN_NOT_FIND_TASK", "CONTENT_SAFE", "AliyunEmulator", "Workflow"]

API_PATHS = frozenset(
    {
        "/scc/comfy_prompt",
        "/scc/comfy_get_progress",
        "/scc/comfy_get_result",
        "/scc/sp_create_temp_file_upload_sign",
    }
)
MESSAGES = {  # the documented subErrMessage of the documented codes
    CONTENT_SAFE: "The content is non-compliant.",
    CAN_NOT_FIND_TASK: "Cannot find task:{0}",
}


class AliyunEmulator:
    def __init__(
        self,
        app_key: str = "emulator-app-key",
        app_secret: str = "emulator-app-secret",  # noqa: S107 - the emulator's own
        *,
        workflows: dict[str, Workflow] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **knobs: Any,
    ) -> None:
        """`knobs` are AliyunKnobs' fields (queue_ahead, queue_step_s, run_s, successed, ...).
        A task's phase is worked out from `clock`: a test that passes its own clock moves
        tasks on when it chooses, instead of racing their durations."""
        self.app_key = app_key
        self.clock = clock
        self.knobs = AliyunKnobs()
        self.knobs.update(knobs)
        self.workflows = dict(DEFAULT_WORKFLOWS if workflows is None else workflows)
        self.gateway = Gateway({app_key: app_secret})
        self.in_arrears: set[str] = set()  # apps whose comfy_prompt answers ARREARAGE
        self.tasks: dict[str, AliyunTask] = {}
        self.scripts: deque[AliyunScript] = deque()
        self.stats = AliyunStats()
        self.api = AliyunApi(self)
        self.base_url: str | None = None  # set by serve()

    # -- in-process controls ---------------------------------------------------------------

    def configure(self, **knobs: Any) -> None:
        self.knobs.update(knobs)

    def add_app(self, app_key: str, app_secret: str, *, arrears: bool = False) -> None:
        """Another app of its own account: its own tasks, and its balance used up or not."""
        self.gateway.apps[app_key] = app_secret
        if arrears:
            self.in_arrears.add(app_key)

    def script_next(
        self,
        *,
        fail: str | tuple[str, str] | None = None,
        refuse: str | tuple[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` tasks end failed with `fail`, or are refused at comfy_prompt with
        `refuse`: a subErrCode (its documented message is used) or (code, message)."""
        script = AliyunScript(fail=_code(fail), refuse=_code(refuse))
        self.scripts.extend(script for _ in range(times))

    def forget(self, task_id: str | None = None) -> None:
        """The service loses the task (all tasks): it answers B_COMPUTING_CanNotFindTask."""
        if task_id is None:
            self.tasks.clear()
        else:
            self.tasks.pop(task_id, None)

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        return {
            **self.stats.to_json(),
            "tasks": {task_id: t.to_json(now) for task_id, t in self.tasks.items()},
            "scripted": len(self.scripts),
        }

    # -- serving ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        async with serve_app(self.make_app(), host, port) as base_url:
            self.base_url = base_url
            yield base_url

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._gateway()])
        self.api.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._no_api)
        return app

    async def _no_api(self, request: web.Request) -> web.Response:
        self.stats.refusals["API Not Found"] += 1
        return refuse(GatewayRefusal(400, "API Not Found"))

    def _gateway(self) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path not in API_PATHS:
                return await handler(request)  # storage, or an API the gateway does not know
            self.stats.requests_by_path[request.path] += 1
            body = await request.read()
            refusal = self.gateway.check(
                request.method, request.path, request.query, request.headers, body
            )
            if refusal is not None:
                self.stats.refusals[refusal.kind] += 1
                return refuse(refusal)
            request[APP_KEY] = request.headers["x-ca-key"]  # the gateway checked it
            response = await handler(request)
            response.headers["X-Ca-Request-Id"] = request_id()
            return response

        return middleware


def _code(value: str | tuple[str, str] | None) -> tuple[str, str] | None:
    if value is None or isinstance(value, tuple):
        return value
    return value, MESSAGES.get(value, value)
