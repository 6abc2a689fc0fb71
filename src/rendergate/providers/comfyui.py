"""The user's own ComfyUI servers (RENDERGATE_COMFYUI_URLS).

An app holds an API-format workflow; its bindings put our inputs into node fields.
Submit picks the least loaded server that answers, uploads the inputs there
(`/upload/image`) and queues the prompt under an id of ours, derived from the task and
attempt: ComfyUI runs a repeated id twice, so submit first asks whether a server already
has that prompt (the one whose reply to an earlier try was lost must answer first). Inputs
are held from `upload` until `submit` because only then is the server known.

Tracking asks `/queue` (running or pending, with the position) and then `/history` (how it
ended), once per server for every prompt the tracker asks about together
(comfyui_tracking.py): that order cannot miss a prompt finishing in between. A prompt that
is in neither was lost (the server restarted), and so are the prompts of a server that has
not answered for RENDERGATE_COMFYUI_DEAD_AFTER_S: the runner submits those again, to
another server.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, field_validator

from rendergate.config.settings import ProviderSettings
from rendergate.config.values import CommaList, url_passwords
from rendergate.domain.errors import (
    Fault,
    JobLost,
    ProviderError,
    ProviderRejected,
    ProviderUnanswered,
    ProviderUnavailable,
)
from rendergate.providers import ProviderEntry
from rendergate.providers.base import (
    InputFile,
    JobHandle,
    JobRequest,
    JobStatus,
    OutputRef,
)
from rendergate.providers.comfyui_calls import ServerApi
from rendergate.providers.comfyui_servers import HeldInputs, Server, ServerPool
from rendergate.providers.comfyui_tracking import POLL_AFTER_S, PromptStatuses
from rendergate.providers.comfyui_workflow import (
    bind_workflow,
    bound_fields,
    read_workflow_file,
    refused_workflow,
)
from rendergate.providers.http import call_timeout

HELD_INPUT_BYTES = 256 * 1024 * 1024
PROMPT_IDS = uuid.UUID("3f0b7c52-8d0e-4a51-9a43-2b8f1f6d9c10")


class ComfyUI:
    name = "comfyui"
    poll_interval_s = POLL_AFTER_S  # AnswersFromMemory: the tracker asks from the start

    def __init__(
        self,
        *,
        urls: list[str],
        http: aiohttp.ClientSession,
        timeout_s: float = 30.0,
        dead_after_s: float = 60.0,
    ):
        if not urls:
            raise ValueError("ComfyUI needs at least one server URL")
        timeout = call_timeout(timeout_s)
        self._client_id = f"rendergate-{uuid.uuid4().hex}"
        self.pool = ServerPool(
            urls,
            session=http,
            timeout=timeout,
            client_id=self._client_id,
            dead_after_s=dead_after_s,
        )
        self._api = ServerApi(http, timeout=timeout, now=self.pool.now)
        self._statuses = PromptStatuses(self._api, self.pool)
        self._held = HeldInputs(HELD_INPUT_BYTES)
        self._unanswered: dict[str, Server] = {}  # prompt id -> server whose reply we missed

    async def aclose(self) -> None:
        await self.pool.aclose()  # the HTTP session is the composition root's

    async def self_check(self) -> str:
        """How many servers answer (SelfChecks); none is an outage."""
        answering = await self.pool.least_loaded()
        total = len(self.pool.servers)
        if not answering:
            names = ", ".join(server.name for server in self.pool.servers)
            raise ProviderUnavailable(f"none of the {total} ComfyUI servers answered ({names})")
        return f"{len(answering)} of {total} servers answer"

    # -- upload and submit ----------------------------------------------------------------

    async def upload(self, file: InputFile) -> str:
        """Holds the bytes under a name made of their hash; submit sends them to its server."""
        digest = hashlib.sha256(file.data).hexdigest()[:32]
        name = f"rendergate-{digest}.{file.extension or 'png'}"
        self._held.hold(name, file.data)
        return name

    async def submit(self, request: JobRequest) -> JobHandle:
        """Queues the prompt under an id derived from the request, so that a try after one
        that went unanswered finds it (`_find_prompt`) instead of queuing it again."""
        try:
            return await self._submit(request)
        except ProviderUnanswered as exc:
            raise ProviderUnavailable(exc.message, code=exc.code) from exc

    async def _submit(self, request: JobRequest) -> JobHandle:
        prompt_id = str(uuid.uuid5(PROMPT_IDS, request.idempotency_key or _key(request)))
        graph = bind_workflow(
            request.app, request.inputs, request.angle, request.params, seed=request.seed
        )
        found = await self._find_prompt(prompt_id)
        if found is not None:  # queued by an earlier try whose answer we never saw
            return self._handle(found, prompt_id, graph, request)
        servers = await self.pool.least_loaded()
        if not servers:
            raise ProviderUnavailable(
                f"none of the {len(self.pool.servers)} ComfyUI servers answered"
            )
        server = servers[0]
        for name in request.inputs.values():
            await self._api.send_input(server, name, self._held.get(name))
        self._unanswered[prompt_id] = server
        status, body, _ = await self._api.call(
            server,
            "POST",
            "/prompt",
            json={"prompt": graph, "client_id": self._client_id, "prompt_id": prompt_id},
        )
        del self._unanswered[prompt_id]  # it answered: queued, or refused for good
        if status == 400:
            self._release(request)
            raise refused_workflow(body, bound_fields(request.app))
        if status != 200 or not isinstance(body, dict):
            raise ProviderUnavailable(f"ComfyUI server {server.name} answered HTTP {status}")
        if body.get("prompt_id") != prompt_id:
            self._release(request)
            raise ProviderRejected(
                f"ComfyUI server {server.name} ignored our prompt id: it needs a newer ComfyUI "
                "(one that takes `prompt_id` in POST /prompt)",
                fault=Fault.CONFIG,
            )
        return self._handle(server, prompt_id, graph, request)

    def _release(self, request: JobRequest) -> None:
        for name in request.inputs.values():
            self._held.release(name)

    def _handle(
        self, server: Server, prompt_id: str, graph: Mapping[str, Any], request: JobRequest
    ) -> JobHandle:
        self._release(request)
        server.watch(prompt_id, len(graph))
        self.pool.listen(server)
        return JobHandle(job_id=prompt_id, data={"server": server.key, "nodes": len(graph)})

    async def _find_prompt(self, prompt_id: str) -> Server | None:
        """The server already holding this prompt. One whose reply to our POST we missed must
        answer (or be given up on) first: asking only the others could queue it twice."""
        missed = self._unanswered.get(prompt_id)
        if missed is not None:
            try:
                if await self._api.has_prompt(missed, prompt_id):
                    return missed
                del self._unanswered[prompt_id]
            except ProviderUnavailable:
                if not missed.is_dead(self.pool.now(), self.pool.dead_after_s):
                    raise
                del self._unanswered[prompt_id]
        # After a restart we cannot know which server it was: ask those that answer (a
        # silent one would cost a timeout on every submit).
        for server in self.pool.candidates():
            try:
                if await self._api.has_prompt(server, prompt_id):
                    return server
            except ProviderUnavailable:
                continue
        return None

    # -- tracking -------------------------------------------------------------------------

    async def status(self, job: JobHandle) -> JobStatus:
        answer = (await self.statuses([job]))[job.job_id]
        if isinstance(answer, ProviderError):
            raise answer
        return answer

    async def statuses(self, jobs: Sequence[JobHandle]) -> dict[str, JobStatus | ProviderError]:
        """AnswersTogether: one `/queue` read and one `/history` read per server answer for
        every prompt asked about there."""
        answers: dict[str, JobStatus | ProviderError] = {}
        by_server: dict[str, tuple[Server, list[str]]] = {}
        for job in jobs:
            try:
                server = self._server_of(job)
            except JobLost as exc:
                answers[job.job_id] = exc
                continue
            by_server.setdefault(server.key, (server, []))[1].append(job.job_id)
        read = (self._statuses.of_server(server, ids) for server, ids in by_server.values())
        for found in await asyncio.gather(*read):
            answers.update(found)
        return answers

    def _server_of(self, job: JobHandle) -> Server:
        server = self.pool.find(str(job.data.get("server", "")))
        if server is None:
            raise JobLost("the job's ComfyUI server is no longer configured")
        return server

    async def download(self, job: JobHandle, output: OutputRef) -> bytes:
        return await self._api.output(self._server_of(job), output.locator)

    async def cancel(self, job: JobHandle) -> bool:
        """Stops the prompt on its server; False once it has ended."""
        server = self._server_of(job)
        stopped = await self._api.stop(server, job.job_id)
        server.forget(job.job_id)
        return stopped


def _key(request: JobRequest) -> str:
    return f"task-{request.task_id}-attempt-{request.attempt}"


class ComfyUISettings(ProviderSettings):
    comfyui_gpu_hour_price: Decimal | None = Field(
        None,
        ge=0,
        description="What an hour of your ComfyUI servers' GPU costs, in RENDERGATE_CURRENCY: "
        "a task's cost is its execution time at this rate (an estimate). Unset: unknown.",
    )
    comfyui_urls: CommaList = Field(
        default_factory=list,
        description="Your own ComfyUI servers (JSON list or comma-separated); each task "
        "goes to the least loaded one that answers.",
    )
    comfyui_timeout_s: float = Field(
        30.0, gt=0, description="Time limit of one call to a ComfyUI server."
    )
    comfyui_concurrency: int = Field(
        4, ge=1, description="Tasks handed to the ComfyUI servers at once, all servers together."
    )
    comfyui_dead_after_s: float = Field(
        60.0,
        gt=0,
        description="A ComfyUI server silent this long is given up on: its tasks are "
        "submitted again to another server.",
    )

    @field_validator("comfyui_urls")
    @classmethod
    def _each_an_http_url(cls, urls: list[str]) -> list[str]:
        """A URL without a scheme would be accepted, and its tasks sit at submitted."""
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"{url!r} is not an http(s) URL with a host, such as http://gpu1:8188"
                )
        return urls

    def secret_values(self) -> list[str]:
        """Passwords inside the servers' URLs too."""
        return [*super().secret_values(), *url_passwords(list(self.comfyui_urls))]


def from_settings(settings: ComfyUISettings, http: aiohttp.ClientSession) -> ComfyUI:
    return ComfyUI(
        urls=list(settings.comfyui_urls),
        http=http,
        timeout_s=settings.comfyui_timeout_s,
        dead_after_s=settings.comfyui_dead_after_s,
    )


PROVIDER = ProviderEntry(
    name="comfyui",
    settings=ComfyUISettings,
    factory=from_settings,
    required=("comfyui_urls",),
    concurrency_setting="comfyui_concurrency",
    prepare_options=read_workflow_file,
)
