"""The worker's tracker (workflow/tracker.py) and its poll plan (workflow/poll_plan.py):
one timer heap for every job, progress written in rounds, and a sweep under lost wakes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from rendergate.workflow.job_checks import Job
from rendergate.workflow.outcomes import Tracked, TrackOutcome
from rendergate.workflow.poll_plan import (
    DENSE_S,
    MAX_WAIT_S,
    SAFETY_EVERY_S,
    SAFETY_MAX_S,
    Expected,
    RunTimes,
    next_poll_s,
)
from rendergate.workflow.progress_writes import ProgressWrites
from rendergate.workflow.tracker import Tracker
from rendergate.workflow.tracking import TrackStep
from support.world import World

TYPICAL = Expected(early=14.0, typical=20.0, late=26.0)


def test_run_times_say_nothing_until_a_few_are_seen() -> None:
    times = RunTimes()
    for seconds in (18.0, 22.0):
        times.record("rh:app", seconds)
    assert times.expected("rh:app") is None and times.expected("other") is None
    for seconds in (14.0, 20.0, 26.0):
        times.record("rh:app", seconds)
    expected = times.expected("rh:app")
    assert expected is not None and expected.typical == 20.0
    assert 14.0 <= expected.early < expected.typical < expected.late <= 26.0


@pytest.mark.parametrize(
    ("elapsed", "wait"),
    [
        (0.0, 14.0),  # sparse: asked first when the earliest runs end
        (10.0, 4.0),
        (14.0, DENSE_S),  # dense from the earliest end on
        (30.0, DENSE_S),
        (39.0, DENSE_S),  # up to half again the slowest
        (79.0, DENSE_S + 10.0),  # a straggler: less and less often
        (1000.0, MAX_WAIT_S),
    ],
)
def test_polls_are_sparse_early_and_dense_near_the_expected_end(
    elapsed: float, wait: float
) -> None:
    assert next_poll_s(elapsed, TYPICAL, webhook=False) == pytest.approx(wait)


def test_with_a_webhook_coming_the_provider_is_asked_once_after_the_slowest_end() -> None:
    first = next_poll_s(0.0, TYPICAL, webhook=True)
    assert first == pytest.approx(1.5 * 26.0 + 30.0)
    assert next_poll_s(first, TYPICAL, webhook=True) == first  # as far apart as it is old
    assert next_poll_s(30.0, None, webhook=True) == 90.0  # unknown app: first at 120 s
    quick = Expected(early=1.0, typical=1.0, late=1.0)
    assert next_poll_s(50.0, quick, webhook=True) == SAFETY_EVERY_S
    assert next_poll_s(3600.0, TYPICAL, webhook=True) == SAFETY_MAX_S


def test_a_provider_hint_comes_first_and_an_unknown_app_is_asked_often() -> None:
    assert next_poll_s(50.0, TYPICAL, webhook=False, hint_s=0.5) == 0.5
    assert next_poll_s(50.0, TYPICAL, webhook=True, hint_s=7200.0) == MAX_WAIT_S
    assert next_poll_s(1.0, None, webhook=False) == next_poll_s(60.0, None, webhook=False) == 2.0


def _step(world: World, tracker: Tracker) -> TrackStep:
    runner = world.runner
    return TrackStep(
        writer=runner.writer,
        providers=runner.track_step.providers,
        apps=runner.track_step.apps,
        tracker=tracker,
    )


async def test_progress_is_written_in_rounds_not_per_poll(world: World) -> None:
    tracker = Tracker(writer=world.runner.writer, wakeups=world.services.wakeups, flush_s=0.2)
    world.fake.poll_interval_s = 0.01
    task = await world.create(fake={"polls": 60})  # about 60 answers, each with new progress
    job = await world.submitted(task.task_id)
    started = await world.store.get(task.task_id)
    tracked = await asyncio.wait_for(_step(world, tracker)(task.task_id), 10)
    assert tracked.outcome is TrackOutcome.SUCCEEDED
    assert world.fake.jobs[job.job_id].polls >= 60
    written = (await world.store.get(task.task_id)).version - started.version
    assert 1 <= written < 20  # rounds of 0.2 s over the run, never one per answer
    assert (await world.store.get(task.task_id)).progress > started.progress


async def test_the_sweep_ends_tracking_of_a_task_canceled_without_a_wake(world: World) -> None:
    tracker = Tracker(writer=world.runner.writer, wakeups=world.services.wakeups, sweep_s=0.05)
    world.fake.poll_interval_s = 3600.0  # the provider would not be asked again for an hour
    task = await world.create(fake={"outcome": "hang"})
    job = await world.submitted(task.task_id)
    tracking = asyncio.create_task(_step(world, tracker)(task.task_id))
    async with asyncio.timeout(5):
        while world.fake.jobs[job.job_id].polls < 1:
            await asyncio.sleep(0.001)
    current = await world.store.get(task.task_id)
    assert await world.store.save(current, current.cancel(now=current.updated_at)) is not None
    assert await asyncio.wait_for(tracking, 5) == Tracked(TrackOutcome.FINISHED)  # no wake sent
    assert world.fake.canceled == [job.job_id] and tracker.following == 0


async def test_one_tracker_follows_many_jobs_and_stops_when_none_is_left(world: World) -> None:
    tracker = Tracker(writer=world.runner.writer, wakeups=world.services.wakeups)
    world.fake.poll_interval_s = 0.01
    tasks = [await world.create(fake={"polls": 3}) for _ in range(50)]
    for task in tasks:
        await world.submitted(task.task_id)
    step = _step(world, tracker)
    ends = await asyncio.wait_for(asyncio.gather(*(step(t.task_id) for t in tasks)), 10)
    assert {end.outcome for end in ends} == {TrackOutcome.SUCCEEDED}
    assert tracker.following == 0
    running = tracker._running
    assert running is not None
    await asyncio.wait_for(running, 5)  # its loop ended with the last job


async def test_a_tasks_progress_is_written_at_most_once_a_gap(world: World) -> None:
    task = await world.create(fake={"outcome": "hang"})
    handle = await world.submitted(task.task_id)
    started = await world.store.get(task.task_id)
    job = Job(
        task=started,
        provider=world.fake,
        handle=handle,
        deadline=started.created_at + timedelta(hours=1),
        timeout_message="",
        submitted=0.0,
    )
    writes = ProgressWrites(world.runner.writer, flush_s=0.5, min_gap_s=3.0)
    writes.report(job, 10, None, now=100.0)
    writes.report(job, 20, None, now=100.2)  # the same round: only the latest is written
    assert writes.next_at() == 100.5 and not writes.due(100.4)
    assert await writes.flush(100.5) == []
    assert (await world.store.get(task.task_id)).progress == 20
    writes.report(job, 30, 4, now=101.0)
    assert writes.next_at() == 103.5  # not before the gap since the last write
    assert await writes.flush(103.0) == [] and job.task.progress == 20
    await writes.flush(103.5)
    now = await world.store.get(task.task_id)
    assert (now.progress, now.queue_position, now.version) == (30, 4, started.version + 2)
