"""The worker's sweeps: reconcile (workflow/reconcile.py) and retention
(services/retention.py), on the in-memory store and the shipped fake providers."""

from __future__ import annotations

import dataclasses

import pytest

from rendergate.domain import errors
from rendergate.domain.task import TaskStatus
from rendergate.services import retention
from rendergate.services.tasks import result_bytes
from rendergate.workflow.reconcile import DEADLINE_GRACE_S, reconcile
from support.world import World


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
