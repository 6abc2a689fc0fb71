"""Aliyun 智作工坊 (SpeedPix): published ComfyUI workflows behind Aliyun's API gateway.

Every call is a POST of compact JSON signed with an app's key and secret
(aliyun_calls.py); refusals are mapped in aliyun_errors.py. Several apps may be pooled
(RENDERGATE_ALIYUN_APP_KEYS, providers/accounts.py): a task runs on the app the submit
step chose, recorded in its job handle. A task is followed with
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
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from pydantic import Field, SecretStr

from rendergate.domain.errors import (
    ConfigError,
    Fault,
    JobLost,
    OutOfFunds,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from rendergate.providers import ProviderEntry
from rendergate.providers import aliyun_results as read
from rendergate.providers.accounts import ByAccount, PooledSettings, ProviderAccount, pooled_keys
from rendergate.providers.aliyun_calls import AliyunApi
from rendergate.providers.aliyun_errors import (
    ACCOUNT_REFUSALS,
    KEY_SETTING,
    KEYS_SETTING,
    SECRET_SETTING,
)
from rendergate.providers.base import (
    InputFile,
    JobHandle,
    JobPhase,
    JobRequest,
    JobStatus,
    OutputRef,
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
        accounts: Sequence[ProviderAccount],
        base_url: str,
        http: aiohttp.ClientSession,
        resource_config_id: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        """`accounts`: its apps, each secret `APP_KEY:APP_SECRET` (app_pair)."""
        self.accounts = tuple(accounts)  # PooledAccounts: the first also runs older handles
        self._apis = ByAccount(
            self.name,
            {
                account.id: AliyunApi(
                    http, **app_pair(account.secret), base_url=base_url, timeout_s=timeout_s
                )
                for account in self.accounts
            },
        )
        self._resource_config_id = resource_config_id

    def refuses_account(self, error: ProviderError) -> bool:
        """A refusal of the app's account (its key, its secret, its arrears): another app
        may take the task (PooledAccounts)."""
        return isinstance(error, OutOfFunds) or error.code in ACCOUNT_REFUSALS

    async def aclose(self) -> None:
        """Nothing to close: the HTTP session is the composition root's."""

    # -- the Provider protocol ------------------------------------------------------------

    async def upload(self, file: InputFile) -> str:
        sign = await self._apis[file.account].call(
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
        await self._apis[file.account].put_file(upload_url, file)
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
        account = request.account or self.accounts[0].id
        data = await self._apis[account].call(PROMPT, body, headers)
        task_id = data.get("taskId") if isinstance(data, dict) else None
        if not task_id:
            raise ProviderUnavailable("Aliyun accepted the task without a taskId")
        return JobHandle(
            job_id=str(task_id),
            data={
                "account": account,  # the app's id: status, results and downloads use it
                "workflow_id": body["workflow_id"],
                "submitted_at": time.time(),
                "estimated_s": number(data.get("estimatedDurationInSeconds")),
            },
        )

    async def self_check(self) -> str:
        """Asks after a task that does not exist, with each app (SelfChecks): a refused
        signature or key is a configuration error; any other answer means the gateway
        took our request."""
        for account in self.accounts:
            probe = JobHandle(job_id="rendergate-doctor-probe", data={"account": account.id})
            try:
                status = await self.status(probe)
            except JobLost:  # "no such task": the signature and key were taken
                continue
            if status.error is not None and status.error.fault is Fault.CONFIG:
                raise status.error
        apps = "" if len(self.accounts) == 1 else f" of each of {len(self.accounts)} apps"
        return f"the gateway accepted our signed request{apps}"

    async def status(self, job: JobHandle) -> JobStatus:
        try:
            data = await self._apis[job.data.get("account")].call(PROGRESS, {"taskId": job.job_id})
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
            output,
            fetch=self._apis[job.data.get("account")].get_file,
            refresh=refresh,
            same=read.same_output,
            provider="Aliyun",
        )

    # -- helpers --------------------------------------------------------------------------

    async def _result(
        self, job: JobHandle, *, failed: bool = False, reason: Any = None
    ) -> JobStatus:
        """comfy_get_result, read into a final status (or RUNNING if it is not ready yet)."""
        try:
            data = await self._apis[job.data.get("account")].call(RESULT, {"taskId": job.job_id})
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


class AliyunSettings(PooledSettings):
    aliyun_app_key: SecretStr | None = Field(
        None, description="Aliyun 智作工坊 app key (AppKey of a ComfyUI-type app)."
    )
    aliyun_app_secret: SecretStr | None = Field(
        None, description="Aliyun 智作工坊 app secret (AppSecret of the same app)."
    )
    aliyun_app_keys: SecretStr | None = Field(
        None,
        description="Several Aliyun apps, used together: comma-separated "
        "`[name=]APP_KEY:APP_SECRET[:concurrency]` entries (docs/configuration.md). Each "
        "task runs on the app with room; one without its own concurrency takes "
        "ALIYUN_CONCURRENCY.",
    )
    aliyun_base_url: str = Field(
        "https://openai.edu-aliyun.com", description="Aliyun 智作工坊 API endpoint."
    )
    aliyun_concurrency: int = Field(
        3, ge=1, description="Tasks run at once per Aliyun app (unless its entry says)."
    )
    aliyun_resource_config_id: str | None = Field(
        None,
        description="X-SP-RESOURCE-CONFIG-ID: resource pools, comma-separated "
        "(`default` = shared pool; unset = shared pool).",
    )

    def accounts(self) -> tuple[ProviderAccount, ...]:
        """The apps: ALIYUN_APP_KEY and ALIYUN_APP_SECRET first, when both are set, then
        ALIYUN_APP_KEYS'; each account's secret is `APP_KEY:APP_SECRET`."""
        key, secret, listed = self.aliyun_app_key, self.aliyun_app_secret, self.aliyun_app_keys
        if listed is not None and (key is None) != (secret is None):
            raise ConfigError(f"set both {KEY_SETTING} and {SECRET_SETTING}, or neither")
        single = None
        if key is not None and secret is not None:
            single = SecretStr(f"{key.get_secret_value()}:{secret.get_secret_value()}")
        found = pooled_keys(single, listed, self.aliyun_concurrency, setting=KEYS_SETTING)
        for position, account in enumerate(found, start=1 if single is None else 0):
            app_key, colon, app_secret = account.secret.partition(":")
            if not (app_key and colon and app_secret) or ":" in app_secret:
                raise ConfigError(
                    f"entry {position} of {KEYS_SETTING} is not APP_KEY:APP_SECRET[:concurrency]"
                )
        return found


def app_pair(secret: str) -> dict[str, str]:
    """An account's `APP_KEY:APP_SECRET`, as AliyunApi takes it."""
    app_key, _, app_secret = secret.partition(":")
    return {"app_key": app_key, "app_secret": app_secret}


def from_settings(settings: AliyunSettings, http: aiohttp.ClientSession) -> Aliyun:
    return Aliyun(
        accounts=settings.accounts(),  # at least one: the registry checked it
        base_url=settings.aliyun_base_url,
        http=http,
        resource_config_id=settings.aliyun_resource_config_id,
    )


PROVIDER = ProviderEntry(
    name="aliyun",
    settings=AliyunSettings,
    factory=from_settings,
    required=("aliyun_app_key|aliyun_app_keys", "aliyun_app_secret|aliyun_app_keys"),
    concurrency_setting="aliyun_concurrency",
    accounts=AliyunSettings.accounts,
)
