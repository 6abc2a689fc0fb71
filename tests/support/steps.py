"""A world for the workflow steps' unit tests (tests/unit/steps/): the composition root with
in-memory parts, an app whose first route's provider is a scripted double that answers each
call with the next error of its script (or success), and the shipped fake provider as its
fallback."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rendergate.domain.apps import parse_apps
from rendergate.domain.errors import Fault, ProviderBusy, ProviderRejected, ProviderUnavailable
from rendergate.domain.task import Task
from rendergate.providers.base import (
    InputFile,
    JobHandle,
    JobPhase,
    JobRequest,
    JobStatus,
    OutputRef,
    WebhookEvent,
)
from rendergate.providers.fake import FakeProvider
from rendergate.services.context import Services
from rendergate.services.create_checks import Upload
from rendergate.services.creating import Creating, NewTask, create_task
from rendergate.store.memory import MemoryTaskStore
from rendergate.testing import ManualClock, RecordingOrchestrator
from rendergate.workflow.execution import TaskRunner
from support.images import make_png

KEY = "k" * 32
APPS = parse_apps(
    {
        "apps": {
            "render": {
                "provider": "runninghub",
                "options": {"webapp_id": "42"},
                "bindings": [{"source": "image", "node_id": "112", "field": "image"}],
                "fallbacks": [{"provider": "fake", "options": {"note": "fallback"}}],
            },
            "only_hub": {"provider": "runninghub"},
            "nowhere": {"provider": "runninghub", "fallbacks": [{"provider": "aliyun"}]},
            "hub_or_preview": {"provider": "runninghub", "fallbacks": [{"provider": "local"}]},
        }
    }
)


@dataclass
class ScriptedHub:
    """A provider whose calls fail with the queued errors, then succeed."""

    name: str = "runninghub"
    upload_errors: deque[Exception] = field(default_factory=deque)
    submit_errors: deque[Exception] = field(default_factory=deque)
    calls: list[str] = field(default_factory=list)
    requests: list[JobRequest] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    during_calls: Callable[[str], Awaitable[None]] | None = None  # runs inside each call

    async def upload(self, file: InputFile) -> str:
        self.calls.append("upload")
        if self.during_calls is not None:
            await self.during_calls("upload")
        if self.upload_errors:
            raise self.upload_errors.popleft()
        return f"hub/{file.role}.{file.extension}"

    async def submit(self, request: JobRequest) -> JobHandle:
        self.calls.append("submit")
        if self.during_calls is not None:
            await self.during_calls("submit")
        if self.submit_errors:
            raise self.submit_errors.popleft()
        self.requests.append(request)
        return JobHandle(job_id=f"hub-{request.task_id}")

    async def status(self, job: JobHandle) -> JobStatus:
        return JobStatus(phase=JobPhase.SUCCEEDED, outputs=(OutputRef(locator="x"),))

    async def download(self, job: JobHandle, output: OutputRef) -> bytes:
        self.calls.append("download")
        if self.during_calls is not None:
            await self.during_calls("download")
        return make_png()

    async def cancel(self, job: JobHandle) -> bool:
        self.canceled.append(job.job_id)
        return True

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return WebhookEvent(job_id="")

    def heard(self, job: JobHandle) -> None:
        return None

    async def aclose(self) -> None:
        return None


@dataclass
class World:
    services: Services
    store: MemoryTaskStore
    hub: ScriptedHub
    fake: FakeProvider
    clock: ManualClock
    runner: TaskRunner
    orchestrator: RecordingOrchestrator

    async def create(self, app: str = "render", **params: Any) -> Task:
        uploads = (Upload(role="image", data=make_png(), content_type="image/png"),)
        new = NewTask(app=app, params=params, uploads=uploads)
        return await create_task(new, self.services.unpack(Creating))


MakeWorld = Callable[..., Awaitable[World]]


BUSY = ProviderBusy("the account's concurrent task limit is reached (421)", code="421")
DOWN = ProviderUnavailable("RunningHub answered HTTP 502", code="http502")
REFUSED_KEY = ProviderRejected("the API key was refused (802)", fault=Fault.CONFIG, code="802")
BAD_INPUT = ProviderRejected("RunningHub refused the parameters (301)", fault=Fault.USER)
