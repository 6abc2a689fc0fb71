"""Fallback between providers in the TaskRunner's submit step: a busy, refusing or silent
first route hands the task to the next one, the circuit that skips a failing provider, and
what never moves (the inputs' own faults, the last route, a canceled task)."""

from __future__ import annotations

from rendergate.config.settings import Settings
from rendergate.domain.task import Skip
from rendergate.providers.base import JobHandle
from rendergate.testing import T0
from rendergate.workflow.outcomes import Finished, Moved, Submitted
from rendergate.workflow.reconcile import Reconciling, reconcile
from support.steps import BAD_INPUT, BUSY, DOWN, REFUSED_KEY, MakeWorld, World


async def test_a_busy_provider_hands_the_task_to_the_next_route_at_once(world: World) -> None:
    task = await world.create()
    world.hub.submit_errors.append(BUSY)
    moved = await world.runner.submit(task.task_id, task.workflow_id)
    assert moved == Moved("fake", f"task-{task.task_id}.1")
    assert world.hub.calls == ["upload", "submit"]  # no waiting for a slot
    stored = await world.store.get(task.task_id)
    assert (stored.provider, stored.status, stored.provider_job) == ("fake", "submitted", None)
    assert stored.skipped == (
        Skip(
            provider="runninghub",
            reason="runninghub is at its concurrency or quota limit: "
            "the account's concurrent task limit is reached (421)",
        ),
    )
    # The new route's workflow runs it on the fake, with the fallback's own options.
    job = await world.runner.submit(task.task_id, stored.workflow_id)
    assert isinstance(job, Submitted)
    await world.runner.collect(task.task_id, await world.runner.track(task.task_id))
    done = await world.store.get(task.task_id)
    assert (done.status, done.provider, done.skipped) == ("completed", "fake", stored.skipped)
    [request] = world.fake.submitted
    assert request.app.provider == "fake" and request.app.options == {"note": "fallback"}
    assert request.app.bindings == () and request.inputs == {"image": "fake-upload-1.png"}


async def test_refused_credentials_fall_back_and_count_on_the_circuit(world: World) -> None:
    task = await world.create()
    world.hub.upload_errors.append(REFUSED_KEY)
    assert (
        isinstance(moved := await world.runner.submit(task.task_id), Moved)
        and moved.provider == "fake"
    )
    assert world.hub.calls == ["upload"]
    [skip] = (await world.store.get(task.task_id)).skipped
    assert skip.reason == (
        "runninghub refused our credentials, account or app settings: the API key was refused (802)"
    )
    assert world.runner.circuits["runninghub/render"].failures == 1


async def test_a_provider_that_does_not_answer_is_tried_a_few_times_then_skipped(
    world: World,
) -> None:
    task = await world.create()
    world.hub.submit_errors.extend([DOWN] * 10)
    assert (
        isinstance(moved := await world.runner.submit(task.task_id), Moved)
        and moved.provider == "fake"
    )
    assert world.hub.calls == ["upload", "submit", "submit", "submit"]  # 3 in test mode
    [skip] = (await world.store.get(task.task_id)).skipped
    assert skip.reason == "runninghub did not answer after 3 attempts: RunningHub answered HTTP 502"


async def test_the_inputs_own_faults_never_fall_back(world: World) -> None:
    task = await world.create()
    world.hub.submit_errors.append(BAD_INPUT)
    assert await world.runner.submit(task.task_id) == Finished()
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.provider, failed.skipped) == ("failed", "runninghub", ())
    assert failed.error_message == (
        "the inputs were refused: RunningHub refused the parameters (301)"
    )
    assert world.fake.submitted == [] and world.runner.circuits["runninghub/render"].failures == 0


async def test_the_last_route_behaves_as_before(world: World) -> None:
    busy = await world.create(app="only_hub")
    world.hub.submit_errors.extend([BUSY] * 10)
    assert await world.runner.submit(busy.task_id) == Finished()  # waited (3 tries in test mode)
    failed = await world.store.get(busy.task_id)
    assert (failed.status, failed.skipped, failed.error_kind) == ("failed", (), "provider")
    assert failed.error_message == (
        "runninghub failed: the account's concurrent task limit is reached (421)"
    )
    assert world.hub.calls.count("submit") == 3
    refused = await world.create(app="only_hub")
    world.hub.upload_errors.append(REFUSED_KEY)
    assert await world.runner.submit(refused.task_id) == Finished()
    assert (await world.store.get(refused.task_id)).error_kind == "config"


