"""An emulator of RunningHub's v1 API (docs/providers.md: RunningHub, and the user's
RunningHub documents) on 127.0.0.1.

    emu = RunningHubEmulator(api_key="k", queue_s=0.2, run_s=0.5, concurrency=3)
    async with emu.serve() as base_url:
        emu.inject(InjectedFault.HTTP_502, path="/task/openapi/outputs", times=2)
        emu.script_next(failed=FailedReason(exception_message="CUDA out of memory"))
        ...  emu.stats, emu.tasks[task_id].finished_wall, emu.webhook_attempts

Standalone: `python -m rendergate_emulators.runninghub --port 9100 --api-key KEY --run-s 5`,
steered over HTTP by POST /_emulator/config, POST /_emulator/inject and GET /_emulator/stats
(runninghub_control.py). The endpoints are in runninghub_api.py, task lives in
runninghub_tasks.py, faults in runninghub_faults.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
from collections import Counter, deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import fields
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from rendergate_emulators import runninghub_control
from rendergate_emulators.media import UploadStore
from rendergate_emulators.runninghub_api import RunningHubApi, route_key
from rendergate_emulators.runninghub_faults import (
    FaultPlan,
    FaultRule,
    InjectedFault,
    answer_fault,
    reset,
)
from rendergate_emulators.runninghub_model import (
    DEFAULT_WEBAPPS,
    DEFAULT_WORKFLOWS,
    AppNodes,
    FailedReason,
    HubKnobs,
    HubScript,
    HubStats,
    HubTask,
    TaskEnding,
    WebhookAttempt,
)
from rendergate_emulators.runninghub_requests import HubRefusal
from rendergate_emulators.runninghub_tasks import TaskBook
from rendergate_emulators.runninghub_webhooks import WebhookSender
from rendergate_emulators.serving import serve_app

__all__ = ["AppNodes", "FailedReason", "InjectedFault", "RunningHubEmulator", "main"]


class RunningHubEmulator:
    def __init__(
        self,
        api_key: str = "emulator-api-key",
        *,
        webapps: dict[str, AppNodes] | None = None,
        workflows: dict[str, AppNodes] | None = None,
        public_url: str | None = None,
        seed: int | None = None,
        **knobs: Any,
    ) -> None:
        """`knobs` are HubKnobs' fields (queue_s, run_s, concurrency, ...; runninghub_model).

        `public_url` is the base of result URLs, by default the address serve() binds.
        """
        self.api_key = api_key
        self.knobs = HubKnobs()
        self.knobs.update(knobs)
        self.webapps = dict(DEFAULT_WEBAPPS if webapps is None else webapps)
        self.workflows = dict(DEFAULT_WORKFLOWS if workflows is None else workflows)
        self.base_url: str | None = None  # set by serve()
        self.stats = HubStats()
        self.webhook_attempts: list[WebhookAttempt] = []
        self.uploads = UploadStore(self.knobs.upload_store_bytes)
        self.faults = FaultPlan()
        self.scripts: deque[HubScript] = deque()
        self.api = RunningHubApi(self, seed)
        self.book = TaskBook(self.knobs, self.api.finished)
        # Every key is its own account: its own slots, balance and tasks (add_key); a task
        # id of another key's is unknown to a key, as RunningHub answers for another user's.
        self.accounts: dict[str, tuple[HubKnobs, TaskBook]] = {api_key: (self.knobs, self.book)}
        self.submits_by_key: Counter[str] = Counter()  # run/create calls that reached a key
        self.webhooks = WebhookSender(self.knobs, self.webhook_attempts)
        self._public_url = public_url
        self._stopping = asyncio.Event()

    @property
    def public_url(self) -> str:
        return self._public_url or self.base_url or ""

    # -- in-process controls ---------------------------------------------------------------

    @property
    def remain_coins(self) -> int:
        """The balance: set it with configure(remain_coins=...) (a top-up)."""
        return self.knobs.remain_coins

    @property
    def tasks(self) -> dict[str, HubTask]:
        if len(self.accounts) == 1:
            return self.book.tasks
        return {i: t for _, book in self.accounts.values() for i, t in book.tasks.items()}

    def add_key(self, key: str, **knobs: Any) -> TaskBook:
        """Another account's key: the first key's knobs, but for `knobs` (concurrency,
        remain_coins, ...), and a task book of its own."""
        own = dataclasses.replace(self.knobs)
        own.update(knobs)
        book = TaskBook(own, self.api.finished)
        self.accounts[key] = (own, book)
        return book

    def account(self, key: str) -> tuple[HubKnobs, TaskBook]:
        return self.accounts[key]

    def configure(self, **knobs: Any) -> None:
        self.knobs.update(knobs)
        self.uploads.limit_bytes = self.knobs.upload_store_bytes
        self.book.fill_slots()  # `concurrency` may have grown

    def advance(self, task_id: str) -> str:
        """With the `hold` knob: moves a task on one phase; returns its new status."""
        return self.book.advance(task_id)

    def inject(
        self,
        kind: InjectedFault,
        *,
        path: str | None = None,
        times: int | None = 1,
        code: int = 500,
        stall_s: float | None = None,
    ) -> FaultRule:
        """Faults the next `times` requests to `path` (None: all paths; see runninghub_faults)."""
        return self.faults.add(FaultRule(kind, path, times, code, stall_s))

    def script_next(
        self, *, failed: FailedReason | None = None, empty: bool = False, times: int = 1
    ) -> None:
        """The next `times` tasks end FAILED with `failed`, or SUCCESS with no output if
        `empty`, or plainly SUCCESS (whatever fail_rate says)."""
        outcome = TaskEnding.FAILED if failed else TaskEnding.EMPTY if empty else TaskEnding.SUCCESS
        self.scripts.extend(HubScript(outcome, failed) for _ in range(times))

    def clear_faults(self) -> None:
        self.faults.clear()
        self.scripts.clear()

    def snapshot(self, *, tasks: bool = True) -> dict[str, Any]:
        """What GET /_emulator/stats answers."""
        out: dict[str, Any] = {
            **self.stats.to_json(),
            "active": self.book.active,
            "peak_active": self.book.peak_active,
            "waiting": len(self.book.waiting),
            "tasks_by_status": self.book.count_by_status(),
            "faults_pending": self.faults.to_json(),
            "scripted": len(self.scripts),
            "uploads": len(self.uploads),
            "remain_coins": self.remain_coins,
            "webhooks_in_flight": self.webhooks.pending,
            "webhook_attempts_count": len(self.webhook_attempts),
        }
        if tasks:
            out["tasks"] = {task_id: r.to_json() for task_id, r in self.tasks.items()}
            out["webhook_attempts"] = [a.to_json() for a in self.webhook_attempts]
        return out

    # -- serving ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serves until the block ends; then stalls end, timers stop, webhooks are dropped."""
        self._stopping = asyncio.Event()
        for _, book in self.accounts.values():
            book.open()
        try:
            async with serve_app(self.make_app(), host, port) as base_url:
                try:
                    self.base_url = base_url
                    await self.webhooks.open()
                    yield base_url
                finally:
                    self._stopping.set()  # before the runner's cleanup, which would wait on stalls
        finally:
            for _, book in self.accounts.values():
                book.close()
            await self.webhooks.aclose()

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware()])
        self.api.add_routes(app)
        runninghub_control.add_routes(app, self)
        app.router.add_post("/{tail:.*}", self.api.unknown_path)
        return app

    def _middleware(self) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            path = request.path
            if path.startswith("/_emulator/"):
                return await handler(request)
            key = route_key(request)
            self.stats.requests_by_path[key] += 1
            rule = self.faults.take(path)
            if rule is not None:
                self.stats.faults_fired[rule.kind.value] += 1
                if rule.kind is InjectedFault.CODE:
                    self.stats.codes_by_path[key][rule.code] += 1
                if rule.kind is InjectedFault.LOST_REPLY:
                    await self._handle(request, handler)
                    return reset(request)
                answer = await answer_fault(rule, request, self._stopping)
                if answer is not None:
                    return answer
            return await self._handle(request, handler)

        return middleware

    async def _handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if not request.path.startswith("/files/"):
                self.api.check_host(request)
            return await handler(request)
        except HubRefusal as refusal:
            return self.api.reply(request, refusal.code, refusal.data, detail=refusal.detail)


