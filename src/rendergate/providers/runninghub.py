"""RunningHub (www.runninghub.cn / .ai), v1 API: AI apps and workflows.

Every call is a POST with the key in the JSON body and the `Host` header the docs require
(runninghub_calls.py); errors come back as HTTP 200 with a non-zero code
(runninghub_errors.py maps them). One
/task/openapi/outputs call tells status, outputs, cost and failure reason at once, so it is
the only status call; when to make it is the tracker's choice (workflow/poll_plan.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import aiohttp
import structlog
from pydantic import Field, SecretStr

from rendergate.domain.errors import (
    Fault,
    OutOfFunds,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from rendergate.providers import ProviderEntry
from rendergate.providers import runninghub_results as results
from rendergate.providers.accounts import (
    ByAccount,
    PooledSettings,
    ProviderAccount,
    account_id,
    pooled_keys,
)
from rendergate.providers.base import (
    Balance,
    InputFile,
    JobHandle,
    JobPhase,
    JobRequest,
    JobStatus,
    OutputRef,
    WebhookEvent,
)
from rendergate.providers.kit import Action, download_refreshing, number
from rendergate.providers.runninghub_calls import RunningHubApi, envelope_error
from rendergate.providers.runninghub_errors import ACCOUNT_CODES, info

log = structlog.get_logger(__name__)

MAX_UPLOAD_BYTES = 30 * 1024 * 1024  # RunningHub's own limit
KEYS = "RENDERGATE_RUNNINGHUB_API_KEYS"


class RunningHub:
    name = "runninghub"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        accounts: Sequence[ProviderAccount] = (),
        base_url: str,
        http: aiohttp.ClientSession,
        host: str | None = None,
        timeout_s: float = 30.0,
        balance_every_s: float = 0.0,
        balance_low: Decimal | None = None,
    ) -> None:
        self.balance_every_s, self.balance_low = balance_every_s, balance_low  # ReadsBalance
        if api_key is not None:
            accounts = (ProviderAccount(account_id(api_key), api_key, 1), *accounts)
        self.accounts = tuple(accounts)  # PooledAccounts: the first also runs older handles
        self._apis = ByAccount(
            self.name,
            {
                account.id: RunningHubApi(
                    http, api_key=account.secret, base_url=base_url, host=host, timeout_s=timeout_s
                )
                for account in self.accounts
            },
        )

    def _api(self, account: object) -> RunningHubApi:
        return self._apis[account]

    def refuses_account(self, error: ProviderError) -> bool:
        """A refusal of the key's account (its key, balance or membership): another key
        may take the task (PooledAccounts)."""
        return isinstance(error, OutOfFunds) or error.code in ACCOUNT_CODES

    async def aclose(self) -> None:
        """Nothing to close: the HTTP session is the composition root's."""

    # -- the Provider protocol ------------------------------------------------------------

    async def upload(self, file: InputFile) -> str:
        if len(file.data) > MAX_UPLOAD_BYTES:
            raise ProviderRejected(
                f"{file.role} is over RunningHub's 30 MB upload limit", fault=Fault.USER
            )
        return await self._api(file.account).upload(file)

    async def submit(self, request: JobRequest) -> JobHandle:
        options = request.app.options
        body: dict[str, Any] = {"nodeInfoList": results.node_info(request)}
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
        account = request.account or self.accounts[0].id
        data = await self._api(account).data(path, body)
        results.check_prompt_tips(data.get("promptTips"))
        job_id = str(data["taskId"])
        return JobHandle(
            job_id=job_id,
            data={
                "account": account,  # the key's id: status, cancel and download use it
                "app": app_key,
                "submitted_at": time.time(),
                "webhook": bool(request.callback_url),
            },
        )

    async def status(self, job: JobHandle) -> JobStatus:
        api = self._api(job.data.get("account"))
        envelope = await api.envelope("/task/openapi/outputs", {"taskId": job.job_id})
        code, data = int(envelope["code"]), envelope.get("data")
        if code == 0:
            if not isinstance(data, list):  # "done" must list the files, even as []
                raise ProviderUnavailable("RunningHub's outputs answer had no file list")
            return self._succeeded(job, data)
        if code == 813:
            return JobStatus(phase=JobPhase.QUEUED, progress=0)
        if code == 804:  # no progress given: the tracker estimates it from run times
            return JobStatus(phase=JobPhase.RUNNING)
        if code == 805:
            reason = data.get("failedReason") if isinstance(data, dict) else None
            return JobStatus(phase=JobPhase.FAILED, error=results.failure(reason))
        error = envelope_error(envelope)
        if info(code).action in (Action.TERMINAL, Action.FUNDS):
            return JobStatus(phase=JobPhase.FAILED, error=error)
        raise error  # retry later, or the job is lost

    async def download(self, job: JobHandle, output: OutputRef) -> bytes:
        """The signed URL may have expired: then fresh ones are asked for, once."""

        async def refresh() -> tuple[OutputRef, ...]:
            return (await self.status(job)).outputs

        return await download_refreshing(
            output,
            fetch=self._api(job.data.get("account")).get_file,
            refresh=refresh,
            same=results.same_output,
            provider="RunningHub",
        )

    async def cancel(self, job: JobHandle) -> bool:
        api = self._api(job.data.get("account"))
        envelope = await api.envelope("/task/openapi/cancel", {"taskId": job.job_id})
        if int(envelope["code"]) in (0, 807, 817):  # stopped, unknown, or finished: it runs no more
            return True
        raise envelope_error(envelope)

    async def account_status(self, account: str | None = None) -> dict[str, Any]:
        """Coins, money and running tasks of a key (`/uc/openapi/accountStatus`); the
        first key's by default."""
        data = await self._api(account).account()
        return {
            "remain_coins": data.get("remainCoins"),
            "remain_money": data.get("remainMoney"),
            "currency": data.get("currency"),
            "current_task_counts": number(data.get("currentTaskCounts")),
            "api_type": data.get("apiType"),
        }

    async def balances(self) -> dict[str, Balance]:
        """Each key's balance, by its account id, as decimals: never a float."""
        return {a.id: results.balance(await self._api(a.id).account()) for a in self.accounts}

    async def balance(self) -> Balance:
        """What the keys have left between them (ReadsBalance)."""
        return Balance.total(list((await self.balances()).values()))

    async def jobs_running(self) -> int:
        """The keys' queued and running tasks (CountsJobs), as accountStatus counts them:
        all keys', as the submit step compares them with all of the provider's tasks."""
        total = 0
        for account in self.accounts:
            count = (await self.account_status(account.id))["current_task_counts"]
            if count is None:
                raise ProviderUnavailable("RunningHub's account status had no currentTaskCounts")
            total += int(count)
        return total

    async def self_check(self) -> str:
        """accountStatus answers only to a valid key (SelfChecks)."""
        running = await self.jobs_running()
        keys = "the key works" if len(self.accounts) == 1 else f"{len(self.accounts)} keys work"
        return f"{keys}; {running} jobs queued or running"

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """RunningHub signs nothing: the event only says which task to look at again."""
        try:
            payload = json.loads(body)
            job_id, event = str(payload["taskId"]), str(payload.get("event", ""))
        except (ValueError, KeyError, TypeError, RecursionError):
            raise ProviderRejected("not a RunningHub webhook", fault=Fault.USER) from None
        if not job_id.isdigit():
            raise ProviderRejected("not a RunningHub task id", fault=Fault.USER)
        return WebhookEvent(job_id=job_id, event=event)

    # -- helpers --------------------------------------------------------------------------

    def _succeeded(self, job: JobHandle, files: list[Any]) -> JobStatus:
        outputs = tuple(
            OutputRef(
                locator=str(f.get("fileUrl", "")),
                file_type=str(f.get("fileType") or "png"),
                node_id=str(f.get("nodeId") or ""),
            )
            for f in files
            if isinstance(f, dict) and f.get("fileUrl")
        )
        cost = results.cost(files)
        return JobStatus(phase=JobPhase.SUCCEEDED, progress=100, outputs=outputs, cost=cost)


