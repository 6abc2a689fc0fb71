"""The embedded `local` provider: runs the preview pipeline on this machine's CPU.

Jobs live in memory. After a restart `status` raises JobLost and the task's
workflow submits the job again, so nothing is lost with the process.

With `hold` (RENDERGATE_LOCAL_HOLD, for tests) each job waits at 0 % before it renders,
until `release()` or its cancel: a test holds the local queue's slots at a known point
instead of racing the CPU with a large image.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field

from rendergate.config.settings import ProviderSettings
from rendergate.domain.errors import (
    ConfigError,
    Fault,
    InvalidInput,
    JobLost,
    ProviderError,
    ProviderRejected,
)
from rendergate.imaging.preview import render_preview, validate_preview_params
from rendergate.imaging.upscale import upscale, validate_upscale_params
from rendergate.providers import ProviderEntry
from rendergate.providers.base import (
    InputFile,
    JobHandle,
    JobPhase,
    JobRequest,
    JobStatus,
    OutputRef,
)

if TYPE_CHECKING:
    import aiohttp

FINISHED_JOB_TTL_S = 3600.0
ENGINES = ("preview", "upscale")  # an app's `options.engine`; preview when it names none
ENGINE_PARAMS = {"preview": ("smoothing", "strength"), "upscale": ("scale",)}


def engine_of(options: Mapping[str, Any]) -> str:
    return str(options.get("engine", "preview"))


def check_engine(options: Mapping[str, Any], base: Any) -> Mapping[str, Any]:
    """At start: an app's `engine` must be one of ENGINES."""
    if engine_of(options) not in ENGINES:
        raise ConfigError(
            f"engine {engine_of(options)!r} is not one of the local engines: {', '.join(ENGINES)}"
        )
    return options


def engine_params(options: Mapping[str, Any]) -> tuple[str, ...]:
    return ENGINE_PARAMS.get(engine_of(options), ())


class _Stopped(Exception):
    """Raised in the render thread at its next progress step once the job is canceled."""


@dataclass
class _Job:
    task: asyncio.Task[None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    progress: int = 0
    finished_at: float | None = None
    result: bytes | None = None
    error: ProviderError | None = None


@dataclass
class LocalProvider:
    name: str = "local"
    poll_interval_s: float = 0.2
    hold: bool = False  # each job waits at 0 % until release() or its cancel (tests)
    _files: dict[str, bytes] = field(default_factory=dict)
    _jobs: dict[str, _Job] = field(default_factory=dict)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """With `hold`: the held jobs render now, and later ones at once."""
        self._released.set()

    async def upload(self, file: InputFile) -> str:
        key = hashlib.sha256(file.data).hexdigest()[:32]
        self._files[key] = file.data
        return key

    async def submit(self, request: JobRequest) -> JobHandle:
        job_id = f"{request.task_id}-{request.attempt}"
        if job_id in self._jobs:  # the same submit again: idempotent
            return JobHandle(job_id=job_id, shown=False)
        self._prune()
        try:
            image = self._files[request.inputs["image"]]
            reference_key = request.inputs.get("reference")
            reference = self._files[reference_key] if reference_key else None
        except KeyError as exc:
            raise JobLost(f"local input {exc} was not uploaded in this process") from exc
        try:
            run = _engine(request, image, reference)
        except InvalidInput as exc:
            raise ProviderRejected(exc.message, fault=Fault.USER) from exc
        job = _Job()
        job.task = asyncio.create_task(self._run(job, run))
        self._jobs[job_id] = job
        return JobHandle(job_id=job_id, shown=False)

    async def _run(self, job: _Job, run: Callable[..., bytes]) -> None:
        """`run` (an engine with its inputs) in a thread; its progress and result kept."""

        def on_progress(value: int) -> None:
            if job.stop.is_set():  # in the render thread, which a task cancel cannot stop
                raise _Stopped
            job.progress = max(job.progress, value)

        if self.hold:
            await self._released.wait()
        try:
            job.result = await asyncio.to_thread(run, on_progress=on_progress)
        except _Stopped:
            return
        except InvalidInput as exc:
            job.error = ProviderRejected(exc.message, fault=Fault.USER)
        except Exception as exc:  # the pipeline's own bug must fail the task, not the worker
            job.error = ProviderRejected(f"the local engine failed: {exc}", fault=Fault.PROVIDER)
        job.finished_at = time.monotonic()

    async def status(self, job: JobHandle) -> JobStatus:
        state = self._jobs.get(job.job_id)
        if state is None:
            raise JobLost(f"local job {job.job_id} is gone (the process restarted)")
        if state.task is not None and state.task.cancelled():
            return JobStatus(phase=JobPhase.CANCELED)
        if state.finished_at is None:
            return JobStatus(
                phase=JobPhase.RUNNING,
                progress=state.progress,
                poll_after_s=self.poll_interval_s,
            )
        if state.error is not None:
            return JobStatus(phase=JobPhase.FAILED, error=state.error)
        return JobStatus(
            phase=JobPhase.SUCCEEDED,
            progress=100,
            outputs=(OutputRef(locator=job.job_id, file_type="png"),),
        )

    async def download(self, job: JobHandle, output: OutputRef) -> bytes:
        state = self._jobs.get(output.locator)
        if state is None or state.result is None:
            raise JobLost(f"local result {output.locator} is gone (the process restarted)")
        return state.result

    async def cancel(self, job: JobHandle) -> bool:
        """Always True: a job that ended (or is gone) runs no more, and a running one stops
        at once here and at its next step in the render thread."""
        state = self._jobs.get(job.job_id)
        if state is not None and state.finished_at is None:
            state.stop.set()
            if state.task is not None:
                state.task.cancel()
        return True

    async def aclose(self) -> None:
        tasks = [job.task for job in self._jobs.values() if job.task and not job.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._jobs.clear()
        self._files.clear()

    def _prune(self) -> None:
        horizon = time.monotonic() - FINISHED_JOB_TTL_S
        for job_id in [
            k for k, j in self._jobs.items() if j.finished_at and j.finished_at < horizon
        ]:
            del self._jobs[job_id]


def _engine(request: JobRequest, image: bytes, reference: bytes | None) -> Callable[..., bytes]:
    """The app's engine with its inputs and checked params, to call with on_progress."""
    if engine_of(request.app.options) == "upscale":
        scaled = validate_upscale_params(request.params)
        return functools.partial(upscale, image, params=scaled)
    params = validate_preview_params(request.params)
    return functools.partial(render_preview, image, reference, params=params, seed=request.seed)


class LocalSettings(ProviderSettings):
    local_concurrency: int = Field(
        2, ge=1, description="Tasks the embedded `local` provider runs at once."
    )
    local_hold: bool = Field(
        False,
        description="For tests: each `local` job waits at 0 % until it is canceled, so a "
        "test holds the local queue at a known point instead of racing the CPU.",
    )


def from_settings(settings: LocalSettings, http: aiohttp.ClientSession) -> LocalProvider:
    return LocalProvider(hold=settings.local_hold)


PROVIDER = ProviderEntry(
    name="local",
    settings=LocalSettings,
    factory=from_settings,
    concurrency_setting="local_concurrency",
    cap_per_worker=True,
    params_check=validate_preview_params,
    params=("smoothing", "strength"),
    route_params=engine_params,
    prepare_options=check_engine,
)