async def test_a_fallback_not_configured_here_is_no_fallback(
    make_world: MakeWorld, hub_settings: Settings
) -> None:
    world = await make_world(hub_settings)
    task = await world.create(app="nowhere")  # its fallback, aliyun, has no key here
    world.hub.submit_errors.append(REFUSED_KEY)
    assert await world.runner.submit(task.task_id) == Finished()
    assert (await world.store.get(task.task_id)).status == "failed"


async def test_an_open_circuit_skips_the_provider_without_calling_it(world: World) -> None:
    for _ in range(3):
        task = await world.create()
        world.hub.upload_errors.append(REFUSED_KEY)
        assert isinstance(await world.runner.submit(task.task_id), Moved)
    calls = len(world.hub.calls)
    skipped = await world.create()
    assert await world.runner.submit(skipped.task_id) == Moved("fake", f"task-{skipped.task_id}.1")
    assert len(world.hub.calls) == calls
    [skip] = (await world.store.get(skipped.task_id)).skipped
    assert skip.reason == "circuit open: runninghub failed 3 times in a row for this app"
    # The last route is always tried, open circuit or not.
    last = await world.create(app="only_hub")
    await world.runner.submit(last.task_id)
    assert len(world.hub.calls) == calls + 2  # upload, submit
    # After the open period, one task tries again; its success closes the circuit.
    world.clock.advance(30)
    trial = await world.create()
    assert await world.runner.submit(trial.task_id) == Submitted()
    assert (await world.store.get(trial.task_id)).provider_job == JobHandle(
        job_id=f"hub-{trial.task_id}"
    )
    assert world.runner.circuits["runninghub/render"].opened_at is None


async def test_the_circuit_skips_only_while_open(world: World) -> None:
    for _ in range(3):
        task = await world.create()
        world.hub.submit_errors.append(REFUSED_KEY)
        await world.runner.submit(task.task_id)
    world.clock.advance(29)
    assert isinstance(await world.runner.submit((await world.create()).task_id), Moved)
    world.clock.advance(1)
    trial, waiting = await world.create(), await world.create()
    world.hub.submit_errors.append(REFUSED_KEY)  # the trial fails: open again
    assert isinstance(await world.runner.submit(trial.task_id), Moved)
    calls = len(world.hub.calls)
    assert isinstance(await world.runner.submit(waiting.task_id), Moved)
    assert len(world.hub.calls) == calls
    [skip] = (await world.store.get(waiting.task_id)).skipped
    assert skip.reason == "circuit open: runninghub failed 4 times in a row for this app"


async def test_a_workflow_the_task_moved_away_from_submits_nothing(world: World) -> None:
    task = await world.create()
    world.hub.submit_errors.append(BUSY)
    moved = await world.runner.submit(task.task_id, task.workflow_id)
    calls = list(world.hub.calls)
    # The old workflow runs its submit step again after a crash: it learns where the task went.
    assert await world.runner.submit(task.task_id, task.workflow_id) == moved
    assert world.hub.calls == calls and world.fake.submit_calls == 0


async def test_reconcile_starts_the_workflow_of_the_route_the_task_moved_to(world: World) -> None:
    task = await world.create()
    world.hub.submit_errors.append(BUSY)
    await world.runner.submit(task.task_id)
    world.orchestrator.started.clear()
    assert await reconcile(world.services.unpack(Reconciling)) == 1
    assert world.orchestrator.workflow_ids == [f"task-{task.task_id}.1"]


async def test_a_task_canceled_while_the_provider_was_busy_does_not_move(world: World) -> None:
    task = await world.create()
    current = await world.store.get(task.task_id)
    assert await world.store.save(current, current.cancel(now=T0)) is not None
    world.hub.submit_errors.append(BUSY)
    assert await world.runner.submit(task.task_id) == Finished()
    canceled = await world.store.get(task.task_id)
    assert (canceled.status, canceled.provider, canceled.skipped) == ("canceled", "runninghub", ())
