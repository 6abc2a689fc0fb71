"""TaskWriter.apply (services/writer.py) with the caller's copy of the task: tried first,
and decided again on the row when another writer changed it meanwhile."""

from __future__ import annotations

from rendergate.testing import T0
from support.world import World


async def test_a_fresh_copy_saves_the_read(world: World) -> None:
    task = await world.create()
    reported = await world.runner.writer.apply(
        task.task_id, lambda t: t.report(now=T0, progress=40), current=task
    )
    assert reported is not None and reported.progress == 40
    assert reported.version == task.version + 1


async def test_a_stale_copy_is_decided_again_on_the_row(world: World) -> None:
    task = await world.create()
    current = await world.store.get(task.task_id)
    canceled = await world.store.save(current, current.cancel(now=T0))  # another writer
    assert canceled is not None
    started = await world.runner.writer.apply(
        task.task_id, lambda t: t.report(now=T0, progress=40), current=task
    )
    assert started is None  # the row says canceled: no progress on it
    assert await world.store.get(task.task_id) == canceled


async def test_a_copy_on_which_nothing_changes_is_checked_on_the_row(world: World) -> None:
    task = await world.create()
    current = await world.store.get(task.task_id)
    moved = await world.store.save(current, current.report(now=T0, progress=30))
    assert moved is not None
    done = await world.runner.writer.apply(
        task.task_id, lambda t: t.report(now=T0, progress=0), current=task
    )
    assert done == moved  # the stale copy's "nothing to do" was checked against the row
