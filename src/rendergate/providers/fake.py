"""A scriptable in-memory provider for tests and demos.

A task's `params["fake"]` scripts its job, e.g. `{"queued": 1, "polls": 2, "outcome": "fail",
"error": "boom"}`; other keys: `busy_submits`, `reject`, `unanswered` (the job is taken but
the reply lost), `lose_first`, `crash`,
`hang_attempts` (attempts up to N never end), outcome `hang`.
What it was asked to do is kept in `submitted`, `canceled` and `uploads`, so tests assert on
state instead of patching.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from rendergate.config.settings import ProviderSettings
from rendergate.domain.errors import (
    Fault,
    JobLost,
    ProviderRejected,
    ProviderUnanswered,
    ProviderUnavailable,
)
from rendergate.providers import ProviderEntry
from rendergate.providers.base import (
    InputFile,
    JobHandle,
    JobPhase,
    JobRequest,
    JobStatus,
    OutputRef,
    WebhookEvent,
)

if TYPE_CHECKING:
    import aiohttp


@dataclass
class _FakeJob:
    request: JobRequest
    script: Mapping[str, Any]
    polls: int = 0
    canceled: bool = False


def _png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class FakeProvider:
    name: str = "fake"
    poll_interval_s: float = 0.05
    uploads: list[InputFile] = field(default_factory=list)
    submitted: list[JobRequest] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    submit_calls: int = 0
    jobs: dict[str, _FakeJob] = field(default_factory=dict)

    async def upload(self, file: InputFile) -> str:
        self.uploads.append(file)
        return f"fake-upload-{len(self.uploads)}.{file.extension}"

    async def submit(self, request: JobRequest) -> JobHandle:
        self.submit_calls += 1
        script = dict(request.params.get("fake", {}))
        busy = int(script.get("busy_submits", 0))
        if self.submit_calls <= busy:
            raise ProviderUnavailable("fake provider is busy", code="busy")
        if script.get("reject"):
            raise ProviderRejected(str(script["reject"]), fault=Fault.USER, code="rejected")
        job_id = f"fake-{request.task_id}-{request.attempt}"
        self.jobs.setdefault(job_id, _FakeJob(request=request, script=script))
        self.submitted.append(request)
        if script.get("unanswered"):
            raise ProviderUnanswered("fake provider did not answer (reset)")
        return JobHandle(job_id=job_id, data={"attempt": request.attempt})

    async def status(self, job: JobHandle) -> JobStatus:
        state = self.jobs.get(job.job_id)
        if state is None:
            raise JobLost(f"fake job {job.job_id} is unknown")
        script = state.script
        state.polls += 1
        if state.canceled:
            return JobStatus(phase=JobPhase.CANCELED)
        if script.get("crash"):  # a bug in an adapter: an exception outside our tree
            raise RuntimeError("fake provider crashed")
        if script.get("lose_first") and state.request.attempt == 1:
            raise JobLost("fake provider lost the job")
        queued = int(script.get("queued", 0))
        running = int(script.get("polls", 1))
        if state.polls <= queued:
            return JobStatus(
                phase=JobPhase.QUEUED,
                queue_position=queued - state.polls + 1,
                poll_after_s=self.poll_interval_s,
            )
        hangs = script.get("outcome") == "hang" or state.request.attempt <= int(
            script.get("hang_attempts", 0)
        )
        if hangs or state.polls <= queued + running:
            done = state.polls - queued
            return JobStatus(
                phase=JobPhase.RUNNING,
                progress=min(95, int(100 * done / (running + 1))),
                poll_after_s=self.poll_interval_s,
            )
        if script.get("outcome") == "fail":
            error = ProviderRejected(str(script.get("error", "fake failure")), code="failed")
            return JobStatus(phase=JobPhase.FAILED, error=error)
        return JobStatus(
            phase=JobPhase.SUCCEEDED,
            outputs=(OutputRef(locator=job.job_id, file_type="png", node_id="9"),),
            cost={"consumeCoins": 1, "taskCostTime": state.polls},
        )

    async def download(self, job: JobHandle, output: OutputRef) -> bytes:
        return _png((10, 200, 30))

    async def cancel(self, job: JobHandle) -> bool:
        self.canceled.append(job.job_id)
        state = self.jobs.get(job.job_id)
        if state is not None:
            state.canceled = True
        return True

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return WebhookEvent(job_id=body.decode(errors="replace"), event="TASK_END")

    async def aclose(self) -> None:
        self.jobs.clear()


def from_settings(settings: ProviderSettings, http: aiohttp.ClientSession) -> FakeProvider:
    return FakeProvider()


PROVIDER = ProviderEntry(
    name="fake",
    settings=ProviderSettings,
    factory=from_settings,
    params=None,  # a test's script, and whatever else a test sends along
)
