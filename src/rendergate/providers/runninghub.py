"""RunningHub (www.runninghub.cn / .ai), v1 API: AI apps and workflows.

Every call is a POST with the key in the JSON body and the `Host` header the docs require;
errors come back as HTTP 200 with a non-zero code (runninghub_errors.py maps them). One
/task/openapi/outputs call tells status, outputs, cost and failure reason at once, so it is
the only status call. While a webhook is expected, status answers from an estimate without
calling RunningHub, except for a slow safety-net poll.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from rendergate.domain.errors import Fault, ProviderRejected, ProviderUnavailable
from rendergate.providers.base import (
    InputFile,
    JobHandle,
    JobPhase,
    JobRequest,
    JobStatus,
    OutputRef,
    WebhookEvent,
)
from rendergate.providers.http import LazySession, encode_json, fetch_result
from rendergate.providers.kit import Action, binding_values, download_refreshing, number
from rendergate.providers.runninghub_errors import error_for, info

if TYPE_CHECKING:
    from rendergate.config import Settings

MAX_UPLOAD_BYTES = 30 * 1024 * 1024  # RunningHub's own limit
SAFETY_POLL_S = 30.0  # with a webhook on its way, RunningHub is still asked this often
ESTIMATE_EVERY_S = 10.0  # how often an estimated progress is reported meanwhile (a write each)
DEFAULT_RUN_S = 60.0


class RunningHub:
    name = "runninghub"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        host: str | None = None,
        timeout_s: float = 30.0,
        connections: int = 100,
    ) -> None:
        self._api_key = api_key
        self._base = base_url.rstrip("/")
        self._host = host or urlsplit(self._base).netloc
        self._http = LazySession(
            timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=10), connections=connections
        )
        self._run_times: dict[str, deque[float]] = {}  # app key -> recent taskCostTime (s)
        self._last_poll: dict[str, float] = {}  # job id -> monotonic time of the last real call
        self._hinted: set[str] = set()  # jobs a webhook said have ended

    # -- plumbing -------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, *, json_body: Any = None, form: Any = None) -> Any:
        """Returns the envelope; raises ProviderUnavailable for every transport-level failure."""
        headers = {"Host": self._host}
        data: Any = form
        if json_body is not None:
            data = encode_json(json_body)
            headers["Content-Type"] = "application/json"
        try:
            async with self._http().post(self._base + path, data=data, headers=headers) as r:
                raw = await r.read()
                status, content_type = r.status, r.content_type
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(f"could not reach RunningHub: {type(exc).__name__}") from exc
        if status >= 500 or status == 429:
            raise ProviderUnavailable(f"RunningHub answered HTTP {status}", code=f"http{status}")
        if status in (401, 403):
            raise ProviderRejected(f"RunningHub refused us (HTTP {status})", fault=Fault.CONFIG)
        try:
            envelope = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ProviderUnavailable(
                f"RunningHub answered HTTP {status} with {content_type or 'a body'} instead of JSON"
            ) from exc
        if status >= 400 or not isinstance(envelope, dict) or "code" not in envelope:
            raise ProviderUnavailable(f"RunningHub answered HTTP {status} without its envelope")
        return envelope

    async def _call(self, path: str, body: dict[str, Any]) -> Any:
        """A call whose only good answer is code 0; returns its data."""
        envelope = await self._post(path, json_body={"apiKey": self._api_key, **body})
        if envelope["code"] != 0:
            raise error_for(int(envelope["code"]), str(envelope.get("msg") or ""))
        return envelope.get("data")

    # -- the Provider protocol ------------------------------------------------------------

    async def upload(self, file: InputFile) -> str:
        if len(file.data) > MAX_UPLOAD_BYTES:
            raise ProviderRejected(
                f"{file.role} is over RunningHub's 30 MB upload limit", fault=Fault.USER
            )
        form = aiohttp.FormData()
        form.add_field("apiKey", self._api_key)
        form.add_field("fileType", "image")
        form.add_field(
            "file",
            file.data,
            filename=f"{file.role}.{file.extension}",
            content_type=file.content_type,
        )
        envelope = await self._post("/task/openapi/upload", form=form)
        if envelope["code"] != 0:
            raise error_for(int(envelope["code"]), str(envelope.get("msg") or ""))
        try:
            return str(envelope["data"]["fileName"])
        except (KeyError, TypeError) as exc:
            raise ProviderUnavailable("RunningHub's upload answer had no fileName") from exc

    async def submit(self, request: JobRequest) -> JobHandle:
        options = request.app.options
        body: dict[str, Any] = {"nodeInfoList": _node_info(request)}
        if request.callback_url:
            body["webhookUrl"] = request.callback_url
        if options.get("instance_type"):
            body["instanceType"] = str(options["instance_type"])
        if "webapp_id" in options:
            path, app_key = "/task/openapi/ai-app/run", f"app:{options['webapp_id']}"
            body["webappId"] = int(options["webapp_id"])  # a JSON number, as the docs require
        elif "workflow_id" in options:
            path, app_key = "/task/openapi/create", f"wf:{options['workflow_id']}"
            body["workflowId"] = str(options["workflow_id"])
            if options.get("workflow"):
                body["workflow"] = str(options["workflow"])
            if options.get("use_personal_queue"):
                body["usePersonalQueue"] = True
        else:
            raise ProviderRejected(
                f"app {request.app.name!r} names neither options.webapp_id nor options.workflow_id",
                fault=Fault.CONFIG,
            )
        data = await self._call(path, body)
        _check_prompt_tips(data.get("promptTips"))
        job_id = str(data["taskId"])
        self._last_poll[job_id] = time.monotonic()
        return JobHandle(
            job_id=job_id,
            data={
                "app": app_key,
                "submitted_at": time.time(),
                "webhook": bool(request.callback_url),
            },
        )

    async def status(self, job: JobHandle) -> JobStatus:
        if self._waiting_for_webhook(job):
            return self._estimate(job)
        self._last_poll[job.job_id] = time.monotonic()
        envelope = await self._post(
            "/task/openapi/outputs", json_body={"apiKey": self._api_key, "taskId": job.job_id}
        )
        code, data = int(envelope["code"]), envelope.get("data")
        if code == 0:
            if not isinstance(data, list):  # "done" must list the files, even as []
                raise ProviderUnavailable("RunningHub's outputs answer had no file list")
            return self._succeeded(job, data)
        if code == 813:
            return JobStatus(phase=JobPhase.QUEUED, progress=0, poll_after_s=self._poll_s(job))
        if code == 804:
            estimate = self._estimate(job)
            return JobStatus(
                phase=JobPhase.RUNNING, progress=estimate.progress, poll_after_s=self._poll_s(job)
            )
        if code == 805:
            reason = data.get("failedReason") if isinstance(data, dict) else None
            return JobStatus(phase=JobPhase.FAILED, error=_failure(reason))
        error = error_for(code, str(envelope.get("msg") or ""))
        if info(code).action is Action.TERMINAL:
            return JobStatus(phase=JobPhase.FAILED, error=error)
        raise error  # retry later, or the job is lost

    async def download(self, job: JobHandle, output: OutputRef) -> bytes:
        """The signed URL may have expired: then fresh ones are asked for, once."""

        async def refresh() -> tuple[OutputRef, ...]:
            return (await self.status(job)).outputs

        return await download_refreshing(
            output, fetch=self._get_file, refresh=refresh, same=_same_output, provider="RunningHub"
        )

    async def cancel(self, job: JobHandle) -> bool:
        envelope = await self._post(
            "/task/openapi/cancel", json_body={"apiKey": self._api_key, "taskId": job.job_id}
        )
        code = int(envelope["code"])
        if code in (0, 807, 817):  # stopped, unknown, or already finished: it runs no more
            return True
        raise error_for(code, str(envelope.get("msg") or ""))

    async def account_status(self) -> dict[str, Any]:
        """Coins, money and running tasks of the key (`/uc/openapi/accountStatus`)."""
        envelope = await self._post(
            "/uc/openapi/accountStatus", json_body={"apikey": self._api_key}
        )
        if envelope["code"] != 0:
            raise error_for(int(envelope["code"]), str(envelope.get("msg") or ""))
        data = envelope.get("data") or {}
        return {
            "remain_coins": data.get("remainCoins"),
            "remain_money": data.get("remainMoney"),
            "currency": data.get("currency"),
            "current_task_counts": number(data.get("currentTaskCounts")),
            "api_type": data.get("apiType"),
        }

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """RunningHub signs nothing: the event only says which task to look at again."""
        try:
            payload = json.loads(body)
            job_id, event = str(payload["taskId"]), str(payload.get("event", ""))
        except (ValueError, KeyError, TypeError, RecursionError):
            raise ProviderRejected("not a RunningHub webhook", fault=Fault.USER) from None
        if not job_id.isdigit():
            raise ProviderRejected("not a RunningHub task id", fault=Fault.USER)
        self._hinted.add(job_id)
        return WebhookEvent(job_id=job_id, event=event)

    # -- helpers --------------------------------------------------------------------------

    async def _get_file(self, url: str) -> bytes | None:
        return await fetch_result(self._http(), url, provider="RunningHub")

    def _waiting_for_webhook(self, job: JobHandle) -> bool:
        if not job.data.get("webhook") or job.job_id in self._hinted:
            return False
        last = self._last_poll.get(job.job_id)
        return last is not None and time.monotonic() - last < SAFETY_POLL_S

    def _expected_run_s(self, job: JobHandle) -> float:
        recent = self._run_times.get(str(job.data.get("app", "")))
        return statistics.median(recent) if recent else DEFAULT_RUN_S

    def _estimate(self, job: JobHandle) -> JobStatus:
        """Progress from the time since submit against this app's recent run times; < 100."""
        elapsed = time.time() - float(job.data.get("submitted_at", time.time()))
        progress = min(95, int(100 * elapsed / max(self._expected_run_s(job), 1.0)))
        wait = ESTIMATE_EVERY_S
        if self._waiting_for_webhook(job):
            wait = min(wait, SAFETY_POLL_S - (time.monotonic() - self._last_poll[job.job_id]))
        return JobStatus(phase=JobPhase.RUNNING, progress=progress, poll_after_s=max(wait, 0.5))

    def _poll_s(self, job: JobHandle) -> float:
        if job.data.get("webhook"):
            return SAFETY_POLL_S
        return min(10.0, max(1.0, self._expected_run_s(job) / 10))

    def _succeeded(self, job: JobHandle, files: list[Any]) -> JobStatus:
        self._hinted.discard(job.job_id)
        self._last_poll.pop(job.job_id, None)
        outputs = tuple(
            OutputRef(
                locator=str(f.get("fileUrl", "")),
                file_type=str(f.get("fileType") or "png"),
                node_id=str(f.get("nodeId") or ""),
            )
            for f in files
            if isinstance(f, dict) and f.get("fileUrl")
        )
        cost = _cost(files)
        seconds = number(cost.get("taskCostTime")) if cost else None
        if seconds:
            self._run_times.setdefault(str(job.data.get("app", "")), deque(maxlen=20)).append(
                seconds
            )
        return JobStatus(phase=JobPhase.SUCCEEDED, progress=100, outputs=outputs, cost=cost)


