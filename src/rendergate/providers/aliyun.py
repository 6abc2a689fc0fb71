"""Aliyun 智作工坊 (SpeedPix): published ComfyUI workflows behind Aliyun's API gateway.

Every call is a POST of compact JSON signed with the app's key and secret
(aliyun_signing.py); refusals are mapped in aliyun_errors.py. A task is followed with
comfy_get_progress (status, progress 0-1, queue length) and, once it has ended,
comfy_get_result (outputs: the `images` URLs and the file objects of custom `result`
fields; taskDuration). Inputs go up through sp_create_temp_file_upload_sign and a PUT;
the job refers to them by their accessUrl.

Bindings: `field` is the key in the workflow's published `inputs`; `node_id` only records
which node that key was mapped from when the workflow was published and is not sent
(Aliyun's inputs are flat). Aliyun has neither cancel nor webhooks, and no client-chosen
task id, so submit cannot be made idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from pydantic import Field, SecretStr

from rendergate.config.settings import ProviderSettings
from rendergate.domain.errors import Fault, JobLost, ProviderRejected, ProviderUnavailable
from rendergate.providers import ProviderEntry
from rendergate.providers import aliyun_results as read
from rendergate.providers.aliyun_errors import gateway_error, service_error
from rendergate.providers.aliyun_signing import encode_body, sign_request
from rendergate.providers.base import (
    InputFile,
    JobHandle,
    JobPhase,
    JobRequest,
    JobStatus,
    OutputRef,
)
from rendergate.providers.http import (
    call_timeout,
    exchange,
    fetch_result,
    json_of,
    refuse_outage,
)
from rendergate.providers.kit import download_refreshing, number

log = structlog.get_logger(__name__)

PROMPT = "/scc/comfy_prompt"
PROGRESS = "/scc/comfy_get_progress"
RESULT = "/scc/comfy_get_result"
UPLOAD_SIGN = "/scc/sp_create_temp_file_upload_sign"


class Aliyun:
    name = "aliyun"

    def __init__(
        self,
        *,
        app_key: str,
        app_secret: str,
        base_url: str,
        http: aiohttp.ClientSession,
        resource_config_id: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._app_key = app_key
        self._app_secret = app_secret
        self._base = base_url.rstrip("/")
        self._resource_config_id = resource_config_id
        self._http = http
        self._timeout = call_timeout(timeout_s)

    # -- plumbing -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Nothing to close: the HTTP session is the composition root's."""

    async def _call(self, path: str, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        """Returns `data` of a status-10 envelope; raises from the ProviderError tree."""
        body = encode_body(payload)  # hashed and sent as these very bytes
        signed = sign_request(
            app_key=self._app_key, app_secret=self._app_secret, path=path, body=body
        )
        reply = await exchange(
            self._http,
            "POST",
            self._base + path,
            who="Aliyun",
            time_limit=self._timeout,
            data=body,
            headers={**signed, **(headers or {})},
        )
        status, refusal = reply.status, reply.headers.get("X-Ca-Error-Message")
        if refusal is not None and status >= 400:
            log.warning(
                "Aliyun's API gateway refused a call",
                path=path,
                http_status=status,
                request_id=reply.headers.get("X-Ca-Request-Id", ""),
                gateway_message=refusal.replace(self._app_key, "<app key>"),
            )
            raise gateway_error(status, refusal)
        refuse_outage(reply, "Aliyun")
        envelope = json_of(reply, "Aliyun")
        if not isinstance(envelope, dict) or "status" not in envelope:
            if status >= 400:
                raise ProviderRejected(f"Aliyun answered HTTP {status}", fault=Fault.CONFIG)
            raise ProviderUnavailable("Aliyun answered without its envelope")
        if str(envelope["status"]) == "10" and status < 400:
            return envelope.get("data")
        raise service_error(
            envelope.get("errCode"),
            envelope.get("errMessage"),
            envelope.get("subErrCode"),
            envelope.get("subErrMessage"),
        )

    # -- the Provider protocol ------------------------------------------------------------

    async def upload(self, file: InputFile) -> str:
        sign = await self._call(
            UPLOAD_SIGN,
            {
                "originalFilename": f"{file.role}.{file.extension}",
                "contentType": file.content_type,
                "size": len(file.data),
            },
        )
        upload_url = sign.get("uploadUrl") if isinstance(sign, dict) else None
        access_url = sign.get("accessUrl") if isinstance(sign, dict) else None
        if not isinstance(upload_url, str) or not isinstance(access_url, str) or not access_url:
            raise ProviderUnavailable("Aliyun's upload sign had no uploadUrl or accessUrl")
        if urlsplit(upload_url).scheme not in ("http", "https"):
            raise ProviderRejected("Aliyun gave an upload URL that is not http(s)")
        reply = await exchange(
            self._http,
            "PUT",
            upload_url,
            who="Aliyun's storage",
            time_limit=self._timeout,
            data=file.data,
            headers={"Content-Type": file.content_type},
        )
        status = reply.status
        if status >= 500 or status in (403, 429):  # 403: the signed URL lapsed; sign again
            raise ProviderUnavailable(f"Aliyun's storage answered HTTP {status} to the upload")
        if status >= 300:
            raise ProviderRejected(f"Aliyun's storage refused the {file.role} (HTTP {status})")
        return access_url

    async def submit(self, request: JobRequest) -> JobHandle:
        options = request.app.options
        if not options.get("workflow_id"):
            raise ProviderRejected(
                f"app {request.app.name!r} has no options.workflow_id", fault=Fault.CONFIG
            )
        body: dict[str, Any] = {"workflow_id": str(options["workflow_id"])}
        if options.get("version_id"):
            body["version_id"] = str(options["version_id"])
        else:
            body["alias_id"] = str(options.get("alias_id") or "main")  # the SDK's default
        body["inputs"] = read.inputs(request)
        for flag in ("randomise_seeds", "return_temp_files"):
            if flag in options:
                body[flag] = bool(options[flag])
        headers = {}
        pools = options.get("resource_config_id") or self._resource_config_id
        if pools:
            headers["X-SP-RESOURCE-CONFIG-ID"] = str(pools)
        data = await self._call(PROMPT, body, headers)
        task_id = data.get("taskId") if isinstance(data, dict) else None
        if not task_id:
            raise ProviderUnavailable("Aliyun accepted the task without a taskId")
        return JobHandle(
            job_id=str(task_id),
            data={
                "workflow_id": body["workflow_id"],
                "submitted_at": time.time(),
                "estimated_s": number(data.get("estimatedDurationInSeconds")),
            },
        )

    async def self_check(self) -> str:
        """Asks after a task that does not exist (SelfChecks): a refused signature or key
        is a configuration error; any other answer means the gateway took our request."""
        try:
            status = await self.status(JobHandle(job_id="rendergate-doctor-probe"))
        except JobLost:  # "no such task": the signature and key were taken
            return "the gateway accepted our signed request"
        if status.error is not None and status.error.fault is Fault.CONFIG:
            raise status.error
        return "the gateway accepted our signed request"

    async def status(self, job: JobHandle) -> JobStatus:
        try:
            data = await self._call(PROGRESS, {"taskId": job.job_id})
        except ProviderRejected as exc:
            return JobStatus(phase=JobPhase.FAILED, error=exc)
        data = data if isinstance(data, dict) else {}
        phase = read.PHASES.get(str(data.get("status", "")).lower(), JobPhase.RUNNING)
        if phase is JobPhase.CANCELED:
            return JobStatus(phase=phase)
        if phase in (JobPhase.QUEUED, JobPhase.RUNNING):
            queued = phase is JobPhase.QUEUED
            return JobStatus(
                phase=phase,
                progress=read.percent(data.get("progress")),
                queue_position=read.count(data.get("lastQueueRemaining")) if queued else None,
                poll_after_s=read.poll_s(data.get("etaRelative")),
            )
        return await self._result(job, failed=phase is JobPhase.FAILED, reason=data.get("message"))

    async def download(self, job: JobHandle, output: OutputRef) -> bytes:
        """The signed URL may have expired: then fresh ones are asked for, once."""

        async def refresh() -> tuple[OutputRef, ...]:
            return (await self._result(job)).outputs

        return await download_refreshing(
            output, fetch=self._get_file, refresh=refresh, same=read.same_output, provider="Aliyun"
        )

    # -- helpers --------------------------------------------------------------------------

    async def _result(
        self, job: JobHandle, *, failed: bool = False, reason: Any = None
    ) -> JobStatus:
        """comfy_get_result, read into a final status (or RUNNING if it is not ready yet)."""
        try:
            data = await self._call(RESULT, {"taskId": job.job_id})
        except ProviderRejected as exc:  # status 20 with the reason: the task failed
            return JobStatus(phase=JobPhase.FAILED, error=exc)
        data = data if isinstance(data, dict) else {}
        phase = read.PHASES.get(str(data.get("status", "")).lower())
        if phase in (JobPhase.QUEUED, JobPhase.RUNNING):
            return JobStatus(phase=JobPhase.RUNNING, progress=99, poll_after_s=1.0)
        if phase is JobPhase.CANCELED:
            return JobStatus(phase=phase)
        if phase is JobPhase.FAILED or (failed and phase is not JobPhase.SUCCEEDED):
            detail = " ".join(str(reason or data.get("message") or "").split())[:200]
            text = "the task failed on Aliyun" + (f": {detail}" if detail else "")
            return JobStatus(phase=JobPhase.FAILED, error=ProviderRejected(text))
        return JobStatus(
            phase=JobPhase.SUCCEEDED, progress=100, outputs=read.outputs(data), cost=read.cost(data)
        )

    async def _get_file(self, url: str) -> bytes | None:
        return await fetch_result(self._http, url, provider="Aliyun", time_limit=self._timeout)


class AliyunSettings(ProviderSettings):
    aliyun_app_key: SecretStr | None = Field(
        None, description="Aliyun 智作工坊 app key (AppKey of a ComfyUI-type app)."
    )
    aliyun_app_secret: SecretStr | None = Field(
        None, description="Aliyun 智作工坊 app secret (AppSecret of the same app)."
    )
    aliyun_base_url: str = Field(
        "https://openai.edu-aliyun.com", description="Aliyun 智作工坊 API endpoint."
    )
    aliyun_concurrency: int = Field(3, ge=1, description="Tasks run at once per Aliyun app.")
    aliyun_resource_config_id: str | None = Field(
        None,
        description="X-SP-RESOURCE-CONFIG-ID: resource pools, comma-separated "
        "(`default` = shared pool; unset = shared pool).",
    )


def from_settings(settings: AliyunSettings, http: aiohttp.ClientSession) -> Aliyun:
    assert settings.aliyun_app_key is not None  # the registry checked them
    assert settings.aliyun_app_secret is not None
    return Aliyun(
        app_key=settings.aliyun_app_key.get_secret_value(),
        app_secret=settings.aliyun_app_secret.get_secret_value(),
        base_url=settings.aliyun_base_url,
        http=http,
        resource_config_id=settings.aliyun_resource_config_id,
    )


PROVIDER = ProviderEntry(
    name="aliyun",
    settings=AliyunSettings,
    factory=from_settings,
    required=("aliyun_app_key", "aliyun_app_secret"),
    concurrency_setting="aliyun_concurrency",
)
