"""Use cases and the TaskRunner's steps, on the in-memory store and the shipped fake providers."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import obstore
import pytest
from obstore.store import MemoryStore
from PIL import Image

from rendergate.blobs.objects import ObjectBlobStore
from rendergate.config.settings import Settings
from rendergate.domain import errors
from rendergate.domain.task import InputRef, JobHandle, Task, TaskStatus
from rendergate.providers.base import OutputRef
from rendergate.providers.fake import FakeProvider
from rendergate.providers.local import LocalProvider
from rendergate.runtime.bootstrap import open_services
from rendergate.services import retention
from rendergate.services.context import Services, Wake
from rendergate.services.creating import Creating, NewTask, Upload, create_task
from rendergate.services.streams import StreamItem, follow
from rendergate.services.tasks import Cancelling, cancel_task, get_task, list_tasks, result_bytes
from rendergate.store.memory import MemoryTaskStore
from rendergate.testing import T0, ManualClock, RecordingOrchestrator
from rendergate.workflow.execution import Running, TaskRunner
from rendergate.workflow.outcomes import Finished, Submitted, Tracked, TrackOutcome
from rendergate.workflow.reconcile import DEADLINE_GRACE_S, Reconciling, reconcile
from support.images import make_png, make_reference, make_scene


@dataclass
class World:
    services: Services
    store: MemoryTaskStore
    objects: MemoryStore
    fake: FakeProvider
    orchestrator: RecordingOrchestrator
    clock: ManualClock
    runner: TaskRunner

    # the parts each use case takes, unpacked from the services as the edges do
    @property
    def creating(self) -> Creating:
        return self.services.unpack(Creating)

    @property
    def cancelling(self) -> Cancelling:
        return self.services.unpack(Cancelling)

    @property
    def reconciling(self) -> Reconciling:
        return self.services.unpack(Reconciling)

    @property
    def pruning(self) -> retention.Pruning:
        days = self.services.settings.retention_days
        return self.services.unpack(retention.Pruning, retention_days=days)

    async def get(self, task_id: int) -> Task:
        """The task as the API reads it (get_task)."""
        return await get_task(task_id, store=self.services.store, finished=self.services.finished)

    def blob_keys(self) -> list[str]:
        return sorted(meta["path"] for batch in obstore.list(self.objects) for meta in batch)

    async def create(self, app: str = "fake", fake: dict[str, Any] | None = None) -> Task:
        uploads = (Upload(role="image", data=make_png(), content_type="image/png"),)
        params = {"fake": fake} if fake is not None else {}
        return await create_task(NewTask(app=app, params=params, uploads=uploads), self.creating)

    async def submitted(self, task_id: int) -> JobHandle:
        """Submits the task, and the job its row records."""
        assert await self.runner.submit(task_id) == Submitted()
        job = (await self.store.get(task_id)).provider_job
        assert job is not None
        return job

    async def run(self, task_id: int) -> Task:
        assert await self.runner.submit(task_id) != Finished()
        await self.runner.collect(task_id, await self.runner.track(task_id))
        return await self.store.get(task_id)


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    store, objects, clock = MemoryTaskStore(), MemoryStore(), ManualClock()
    fake, local, orchestrator = (
        FakeProvider(poll_interval_s=0.001),
        LocalProvider(poll_interval_s=0.02),
        RecordingOrchestrator(),
    )
    async with open_services(
        settings,
        store=store,
        blobs=ObjectBlobStore(objects),  # kept to list what it holds
        providers={"fake": fake, "local": local},
        clock=clock,
        orchestrator=orchestrator,
    ) as services:
        runner = TaskRunner(services.unpack(Running))
        yield World(services, store, objects, fake, orchestrator, clock, runner)
    await local.aclose()


# -- create, list, cancel, reconcile --------------------------------------------------------


async def test_create_task_stores_the_task_and_its_inputs_and_starts_it_once(world: World) -> None:
    task = await world.create(fake={"polls": 2})
    assert await world.store.get(task.task_id) == task
    assert (task.status, task.app, task.provider, task.version) == ("submitted", "fake", "fake", 0)
    assert task.params == {"fake": {"polls": 2}} and task.created_at == T0
    key = f"inputs/{task.task_id}/image.png"
    assert task.inputs == {"image": InputRef(key=key, content_type="image/png")}
    assert world.blob_keys() == [key]
    assert await world.services.blobs.get(key) == make_png()
    assert world.orchestrator.task_ids == [task.task_id]


IMAGE = (Upload(role="image", data=make_png()),)
BAD_REF = (Upload(role="reference", data=b"\x89PNG broken"),)


def new(app: str, uploads: tuple[Upload, ...] = IMAGE, **fields: Any) -> NewTask:
    return NewTask(app=app, uploads=uploads, **fields)


REFUSED = [
    (new("nope"), errors.UnknownApp, "type"),
    (new("su_render"), errors.AppUnavailable, "type"),  # no RunningHub key here
    (new("fake", ()), errors.InvalidInput, "image"),
    (new("fake", (Upload(role="reference", data=make_png()),)), errors.InvalidInput, "image"),
    (new("fake", (Upload(role="image", data=b"nope"),)), errors.UnsupportedInput, "image"),
    (new("fake_ref", angle="front"), errors.InvalidInput, "reference"),
    (new("fake_ref", IMAGE + BAD_REF, angle="side"), errors.InvalidInput, "angle"),
    (new("preview", params={"strength": 7}), errors.InvalidInput, "params.strength"),
    (new("fake", IMAGE + BAD_REF), errors.UnsupportedInput, "reference"),
    (new("fake", params={"note": "\ud800"}), errors.InvalidInput, "params"),
    (new("fake", params={"x": float("inf")}), errors.InvalidInput, "params"),
    (new("fake", angle="\udfff"), errors.InvalidInput, "angle"),
]


@pytest.mark.parametrize(("request_", "error", "field_"), REFUSED)
async def test_refused_requests_store_nothing(
    world: World, request_: NewTask, error: type[errors.InvalidInput], field_: str
) -> None:
    with pytest.raises(error) as raised:
        await create_task(request_, world.creating)
    assert raised.value.field == field_
    assert world.store.tasks == {} and world.blob_keys() == []
    assert world.orchestrator.task_ids == [] and world.fake.uploads == []


class BrokenStore(MemoryTaskStore):
    """A store whose writes fail, as a full disk or a lost database connection would."""

    async def add(self, task: Task, *, along: object = None) -> None:
        raise OSError("disk full")


class BrokenOrchestrator(RecordingOrchestrator):
    async def start(self, task: Task) -> None:
        raise ConnectionError("the queue is down")


async def test_a_task_whose_row_cannot_be_written_leaves_no_inputs(world: World) -> None:
    world.services = dataclasses.replace(world.services, store=BrokenStore())
    with pytest.raises(OSError, match="disk full"):
        await world.create()
    assert world.blob_keys() == []


async def test_a_stored_task_is_answered_even_if_queuing_fails(world: World) -> None:
    """The row is the promise: reconcile queues a task whose workflow was never started."""
    world.services = dataclasses.replace(world.services, orchestrator=BrokenOrchestrator())
    task = await world.create()
    assert (await world.store.get(task.task_id)).status == "submitted"


async def test_list_tasks_pages_newest_first_with_ties(world: World) -> None:
    for i in range(7):
        await world.create()
        world.clock.advance(i % 2)  # pairs share created_at: the id breaks the tie
    expected = sorted(world.store.tasks.values(), key=lambda t: (t.created_at, t.task_id))[::-1]
    ids = [t.task_id for t in expected]
    assert all(2**40 <= task_id < 2**53 for task_id in ids) and len(set(ids)) == 7
    page1, cursor1 = await list_tasks(store=world.services.store, limit=3)
    page2, cursor2 = await list_tasks(store=world.services.store, cursor=cursor1, limit=3)
    page3, cursor3 = await list_tasks(store=world.services.store, cursor=cursor2, limit=3)
    assert [len(page1), len(page2), len(page3), cursor3] == [3, 3, 1, None]
    assert [t.task_id for t in page1 + page2 + page3] == ids  # newest first, none twice
    assert await list_tasks(store=world.services.store, limit=7) == (expected, None)


async def test_list_tasks_filters_by_status_and_app(world: World) -> None:
    plain = [await world.create() for _ in range(3)]
    short = [await world.create(app="fake_short") for _ in range(2)]
    await cancel_task(plain[0].task_id, world.cancelling)
    await cancel_task(short[1].task_id, world.cancelling)

    async def ids(**filters: Any) -> set[int]:
        page, cursor = await list_tasks(store=world.services.store, **filters)
        assert cursor is None
        return {t.task_id for t in page}

    assert await ids(status=TaskStatus.CANCELED) == {plain[0].task_id, short[1].task_id}
    assert await ids(app="fake_short") == {t.task_id for t in short}
    assert await ids(app="fake", status=TaskStatus.SUBMITTED) == {t.task_id for t in plain[1:]}
    assert await ids(status=TaskStatus.COMPLETED) == set()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor", ["!!!", "abc", _b64(b"not json"), _b64(b"[1, 2]"), _b64(b'"x"'), _b64(b"[1]")]
)
async def test_a_bad_cursor_is_invalid_input(world: World, cursor: str) -> None:
    with pytest.raises(errors.InvalidInput) as raised:
        await list_tasks(store=world.services.store, cursor=cursor)
    assert raised.value.field == "cursor"


@pytest.mark.parametrize(
    "raw", [b'["2025-06-01T12:00:00", 5]', b'["2025-06-01T12:00:00+00:00", 1e30]', b'["x", -1]']
)
async def test_a_crafted_cursor_is_invalid_input(world: World, raw: bytes) -> None:
    await world.create()
    with pytest.raises(errors.InvalidInput):
        await list_tasks(store=world.services.store, cursor=_b64(raw))


async def test_a_queued_task_reports_how_many_wait_ahead(world: World) -> None:
    created = []
    for _ in range(3):
        created.append(await world.create())
        world.clock.advance(1)  # one second apart, so their order does not hang on the ids
    first, _, third = created
    assert (await world.get(third.task_id)).queue_position == 2
    assert (await world.get(first.task_id)).queue_position == 0
    await world.runner.submit(first.task_id)
    assert (await world.get(third.task_id)).queue_position == 1
    assert (await world.get(first.task_id)).queue_position is None


async def test_cancel_task(world: World) -> None:
    waiting, running = await world.create(), await world.create()
    job = await world.submitted(running.task_id)
    canceled = await cancel_task(waiting.task_id, world.cancelling)
    assert canceled == await world.store.get(waiting.task_id)
    assert (canceled.status, canceled.version, world.fake.canceled) == ("canceled", 1, [])
    assert (await cancel_task(running.task_id, world.cancelling)).status == "canceled"
    assert world.fake.canceled == [job.job_id]
    with pytest.raises(errors.InvalidTransition, match="already canceled"):
        await cancel_task(running.task_id, world.cancelling)
    with pytest.raises(errors.TaskNotFound):
        await cancel_task(12345, world.cancelling)


async def test_a_preview_canceled_once_its_job_ended_is_not_said_to_run_on(
    world: World,
) -> None:
    """The built-in engine can always stop its own work: a job that already ended (its task
    not yet collected) runs no more, so no "cannot cancel" note."""
    task = await world.create(app="preview")
    job = await world.submitted(task.task_id)
    local = world.services.providers["local"]
    deadline = asyncio.get_running_loop().time() + 30
    while (await local.status(job)).phase != "succeeded":
        assert asyncio.get_running_loop().time() < deadline, "the preview did not end"
        await asyncio.sleep(0.02)
    canceled = await cancel_task(task.task_id, world.cancelling)
    assert (canceled.status, canceled.error_message) == ("canceled", "canceled by request")


async def test_reconcile_queues_each_unfinished_task_that_has_no_workflow(world: World) -> None:
    tasks = [await world.create() for _ in range(3)]
    done = await world.create(fake={"reject": "no"})
    await world.runner.submit(done.task_id)  # fails it
    await world.runner.submit(tasks[1].task_id)  # processing: unfinished too
    world.clock.advance(10)
    young = await world.create()
    world.orchestrator.started.clear()  # as if their workflows had never been queued
    assert await reconcile(world.reconciling, min_age_s=5) == 3
    oldest_first = sorted(t.task_id for t in tasks)  # same created_at: by id
    assert world.orchestrator.task_ids == oldest_first
    assert await reconcile(world.reconciling) == 1  # only the one still without one
    assert world.orchestrator.task_ids[3:] == [young.task_id]
    assert await reconcile(world.reconciling) == 0


async def test_reconcile_fails_a_task_whose_workflow_errored_instead_of_replaying_it(
    world: World,
) -> None:
    task = await world.create()
    world.orchestrator.errored.add(task.task_id)
    assert await reconcile(world.reconciling) == 0
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.error_kind) == ("failed", "internal")
    assert failed.error_message == (
        "internal error: its workflow ended in an error; see the server log"
    )
    assert await reconcile(world.reconciling) == 0  # finished: never asked again


async def test_reconcile_ends_a_task_long_past_its_deadline_that_no_worker_ended(
    world: World,
) -> None:
    task = await world.create(app="fake_short", fake={"outcome": "hang"})  # a 1 s deadline
    job = await world.submitted(task.task_id)  # and then its worker died for good
    world.clock.advance(1 + DEADLINE_GRACE_S - 1)
    assert await reconcile(world.reconciling) == 0  # not yet: its worker may see to it
    assert (await world.store.get(task.task_id)).status == "processing"
    world.clock.advance(2)
    world.orchestrator.started.clear()
    assert await reconcile(world.reconciling) == 0
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.error_message) == ("failed", "timed out after 1 s")
    assert world.fake.canceled == [job.job_id]  # the paid job is stopped too
    assert world.orchestrator.started == []


# -- the TaskRunner, step by step ------------------------------------------------------------


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
    assert 2 <= (await world.store.get(task.task_id)).progress < 96

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


async def test_a_webhook_wake_tells_the_tracking_adapter_it_was_heard(world: World) -> None:
    task = await world.create(fake={"outcome": "hang"})
    job = await world.submitted(task.task_id)
    tracking = asyncio.create_task(world.runner.track(task.task_id))
    async with asyncio.timeout(5):
        while world.fake.jobs[job.job_id].polls < 1:
            await asyncio.sleep(0.001)
        assert world.fake.heard_jobs == []
        await world.services.wake(task.task_id, Wake.WEBHOOK)
        while not world.fake.heard_jobs:
            await asyncio.sleep(0.001)
    assert world.fake.heard_jobs == [job.job_id]  # the adapter asks for real next time
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


@pytest.mark.parametrize(("fmt", "content_type"), [("BMP", "image/bmp"), ("GIF", "image/gif")])
async def test_the_provider_receives_the_content_type_the_image_check_found(
    world: World, fmt: str, content_type: str
) -> None:
    """It was re-guessed from a four-entry table, so BMP and GIF went up as octet-stream."""
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 20, 30)).save(out, fmt)
    upload = Upload(role="image", data=out.getvalue(), content_type="application/octet-stream")
    task = await create_task(NewTask(app="fake", uploads=(upload,)), world.creating)
    assert task.inputs["image"].content_type == content_type
    await world.runner.submit(task.task_id)
    assert [u.content_type for u in world.fake.uploads] == [content_type]


async def test_a_stream_shows_each_change_with_the_queue_position_and_ends(world: World) -> None:
    """The SQL store tells `Changes` after each commit; with the memory store the test
    does, after each write."""
    await world.create()
    world.clock.advance(1)
    task = await world.create()
    changes = world.services.changes
    stream = follow(task, store=world.services.store, changes=changes, log=world.store)

    async def next_item() -> StreamItem:
        return await asyncio.wait_for(anext(stream), 5)

    first, queued = await next_item(), await next_item()
    assert (first.event, first.event_id) == ("task.submitted", 0)
    assert queued.event == "task.queue" and queued.event_id is None
    assert queued.task is not None and queued.task.queue_position == 1
    await world.runner.submit(task.task_id)
    world.services.changes.publish(task.task_id, False)
    processing = await next_item()
    assert (processing.event, processing.event_id) == ("task.processing", 1)
    await cancel_task(task.task_id, world.cancelling)
    world.services.changes.publish(task.task_id, False)
    canceled = await next_item()
    assert canceled.event == "task.canceled" and canceled.task is not None
    with pytest.raises(StopAsyncIteration):
        await next_item()


# -- retention ------------------------------------------------------------------------------


async def test_retention_removes_old_files_keeps_the_row_and_says_so(world: World) -> None:
    settings = world.services.settings.model_copy(update={"retention_days": 1})
    world.services = dataclasses.replace(world.services, settings=settings)
    old = await world.run((await world.create()).task_id)
    assert old.status is TaskStatus.COMPLETED and world.blob_keys()
    world.clock.advance(2 * 86400)
    recent = await world.run((await world.create()).task_id)
    kept = set(world.blob_keys())
    listed = await retention.prune(world.pruning, dry_run=True)
    assert [t.task_id for t in listed.tasks] == [old.task_id] and set(world.blob_keys()) == kept
    pruned = await retention.prune(world.pruning)
    assert [t.task_id for t in pruned.tasks] == [old.task_id]
    assert pruned.result_bytes == sum(o.size for o in old.outputs) > 0
    gone = {ref.key for ref in old.inputs.values()} | {o.key for o in old.outputs}
    assert gone and not gone & set(world.blob_keys())  # its files, and only its, went
    assert {o.key for o in recent.outputs} <= set(world.blob_keys())
    expired = await world.get(old.task_id)
    assert expired.files_expired_at == world.clock.now and expired.status is TaskStatus.COMPLETED
    with pytest.raises(errors.FilesExpired, match="were removed on"):
        await result_bytes(expired, blobs=world.services.blobs)
    assert (await retention.prune(world.pruning)).tasks == []  # nothing twice


async def test_an_apps_own_retention_wins_over_the_default(world: World) -> None:
    short = dataclasses.replace(world.services.apps["fake"], retention_days=0.5)
    world.services = dataclasses.replace(
        world.services,
        apps={**world.services.apps, "fake": short},
        settings=world.services.settings.model_copy(update={"retention_days": 30}),
    )
    task = await world.run((await world.create()).task_id)
    world.clock.advance(86400)  # past the app's half day, far within the default's 30 days
    assert [t.task_id for t in (await retention.prune(world.pruning)).tasks] == [task.task_id]