class RunningHubSettings(PooledSettings):
    runninghub_api_key: SecretStr | None = Field(None, description="RunningHub API key.")
    runninghub_api_keys: SecretStr | None = Field(
        None,
        description="Several RunningHub keys, used together: comma-separated "
        "`[name=]KEY[:concurrency]` entries (docs/configuration.md). Each task runs on the "
        "key with room; a key without its own concurrency takes RUNNINGHUB_CONCURRENCY.",
    )
    runninghub_base_url: str = Field(
        "https://www.runninghub.cn", description="RunningHub site (.cn or .ai)."
    )
    runninghub_host: str | None = Field(
        None, description="Host header for RunningHub; defaults to the base URL's host."
    )
    runninghub_timeout_s: float = Field(
        30.0, gt=0, description="Time limit of one call to RunningHub (stalls count as busy)."
    )
    runninghub_concurrency: int = Field(
        3, ge=1, description="Tasks run at once per RunningHub key (unless its entry says)."
    )
    runninghub_coin_price: Decimal | None = Field(
        None,
        ge=0,
        description="Money per RunningHub coin, in RENDERGATE_CURRENCY: prices a task that "
        "reports coins and no money (an estimate). Unset: such a task's cost is unknown.",
    )
    runninghub_balance_every_s: float = Field(
        300.0,
        ge=0,
        description="How often one worker reads the account's balance (a gauge, a warning "
        "below RENDERGATE_RUNNINGHUB_BALANCE_LOW); 0: never.",
    )
    runninghub_balance_low: Decimal | None = Field(
        None,
        ge=0,
        description="Coins below which the balance is low: logged once by the worker that "
        "reads it, and flagged by doctor. Unset: only a used-up balance is.",
    )

    def accounts(self) -> tuple[ProviderAccount, ...]:
        """The keys: RUNNINGHUB_API_KEY first, when set, then RUNNINGHUB_API_KEYS'."""
        single, listed = self.runninghub_api_key, self.runninghub_api_keys
        return pooled_keys(single, listed, self.runninghub_concurrency, setting=KEYS)


def from_settings(settings: RunningHubSettings, http: aiohttp.ClientSession) -> RunningHub:
    return RunningHub(
        accounts=settings.accounts(),  # at least one: the registry checked it
        base_url=settings.runninghub_base_url,
        http=http,
        host=settings.runninghub_host,
        timeout_s=settings.runninghub_timeout_s,
        balance_every_s=settings.runninghub_balance_every_s,
        balance_low=settings.runninghub_balance_low,
    )


PROVIDER = ProviderEntry(
    name="runninghub",
    settings=RunningHubSettings,
    factory=from_settings,
    required=("runninghub_api_key|runninghub_api_keys",),
    concurrency_setting="runninghub_concurrency",
    accounts=RunningHubSettings.accounts,
)
