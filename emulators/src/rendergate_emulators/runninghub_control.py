"""HTTP controls of a RunningHub emulator running as its own process (e.g. for the benchmark).

These routes need neither apiKey nor Host, are never faulted and are not counted:

- GET /_emulator/config: the knobs. POST /_emulator/config `{"run_s": 5, ...}`: sets some;
  an unknown name or a bad value is HTTP 400 and changes nothing. `{"remain_coins": 0}`
  uses the balance up (runs answer `broke_code`, 812 or 416); a larger number tops it up.
- POST /_emulator/inject, one of:
  `{"fault": "http_502"|"html_200"|"code"|"reset"|"lost_reply"|"stall",
  "path": "/task/openapi/outputs", "times": 2, "code": 421, "stall_s": 1.5}` (path null =
  all; times null = until cleared; stall_s null = until the server stops; lost_reply
  handles the request, then resets the connection instead of answering);
  `{"outcome": "failed", "failedReason": {"node_name": ..., "exception_message": ...},
  "times": 1}` or `{"outcome": "empty"}` for the next tasks; `{"clear": true}`.
- GET /_emulator/stats[?tasks=0]: request and code counts by route, faults fired, tasks with
  their timings (monotonic and wall) and request counts, webhook attempts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from rendergate_emulators.runninghub_faults import FaultRule
from rendergate_emulators.runninghub_model import FailedReason

if TYPE_CHECKING:
    from rendergate_emulators.runninghub import RunningHubEmulator


def add_routes(app: web.Application, emulator: RunningHubEmulator) -> None:
    async def config(request: web.Request) -> web.Response:
        if request.method == "POST":
            body = await _body(request)
            try:
                emulator.configure(**body)
            except (TypeError, ValueError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(emulator.knobs.to_json())

    async def inject(request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            _inject(emulator, body)
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(
            {"faults": emulator.faults.to_json(), "scripted": len(emulator.scripts)}
        )

    async def stats(request: web.Request) -> web.Response:
        with_tasks = request.query.get("tasks", "1") not in ("0", "false")
        return web.json_response(emulator.snapshot(tasks=with_tasks))

    app.router.add_route("*", "/_emulator/config", config)
    app.router.add_post("/_emulator/inject", inject)
    app.router.add_get("/_emulator/stats", stats)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _inject(emulator: RunningHubEmulator, body: dict[str, Any]) -> None:
    if body.get("clear"):
        emulator.clear_faults()
    elif "fault" in body:
        emulator.faults.add(FaultRule.from_json(body))
    elif "outcome" in body:
        times = body.get("times", 1)
        if not isinstance(times, int) or times < 1:
            raise ValueError("times must be a positive integer")
        outcome = body["outcome"]
        if outcome == "failed":
            reason = body.get("failedReason") or {}
            if not isinstance(reason, dict):
                raise ValueError("failedReason must be an object")
            emulator.script_next(failed=FailedReason.from_json(reason), times=times)
        elif outcome in ("empty", "success"):
            emulator.script_next(empty=outcome == "empty", times=times)
        else:
            raise ValueError("outcome must be success, empty or failed")
    else:
        raise ValueError("give fault, outcome or clear")
