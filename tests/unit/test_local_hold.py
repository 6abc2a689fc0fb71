"""The local engine's hold: a held job waits at 0 % until released or canceled, so a test
holds it at a known point instead of racing the CPU."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rendergate.domain.apps import AppSpec, Route
from rendergate.providers.base import InputFile, JobHandle, JobPhase, JobRequest
from rendergate.providers.local import LocalProvider, LocalSettings, from_settings
from support.images import make_png
from support.waiting import until

PREVIEW = AppSpec(name="preview", routes=(Route(provider="local"),))


@pytest.fixture
async def held() -> AsyncIterator[LocalProvider]:
    provider = LocalProvider(poll_interval_s=0.01, hold=True)
    yield provider
    await provider.aclose()


async def start(provider: LocalProvider, task_id: int) -> JobHandle:
    image = InputFile(role="image", data=make_png(), content_type="image/png", extension="png")
    key = await provider.upload(image)
    return await provider.submit(JobRequest(task_id=task_id, app=PREVIEW, inputs={"image": key}))


async def phase(provider: LocalProvider, job: JobHandle) -> JobPhase:
    return (await provider.status(job)).phase


async def test_a_held_job_renders_only_once_released(held: LocalProvider) -> None:
    free = LocalProvider(poll_interval_s=0.01)
    try:
        waiting = await start(held, 1)
        other = await start(free, 2)

        async def other_done() -> bool:
            return await phase(free, other) == JobPhase.SUCCEEDED

        await until(other_done, 30, "the job nothing holds to render")
        status = await held.status(waiting)  # as long meanwhile: it has not begun
        assert (status.phase, status.progress) == (JobPhase.RUNNING, 0)
        held.release()

        async def released() -> bool:
            return await phase(held, waiting) == JobPhase.SUCCEEDED

        await until(released, 30, "the released job to render")
        assert await held.download(waiting, (await held.status(waiting)).outputs[0])
        later = await start(held, 3)  # released for good: later jobs do not wait

        async def later_done() -> bool:
            return await phase(held, later) == JobPhase.SUCCEEDED

        await until(later_done, 30, "a job after the release to render")
    finally:
        await free.aclose()


async def test_a_held_job_is_canceled_where_it_waits(held: LocalProvider) -> None:
    job = await start(held, 1)
    assert await held.cancel(job)

    async def canceled() -> bool:
        return await phase(held, job) == JobPhase.CANCELED

    await until(canceled, 5, "the held job to be canceled")


def test_the_setting_holds_the_jobs_of_the_built_provider() -> None:
    built = from_settings(LocalSettings(local_hold=True), http=None)  # type: ignore[arg-type]
    assert built.hold and not from_settings(LocalSettings(), http=None).hold  # type: ignore[arg-type]
