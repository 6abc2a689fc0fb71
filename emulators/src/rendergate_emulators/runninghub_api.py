"""The emulated v1 endpoints and result files: what a RunningHub client sees on the wire.

Shapes follow the user's documents (docs/providers.md lists them): the run answer of the SU
app document (with `errorMessages: null`), the outputs answer (every value a string, money
null), status as a bare string. Errors
are HTTP 200 envelopes with a non-zero code; `msg` is the code's name, plus a detail after
a colon where that helps a test or a log.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rendergate_emulators.media import UrlSigner, cdn_error, render_png
from rendergate_emulators.runninghub_model import (
    AppNodes,
    FailedReason,
    HubScript,
    HubTask,
    TaskEnding,
    code_name,
)
from rendergate_emulators.runninghub_requests import (
    FILE_TYPES,
    HubRefusal,
    check_nodes,
    graph_spec,
    json_body,
    read_upload,
)

if TYPE_CHECKING:
    from rendergate_emulators.runninghub import RunningHubEmulator

FILE_NAME = "ComfyUI_{index:05d}_{tag}_{stamp}.png"


class RunningHubApi:
    def __init__(self, emulator: RunningHubEmulator, seed: int | None) -> None:
        self.emu = emulator
        self.signer = UrlSigner()
        self.rng = random.Random(seed)  # jitter and fail_rate

    def add_routes(self, app: web.Application) -> None:
        post = "/task/openapi/"
        app.router.add_post(post + "upload", self.upload)
        app.router.add_post(post + "ai-app/run", self.run_app)
        app.router.add_post(post + "create", self.create)
        app.router.add_post(post + "status", self.status)
        app.router.add_post(post + "outputs", self.outputs)
        app.router.add_post(post + "cancel", self.cancel)
        app.router.add_post("/uc/openapi/accountStatus", self.account)
        app.router.add_get("/files/{task_id}/{name}", self.file)

    def reply(
        self,
        request: web.Request,
        code: int,
        data: Any = None,
        *,
        detail: str | None = None,
        created: bool = False,
    ) -> web.Response:
        self.emu.stats.codes_by_path[route_key(request)][code] += 1
        msg = code_name(code) if detail is None else f"{code_name(code)}: {detail}"
        envelope: dict[str, Any] = {"code": code, "msg": msg}
        if created:  # the SU app document's run answer carries this extra field
            envelope["errorMessages"] = None
        envelope["data"] = data
        return web.json_response(envelope)

    # -- checks ----------------------------------------------------------------------------

    def check_host(self, request: web.Request) -> None:
        # The docs require `Host: www.runninghub.cn` exactly but do not say what a wrong one
        # gets. 412 TOKEN_INVALID, which third parties see for requests that reach no API
        # (a bad path), is the closest documented code.
        host = request.headers.get("Host", "").split(":", 1)[0].lower()
        if host != self.emu.knobs.host.lower():
            raise HubRefusal(412, f"the Host header must be {self.emu.knobs.host}")

    def _check_key(self, key: Any) -> str:
        """The key, when it is one of the emulator's (each its own account)."""
        if isinstance(key, str):
            for known in self.emu.accounts:
                if hmac.compare_digest(key.encode(), known.encode()):
                    return known
        raise HubRefusal(802)

    async def _task_of(self, request: web.Request) -> HubTask:
        body = await json_body(request)
        key = self._check_key(body.get("apiKey"))
        task_id = body.get("taskId")
        if not isinstance(task_id, str | int) or isinstance(task_id, bool):
            raise HubRefusal(301, "taskId is required")
        record = self.emu.account(key)[1].tasks.get(str(task_id))  # another key's: unknown
        if record is None:
            raise HubRefusal(807)
        record.requests[route_key(request)] += 1
        return record

    # -- endpoints -------------------------------------------------------------------------

    async def upload(self, request: web.Request) -> web.Response:
        form = await read_upload(request, self.emu.knobs.max_upload_bytes)
        self._check_key(form.fields.get("apiKey"))
        if form.data is None:
            raise HubRefusal(301, "file is required")
        file_type = form.fields.get("fileType") or "input"
        if file_type not in FILE_TYPES:
            raise HubRefusal(301, f"fileType must be one of {', '.join(FILE_TYPES)}")
        name = self.emu.uploads.put(form.data, form.extension)
        return self.reply(request, 0, {"fileName": name, "fileType": file_type})

    async def run_app(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        key = self._check_key(body.get("apiKey"))
        webapp_id = body.get("webappId")
        # The SU app document's table says string, but the API wants an int64 number
        # (docs/providers.md, RunningHub).
        if isinstance(webapp_id, str):
            raise HubRefusal(301, "webappId must be a JSON number (int64), not a string")
        if not isinstance(webapp_id, int) or isinstance(webapp_id, bool):
            raise HubRefusal(301, "webappId is required (a JSON number)")
        spec = self.emu.webapps.get(str(webapp_id))
        if spec is None:
            raise HubRefusal(901)
        if not isinstance(body.get("nodeInfoList"), list):
            raise HubRefusal(301, "nodeInfoList is required (a list)")
        return self._submit(request, body, "ai-app", str(webapp_id), spec, key)

    async def create(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        key = self._check_key(body.get("apiKey"))
        workflow_id = body.get("workflowId")
        if not isinstance(workflow_id, str) or not workflow_id:
            raise HubRefusal(301, "workflowId is required (a string)")
        spec = self.emu.workflows.get(workflow_id)
        if spec is None:
            raise HubRefusal(380)
        if body.get("workflow") is not None:  # the given graph replaces the stored one
            spec = graph_spec(body["workflow"], spec)
        return self._submit(request, body, "workflow", workflow_id, spec, key)

    def _submit(
        self,
        request: web.Request,
        body: dict[str, Any],
        kind: str,
        app_id: str,
        spec: AppNodes,
        key: str,
    ) -> web.Response:
        self.emu.submits_by_key[key] += 1
        knobs, book = self.emu.account(key)
        nodes = body.get("nodeInfoList") or []
        if not isinstance(nodes, list):
            raise HubRefusal(301, "nodeInfoList must be a list")
        values = check_nodes(spec, nodes, self.emu.uploads)
        # Seed 003 spells it WebhookUrl in its table and webhookUrl in its example.
        webhook = body.get("webhookUrl", body.get("WebhookUrl"))
        instance = body.get("instanceType")
        if not isinstance(webhook, str | None) or not isinstance(instance, str | None):
            raise HubRefusal(301, "webhookUrl and instanceType must be strings")
        personal = body.get("usePersonalQueue") is True
        if knobs.remain_coins <= 0:  # the balance is used up: nothing runs
            raise HubRefusal(knobs.broke_code)
        if book.busy:
            if not personal:
                raise HubRefusal(415 if instance == "plus" else 421)
            if len(book.waiting) >= knobs.personal_queue_limit:
                raise HubRefusal(814)
        record = self._new_record(kind, app_id, spec, values.image, webhook or None, instance)
        record.personal, record.scale, record.node_info = personal, values.scale, nodes
        record.owner = key
        book.add(record)
        tips = {"result": True, "error": None, "outputs_to_execute": [spec.output_node]}
        data = {
            "netWssUrl": None,
            "taskId": record.task_id,
            "clientId": record.client_id,
            "taskStatus": "QUEUED",
            "promptTips": json.dumps({**tips, "node_errors": {}}),
        }
        return self.reply(request, 0, data, created=True)

    async def status(self, request: web.Request) -> web.Response:
        record = await self._task_of(request)
        return self.reply(request, 0, record.status)

    async def outputs(self, request: web.Request) -> web.Response:
        code, data = self.outputs_answer(await self._task_of(request))
        return self.reply(request, code, data)

    async def cancel(self, request: web.Request) -> web.Response:
        # Cancel is not in the official docs; 817 for a finished task is from third-party
        # notes. A canceled task reads FAILED, /outputs says 805 with exception_type
        # "TaskCanceled", and its webhook (if any) is sent like any other TASK_END.
        record = await self._task_of(request)
        book = self.emu.account(record.owner)[1]
        return self.reply(request, 0 if book.cancel(record.task_id) else 817)

    async def account(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        knobs, book = self.emu.account(self._check_key(body.get("apikey")))  # lowercase here
        money = None if knobs.remain_money == "null" else knobs.remain_money
        data = {  # the docs' example: counts as strings, money and currency null
            "remainCoins": str(knobs.remain_coins),
            "currentTaskCounts": str(book.unfinished),
            "remainMoney": money,
            "currency": "CNY" if money is not None else None,
            "apiType": "NORMAL",
        }
        return self.reply(request, 0, data)

    async def unknown_path(self, request: web.Request) -> web.Response:
        return self.reply(request, 412, detail=f"no API at {request.path}")

    async def file(self, request: web.Request) -> web.Response:
        expires = request.query.get("expires", "")
        if not self.signer.check(request.path, expires, request.query.get("sig", "")):
            return cdn_error(403, "SignatureDoesNotMatch", "The signature does not match.")
        if time.time() > float(expires):  # signed by us, so it parses
            return cdn_error(403, "AccessDenied", "Request has expired.")
        record = self.emu.tasks.get(request.match_info["task_id"])
        index = _file_index(request.match_info["name"])
        if record is None or index is None or index >= record.outputs:
            return cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        record.requests[route_key(request)] += 1
        source = self.emu.uploads.get(record.input_file) if record.input_file else None
        png = await asyncio.to_thread(render_png, source, index, record.scale)
        return web.Response(body=png, content_type="image/png")

    # -- tasks -----------------------------------------------------------------------------

    def _new_record(
        self,
        kind: str,
        app_id: str,
        spec: AppNodes,
        input_file: str | None,
        webhook: str | None,
        instance: str | None,
    ) -> HubTask:
        knobs = self.emu.knobs
        if self.emu.scripts:
            script = self.emu.scripts.popleft()
        elif knobs.fail_rate and self.rng.random() < knobs.fail_rate:
            script = HubScript(TaskEnding.FAILED, FailedReason())
        else:
            script = HubScript(TaskEnding.EMPTY if knobs.empty_outputs else TaskEnding.SUCCESS)
        return HubTask(
            task_id=self.emu.book.new_task_id(),
            client_id=uuid.uuid4().hex,
            kind=kind,
            app_id=app_id,
            output_node=spec.output_node,
            input_file=input_file,
            webhook_url=webhook,
            instance_type=instance,
            personal=False,
            planned=script,
            queue_s=knobs.queue_s + self.rng.uniform(0, knobs.jitter_s),
            run_s=knobs.run_s * self.rng.uniform(1 - knobs.run_spread, 1 + knobs.run_spread)
            + self.rng.uniform(0, knobs.jitter_s),
            created_mono=time.monotonic(),
            created_wall=time.time(),
        )

    def finished(self, record: HubTask) -> None:
        """Called by the TaskBook as a task ends: outputs, coins, then the webhook."""
        knobs = self.emu.account(record.owner)[0]
        if record.outcome is TaskEnding.SUCCESS:
            record.outputs = knobs.outputs_per_task
        if record.outcome in (TaskEnding.SUCCESS, TaskEnding.EMPTY):
            knobs.remain_coins = max(knobs.remain_coins - knobs.coins_per_task, 0)
        record.expires_wall = (record.finished_wall or time.time()) + knobs.file_ttl_s
        if record.webhook_url:
            code, data = self.outputs_answer(record)
            event = {"code": code, "msg": code_name(code), "data": data}
            compact = json.dumps(event, separators=(",", ":"))
            self.emu.webhooks.send(record.task_id, record.webhook_url, compact)

    def outputs_answer(self, record: HubTask) -> tuple[int, Any]:
        """/outputs' code and data for the task; the webhook's eventData holds the same."""
        if record.status == "QUEUED":
            return 813, None
        if record.status == "RUNNING":
            wss = (
                f"wss://{self.emu.knobs.host}:443/ws/c_instance?c_host=127.0.0.1&c_port=0"
                f"&clientId={record.client_id}&workflowId={record.app_id}"
            )
            return 804, {"netWssUrl": wss}
        if record.status == "FAILED":
            reason = record.failed_reason or FailedReason()
            return 805, {"failedReason": reason.to_json()}
        return 0, [self._output_item(record, index) for index in range(record.outputs)]

    def _output_item(self, record: HubTask, index: int) -> dict[str, Any]:
        name = FILE_NAME.format(
            index=index + 1, tag=record.client_id[:5], stamp=int(record.created_wall)
        )
        path = f"/files/{record.task_id}/{name}"
        knobs = self.emu.knobs
        expiry = time.time() + knobs.file_ttl_s if knobs.resign_on_query else record.expires_wall
        expires = f"{expiry:.3f}"
        url = f"{self.emu.public_url}{path}?expires={expires}&sig={self.signer.sign(path, expires)}"
        node = record.output_node
        start = record.started_mono or record.created_mono
        hostile = json.loads(knobs.output_fields) if knobs.output_fields else {}
        return {  # the types of the user's outputs answer: strings, and null for money
            "fileUrl": url,
            "fileType": "png",
            "taskCostTime": str(round((record.finished_mono or start) - start)),
            "nodeId": str(int(node) + index) if node.isdigit() else f"{node}.{index}",
            "thirdPartyConsumeMoney": None,
            "consumeMoney": None,
            "consumeCoins": str(self.emu.knobs.coins_per_task),
        } | hostile


def route_key(request: web.Request) -> str:
    """The route's pattern, so per-file paths do not grow the stats."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(unmatched)"


def _file_index(name: str) -> int | None:
    head, _, rest = name.partition("_")
    number = rest.split("_", 1)[0]
    if head != "ComfyUI" or not number.isdigit() or not name.endswith(".png"):
        return None
    return int(number) - 1