# -- standalone --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rendergate_emulators.runninghub",
        description="Serve an emulated RunningHub v1 API until SIGINT/SIGTERM.",
    )
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--public-url", help="base of result URLs (default: the bound address)")
    parser.add_argument("--seed", type=int, help="seed of jitter and fail_rate")
    parser.add_argument("--webapp", action="append", default=[], help="extra AI-app id (any nodes)")
    parser.add_argument("--workflow", action="append", default=[], help="extra workflow id")
    types: dict[str, Any] = {"float": float, "int": int, "str": str}
    for knob in fields(HubKnobs):
        flag = "--" + knob.name.replace("_", "-")
        if knob.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, type=types[str(knob.type)], default=None)
    args = vars(parser.parse_args(argv))
    knobs = {f.name: args[f.name] for f in fields(HubKnobs) if args[f.name] is not None}
    try:
        emulator = RunningHubEmulator(
            args["api_key"], public_url=args["public_url"], seed=args["seed"], **knobs
        )
    except ValueError as exc:
        parser.error(str(exc))
    emulator.webapps.update({app: AppNodes(fields=None) for app in args["webapp"]})
    emulator.workflows.update({wf: AppNodes(fields=None) for wf in args["workflow"]})
    asyncio.run(_serve_until_signal(emulator, args["bind"], args["port"]))


async def _serve_until_signal(emulator: RunningHubEmulator, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with emulator.serve(host, port) as base_url:
        print(f"RunningHub emulator listening on {base_url}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    main()
