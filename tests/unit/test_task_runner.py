"""The TaskRunner's steps, one by one (workflow/execution.py), on the in-memory store and
the shipped fake providers."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from rendergate.domain.task import JobHandle
from rendergate.providers.base import OutputRef
from rendergate.services.create_checks import Upload
from rendergate.services.creating import NewTask, create_task
from rendergate.services.ports import Wake
from rendergate.services.tasks import cancel_task, result_bytes
from rendergate.testing import T0
from rendergate.workflow.outcomes import Finished, Submitted, Tracked, TrackOutcome
from support.images import make_png, make_reference, make_scene
from support.world import World


async def test_a_successful_job_is_collected_and_completed(world: World) -> None:
    task = await world.create(fake={"queued": 1, "polls": 2})
    assert await world.runner.submit(task.task_id) == Submitted()
    job_id = f"fake-{task.task_id}-1"
    started = await world.store.get(task.task_id)
    job = JobHandle(job_id=job_id, data={"attempt": 1})
    assert (started.status, started.attempts, started.provider_job) == ("processing", 1, job)
    assert world.fake.submitted[0].inputs == {"image": "fake-upload-1.png"}
    assert world.fake.uploads[0].data == make_png()

    tracked = await world.runner.track(task.task_id)
    assert tracked.outcome == TrackOutcome.SUCCEEDED
    assert tracked.outputs == (OutputRef(locator=job_id, file_type="png", node_id="9"),)
    assert tracked.cost == {"consumeCoins": 1, "taskCostTime": 4}
    assert (await world.store.get(task.task_id)).progress == 1  # ended before a progress round

    await world.runner.collect(task.task_id, tracked)
    done = await world.store.get(task.task_id)
    assert (done.status, done.progress, done.cost) == ("completed", 100, tracked.cost)
    assert done.finished_at == T0 and len(done.outputs) == 1
    result = done.outputs[0]
    assert (result.key, result.content_type) == (f"results/{task.task_id}/0.png", "image/png")
    assert (result.node_id, result.file_type) == ("9", "png")
    data = await result_bytes(done, blobs=world.services.blobs)
    assert result.size == len(data) and Image.open(io.BytesIO(data)).size == (8, 8)


FAILURES = [  # script, fails at submit, message, kind
    ({"outcome": "fail", "error": "boom"}, False, "fake failed: boom", "provider"),
    ({"reject": "no walls"}, True, "the inputs were refused: no walls", "user"),
    ({"busy_submits": 99}, True, "fake failed: fake provider is busy", "provider"),
]


@pytest.mark.parametrize(("script", "at_submit", "message", "kind"), FAILURES)
async def test_failures_record_the_message_and_fault(
    world: World, script: dict[str, Any], at_submit: bool, message: str, kind: str
) -> None:
    task = await world.create(fake=script)
    job = await world.runner.submit(task.task_id)
    assert isinstance(job, Finished) is at_submit
    tracked = await world.runner.track(task.task_id)
    assert tracked == Tracked(TrackOutcome.FINISHED)
    await world.runner.collect(task.task_id, tracked)
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.error_message, failed.error_kind) == ("failed", message, kind)
    assert failed.outputs == () and failed.finished_at == T0
    assert len(world.fake.submitted) == (0 if at_submit else 1)


async def test_an_unanswered_submit_is_not_sent_again_when_it_cannot_be_checked(
    world: World,
) -> None:
    task = await world.create(fake={"unanswered": True})  # taken, but the reply was lost
    assert await world.runner.submit(task.task_id) == Finished()
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.error_kind) == ("failed", "provider")
    assert failed.error_message == (
        "fake failed: fake provider did not answer (reset) to the submit, and fake offers no "
        "way to check: it may have taken the job, so it was not sent again (that could run "
        "and pay for the task twice)"
    )
    assert world.fake.submit_calls == 1


async def test_a_lost_job_is_submitted_again(world: World) -> None:
    task = await world.create(fake={"lose_first": True})
    await world.runner.submit(task.task_id)
    assert (await world.runner.track(task.task_id)).outcome == TrackOutcome.LOST
    lost = await world.store.get(task.task_id)
    assert (lost.status, lost.provider_job, lost.attempts) == ("processing", None, 1)
    assert await world.runner.submit(task.task_id) == Submitted()
    resubmitted = await world.store.get(task.task_id)
    assert resubmitted.provider_job == JobHandle(
        job_id=f"fake-{task.task_id}-2", data={"attempt": 2}
    )
    assert [r.attempt for r in world.fake.submitted] == [1, 2]
    await world.runner.collect(task.task_id, await world.runner.track(task.task_id))
    done = await world.store.get(task.task_id)
    assert (done.status, done.attempts) == ("completed", 2)


async def test_a_busy_provider_is_retried_and_submit_is_idempotent(world: World) -> None:
    task = await world.create(fake={"busy_submits": 2})
    assert await world.runner.submit(task.task_id) == Submitted()
    assert (world.fake.submit_calls, len(world.fake.submitted)) == (3, 1)
    stored = await world.store.get(task.task_id)
    assert (stored.status, stored.attempts, stored.version) == ("processing", 1, 1)
    assert stored.provider_job == JobHandle(job_id=f"fake-{task.task_id}-1", data={"attempt": 1})
    assert await world.runner.submit(task.task_id) == Submitted()  # again, as after a crash
    assert (world.fake.submit_calls, len(world.fake.submitted)) == (3, 1)
    assert await world.store.get(task.task_id) == stored


async def test_a_finished_task_is_never_completed_twice(world: World) -> None:
    task = await world.create()
    done = await world.run(task.task_id)
    world.clock.advance(5)
    tracked = Tracked(TrackOutcome.SUCCEEDED, (OutputRef(locator="x", file_type="jpg"),))
    await world.runner.collect(task.task_id, tracked)
    assert await world.runner.submit(task.task_id) == Finished()
    assert await world.runner.track(task.task_id) == Tracked(TrackOutcome.FINISHED)
    again = await world.store.get(task.task_id)
    assert again == done and (again.version, again.updated_at) == (done.version, done.updated_at)
    assert world.blob_keys() == sorted([task.inputs["image"].key, done.outputs[0].key])


async def test_canceling_while_tracking_ends_the_track(world: World) -> None:
    task = await world.create(fake={"outcome": "hang"})
    job = await world.submitted(task.task_id)
    tracking = asyncio.create_task(world.runner.track(task.task_id))
    async with asyncio.timeout(5):
        while world.fake.jobs[job.job_id].polls < 2:
            await asyncio.sleep(0.001)
    current = await world.store.get(task.task_id)  # as the API does, minus its own upstream call
    assert await world.store.save(current, current.cancel(now=T0)) is not None
    await world.services.wake(task.task_id, Wake.CANCEL)
    assert await asyncio.wait_for(tracking, 5) == Tracked(TrackOutcome.FINISHED)
    assert world.fake.canceled == [job.job_id]  # the track told the provider
    assert (await world.store.get(task.task_id)).status == "canceled"


async def test_a_webhook_wake_asks_the_provider_at_once(world: World) -> None:
    world.fake.poll_interval_s = 3600.0  # the provider says: ask again in an hour
    task = await world.create(fake={"outcome": "hang"})
    job = await world.submitted(task.task_id)
    tracking = asyncio.create_task(world.runner.track(task.task_id))
    async with asyncio.timeout(5):
        while world.fake.jobs[job.job_id].polls < 1:
            await asyncio.sleep(0.001)
        await world.services.wake(task.task_id, Wake.WEBHOOK)
        while world.fake.jobs[job.job_id].polls < 2:  # asked again well before the hour
            await asyncio.sleep(0.001)
    assert world.fake.jobs[job.job_id].polls == 2
    await cancel_task(task.task_id, world.cancelling)
    assert await asyncio.wait_for(tracking, 5) == Tracked(TrackOutcome.FINISHED)


async def test_the_deadline_fails_a_hanging_job(world: World) -> None:
    task = await world.create(app="fake_short", fake={"outcome": "hang"})
    job = await world.submitted(task.task_id)
    world.clock.step = timedelta(milliseconds=50)  # every reading moves time on
    assert await world.runner.track(task.task_id) == Tracked(TrackOutcome.FINISHED)
    assert world.fake.jobs[job.job_id].polls >= 2
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.error_kind) == ("failed", "timeout")
    assert failed.error_message == "timed out after 1 s"
    assert failed.finished_at is not None and failed.finished_at >= T0 + timedelta(seconds=1)
    assert world.fake.canceled == [job.job_id]


async def test_the_local_provider_renders_a_preview(world: World) -> None:
    uploads = (
        Upload(role="image", data=make_scene(320, 240)),
        Upload(role="reference", data=make_reference()),
    )
    task = await create_task(NewTask(app="preview", uploads=uploads), world.creating)
    done = await world.run(task.task_id)
    assert (done.status, done.progress, done.error_message) == ("completed", 100, "")
    data = await result_bytes(done, blobs=world.services.blobs)
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("PNG", (320, 240))
