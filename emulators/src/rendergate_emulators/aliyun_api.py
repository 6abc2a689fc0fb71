"""The emulated 智作工坊 endpoints (docs/providers.md: Aliyun, and the user's
comfy_get_result document) and its object storage.

Service answers are HTTP 200 envelopes (aliyun_model.envelope). Storage is OSS-like: an
upload sign gives a PUT URL signed for the declared Content-Type (another type, a forged or
an expired signature is 403 with an XML error) and an accessUrl; results are rendered from
the task's uploaded image when downloaded (media.render_png), under URLs signed
for `file_ttl_s` from each answer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from rendergate_emulators.aliyun_model import (
    ARREARAGE,
    CAN_NOT_FIND_TASK,
    INVALID_PARAM,
    WORKFLOW_NOT_FOUND,
    AliyunTask,
    Snapshot,
    envelope,
    new_task_id,
)
from rendergate_emulators.media import UrlSigner, cdn_error, render_png

if TYPE_CHECKING:
    from rendergate_emulators.aliyun import AliyunEmulator

OSS = "/oss/"
APP_KEY = web.RequestKey("app_key", str)  # the app a request came from (the gateway checked)
RESULT_PREFIX = "comfy/output/"
BodyHandler = Callable[[web.Request, dict[str, Any]], Awaitable[web.Response]]
TaskHandler = Callable[[AliyunTask, Snapshot], web.Response]


class AliyunApi:
    def __init__(self, emulator: AliyunEmulator) -> None:
        self.emu = emulator
        self.objects: dict[str, tuple[str, bytes]] = {}  # object key -> (content type, bytes)
        self._signer = UrlSigner()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/scc/comfy_prompt", self._json(self.prompt))
        app.router.add_post("/scc/comfy_get_progress", self._json(self._of_task(self.progress)))
        app.router.add_post("/scc/comfy_get_result", self._json(self._of_task(self.result)))
        app.router.add_post("/scc/sp_create_temp_file_upload_sign", self._json(self.upload_sign))
        app.router.add_put(OSS + "{key:.+}", self.put_object)
        app.router.add_get(OSS + "{key:.+}", self.get_object)

    def reply(self, data: Any = None, *, code: str | None = None, msg: str = "") -> web.Response:
        if code is not None:
            self.emu.stats.service_codes[code] += 1
        return web.json_response(envelope(data, code=code, message=msg if code else None))

    # -- 智作工坊 ---------------------------------------------------------------------------

    async def prompt(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        workflow_id = str(body.get("workflow_id") or "")
        alias, version = body.get("alias_id"), body.get("version_id")
        inputs = body.get("inputs")
        workflow = self.emu.workflows.get(workflow_id)
        if workflow is None:
            return self.reply(code=WORKFLOW_NOT_FOUND, msg=f"workflow not found:{workflow_id}")
        if not alias and not version:
            return self.reply(code=INVALID_PARAM, msg="alias_id or version_id is required")
        if (alias and alias not in workflow.aliases) or (
            version and version not in workflow.versions
        ):
            return self.reply(code=INVALID_PARAM, msg="no such alias or version")
        if not isinstance(inputs, dict):
            return self.reply(code=INVALID_PARAM, msg="inputs must be an object")
        missing = [name for name in workflow.inputs if name not in inputs]
        if missing:
            return self.reply(code=INVALID_PARAM, msg=f"missing inputs: {', '.join(missing)}")
        owner = request[APP_KEY]
        if owner in self.emu.in_arrears:
            return self.reply(code=ARREARAGE, msg="The account is in arrears.")
        script = self.emu.scripts.popleft() if self.emu.scripts else None
        if script is not None and script.refuse is not None:
            return self.reply(code=script.refuse[0], msg=script.refuse[1])
        knobs = self.emu.knobs
        task = AliyunTask(
            task_id=new_task_id(),
            workflow_id=workflow_id,
            alias_id=str(alias) if alias else None,
            version_id=str(version) if version else None,
            inputs=inputs,
            resource_config_id=request.headers.get("X-SP-RESOURCE-CONFIG-ID"),
            created=self.emu.clock(),
            created_wall_ms=int(time.time() * 1000),
            queue_s=knobs.queue_ahead * knobs.queue_step_s,
            queue_step_s=knobs.queue_step_s,
            run_s=knobs.run_s,
            fail=script.fail if script is not None else None,
            source_key=self._source(inputs),
            owner=owner,
        )
        task.requests["/scc/comfy_prompt"] += 1
        self.emu.tasks[task.task_id] = task
        self._count_submit(owner)
        snap = task.at(self.emu.clock())
        data = {
            "taskId": task.task_id,
            "status": snap.status,
            "estimatedDurationInSeconds": round(task.queue_s + task.run_s, 3),
        }
        return self.reply(data)

    def progress(self, task: AliyunTask, snap: Snapshot) -> web.Response:
        status = self.emu.knobs.success_word if snap.status == "succeeded" else snap.status
        message = {"waiting": "queued", "running": "generating"}.get(snap.status, "done")
        if task.fail is not None and snap.status == "failed":
            message = task.fail[1]
        steps = 20
        data = {
            "taskId": task.task_id,
            "status": status,
            "progress": snap.progress,
            "lastQueueRemaining": snap.queue_remaining,
            "etaRelative": int(snap.eta_s + 0.999),  # whole seconds, as the SDK's schema wants
            "message": message,
            "state": {
                "nodeLabel": "KSampler",
                "step": round(snap.progress * steps),
                "maxSteps": steps,
            },
        }
        return self.reply(data)

    def result(self, task: AliyunTask, snap: Snapshot) -> web.Response:
        data: dict[str, Any] = {"taskId": task.task_id, "status": snap.status}
        if snap.status == "failed" and task.fail is not None:
            data.update(self._timing(task))
            return self.reply(data, code=task.fail[0], msg=task.fail[1])
        if snap.status != "succeeded":
            return self.reply(data)
        data.update(self._timing(task), status=self.emu.knobs.success_word)
        key = f"{RESULT_PREFIX}{task.task_id}_00000_.png"
        url = self.signed_url("GET", key)
        place = self.emu.knobs.outputs
        if place in ("images", "both"):
            data["images"] = [url]
        if place in ("result", "both"):
            data["result"] = {
                self.emu.knobs.output_field: {
                    "filename": key.rsplit("/", 1)[-1],
                    "object_key": key,
                    "format": "png",
                    "subfolder": "",
                    "type": "output",
                    "url": url,
                }
            }
        return self.reply(data)

    async def upload_sign(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        name = str(body.get("originalFilename") or "file")
        content_type = str(body.get("contentType") or "application/octet-stream")
        key = f"temp/{uuid.uuid4().hex}/{quote(name, safe='.-_')}"
        expires = time.time() + self.emu.knobs.upload_ttl_s
        data = {
            "uploadUrl": self.signed_url(
                "PUT", key, content_type, ttl_s=self.emu.knobs.upload_ttl_s
            ),
            "accessUrl": self.signed_url("GET", key),
            "path": key,
            "objectKey": key,
            "expireTime": int(expires * 1000),
        }
        return self.reply(data)

    # -- object storage -------------------------------------------------------------------

    def signed_url(
        self, method: str, key: str, content_type: str = "", *, ttl_s: float | None = None
    ) -> str:
        expires = str(int(time.time() + (self.emu.knobs.file_ttl_s if ttl_s is None else ttl_s)))
        signature = self._signer.sign(f"{method} {key} {content_type}", expires)
        return f"{self.emu.base_url}{OSS}{key}?Expires={expires}&Signature={signature}"

    def _verify(self, request: web.Request, content_type: str = "") -> web.Response | None:
        key = request.match_info["key"]
        expires, signature = request.query.get("Expires", ""), request.query.get("Signature", "")
        if not self._signer.check(f"{request.method} {key} {content_type}", expires, signature):
            return cdn_error(403, "SignatureDoesNotMatch", "The request signature does not match.")
        if not expires.isdigit() or int(expires) < time.time():
            return cdn_error(403, "AccessDenied", "Request has expired.")
        return None

    async def put_object(self, request: web.Request) -> web.Response:
        content_type = request.headers.get("Content-Type", "")
        refusal = self._verify(request, content_type)
        if refusal is not None:
            return refusal
        self.objects[request.match_info["key"]] = (content_type, await request.read())
        self.emu.stats.uploads += 1
        return web.Response(status=200, headers={"ETag": f'"{uuid.uuid4().hex.upper()}"'})

    async def get_object(self, request: web.Request) -> web.Response:
        refusal = self._verify(request)
        if refusal is not None:
            return refusal
        key = request.match_info["key"]
        if key.startswith(RESULT_PREFIX):
            task = self.emu.tasks.get(key[len(RESULT_PREFIX) :].split("_", 1)[0])
            if task is None:
                return cdn_error(404, "NoSuchKey", "The specified key does not exist.")
            source = self.objects.get(task.source_key or "")
            content_type, data = "image/png", render_png(source[1] if source else None, 0)
        elif key in self.objects:
            content_type, data = self.objects[key]
        else:
            return cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        self.emu.stats.downloads += 1
        return web.Response(body=data, content_type=content_type.split(";")[0] or None)

    # -- helpers --------------------------------------------------------------------------

    def _json(self, handler: BodyHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The service's handler: a body that is not a JSON object is refused (InvalidParam)."""

        async def handle(request: web.Request) -> web.Response:
            body = await _body(request)
            if body is None:
                return self.reply(code=INVALID_PARAM, msg="the body is not a JSON object")
            return await handler(request, body)

        return handle

    def _of_task(self, handler: TaskHandler) -> BodyHandler:
        """Hands on the task the body's taskId names (counting the request) as it is now; an
        unknown taskId is answered CanNotFindTask."""

        async def handle(request: web.Request, body: dict[str, Any]) -> web.Response:
            task = self.emu.tasks.get(str(body.get("taskId") or ""))
            if task is None or task.owner != request[APP_KEY]:  # another app's: unknown
                msg = f"Cannot find task:{body.get('taskId')}"
                return self.reply(code=CAN_NOT_FIND_TASK, msg=msg)
            task.requests[request.path] += 1
            return handler(task, task.at(self.emu.clock()))

        return handle

    def _count_submit(self, owner: str) -> None:
        """The app's submits, and the most of its tasks unfinished at once."""
        stats, now = self.emu.stats, self.emu.clock()
        stats.submits_by_app[owner] += 1
        unfinished = sum(
            1
            for task in self.emu.tasks.values()
            if task.owner == owner and task.at(now).status in ("waiting", "running")
        )
        stats.peak_by_app[owner] = max(stats.peak_by_app[owner], unfinished)

    def _timing(self, task: AliyunTask) -> dict[str, Any]:
        return {
            "taskDuration": round(task.run_s * 1000),
            "taskBeginTime": task.begin_ms,
            "taskEndTime": task.end_ms,
        }

    def _source(self, inputs: dict[str, Any]) -> str | None:
        """The object key of the first input that is one of our uploads ("image" first)."""
        names = sorted(inputs, key=lambda name: name != "image")
        for name in names:
            value = inputs[name]
            if isinstance(value, str) and urlsplit(value).path.startswith(OSS):
                key = urlsplit(value).path[len(OSS) :]
                if key in self.objects:
                    return key
        return None


async def _body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