def _node_info(request: JobRequest) -> list[dict[str, Any]]:
    """The app's bindings filled with this task's inputs (uploaded file names), angle and params."""
    items = []
    for binding, value in binding_values(request):
        if not binding.node_id:
            raise ProviderRejected(
                f"app {request.app.name!r} binds {binding.source} without a node_id",
                fault=Fault.CONFIG,
            )
        items.append({"nodeId": binding.node_id, "fieldName": binding.field, "fieldValue": value})
    return items


def _check_prompt_tips(tips: Any) -> None:
    """promptTips is ComfyUI's validation result as a JSON string; node errors are terminal."""
    try:
        parsed = json.loads(tips) if isinstance(tips, str) and tips else {}
    except (ValueError, RecursionError):
        return
    errors = parsed.get("node_errors") if isinstance(parsed, dict) else None
    if errors:
        nodes = ", ".join(sorted(str(node) for node in errors))
        raise ProviderRejected(f"RunningHub's ComfyUI refused nodes {nodes}", fault=Fault.USER)


def _failure(reason: Any) -> ProviderRejected:
    if not isinstance(reason, dict):
        return ProviderRejected("the task failed on RunningHub (805)", code="805")
    node = reason.get("node_name") or "a node"
    node_id = f" (node {reason['node_id']})" if reason.get("node_id") else ""
    kind = reason.get("exception_type") or "an error"
    message = str(reason.get("exception_message") or "").strip()
    text = f"{node}{node_id} raised {kind}" + (f": {message}" if message else "")
    return ProviderRejected(f"the task failed on RunningHub: {text}", fault=Fault.USER, code="805")


def _cost(files: list[Any]) -> dict[str, Any] | None:
    first = next((f for f in files if isinstance(f, dict)), None)
    if first is None:
        return None
    keys = ("consumeCoins", "consumeMoney", "thirdPartyConsumeMoney", "taskCostTime")
    return {key: first.get(key) for key in keys}


def _same_output(a: OutputRef, b: OutputRef) -> bool:
    return a.node_id == b.node_id and a.file_type == b.file_type


def from_settings(settings: Settings) -> RunningHub:
    assert settings.runninghub_api_key is not None  # the registry checked it
    return RunningHub(
        api_key=settings.runninghub_api_key.get_secret_value(),
        base_url=settings.runninghub_base_url,
        host=settings.runninghub_host,
        timeout_s=settings.runninghub_timeout_s,
        connections=max(100, settings.runninghub_concurrency * 4),
    )
