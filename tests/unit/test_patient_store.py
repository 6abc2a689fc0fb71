"""The workers' store waits out a database that is away, and knows its own landed writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from rendergate.domain.errors import TaskNotFound
from rendergate.domain.task import JobHandle, Task
from rendergate.store.memory import MemoryTaskStore
from rendergate.store.patient import PatientTaskStore, is_transient

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def gone() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))


class Outage(MemoryTaskStore):
    """The in-memory store behind a database link that drops: `down` calls fail, and a
    save can land and lose its answer (`lose_answers`), as when the link drops at commit."""

    def __init__(self) -> None:
        super().__init__()
        self.down = 0
        self.lose_answers = 0

    async def get(self, task_id: int, *, owner: str | None = None) -> Task:
        if self.down:
            self.down -= 1
            raise gone()
        return await super().get(task_id, owner=owner)

    async def save(self, old: Task, new: Task) -> Task | None:
        stored = await super().save(old, new)
        if self.lose_answers:
            self.lose_answers -= 1
            raise gone()
        return stored


async def no_wait(seconds: float) -> None:
    return None


def new_task() -> Task:
    return Task(task_id=7, app="fake", provider="fake", created_at=T0, updated_at=T0)


async def test_reads_wait_for_the_database_to_come_back() -> None:
    inner = Outage()
    await inner.add(new_task())
    inner.down = 3
    assert (await PatientTaskStore(inner, sleep=no_wait).get(7)).task_id == 7
    assert inner.down == 0


async def test_a_save_whose_answer_was_lost_counts_as_done() -> None:
    inner, task = Outage(), new_task()
    await inner.add(task)
    inner.lose_answers = 1
    started = task.start(now=T0, provider_job=JobHandle(job_id="j-1"))
    stored = await PatientTaskStore(inner, sleep=no_wait).save(task, started)
    assert stored is not None and stored.provider_job == JobHandle(job_id="j-1")
    assert stored.version == 1 and (await inner.get(7)) == stored


async def test_a_rivals_write_during_the_outage_is_a_lost_race() -> None:
    task = new_task()
    rival = task.start(now=T0, provider_job=JobHandle(job_id="rival"))

    class RivalWritesMeanwhile(MemoryTaskStore):
        async def save(self, old: Task, new: Task) -> Task | None:
            if new.provider_job == JobHandle(job_id="ours"):
                await super().save(old, rival)  # another writer gets in while our link is down
                raise gone()
            return await super().save(old, new)

    inner = RivalWritesMeanwhile()
    await inner.add(task)
    ours = task.start(now=T0, provider_job=JobHandle(job_id="ours"))
    assert await PatientTaskStore(inner, sleep=no_wait).save(task, ours) is None
    assert (await inner.get(7)).provider_job == JobHandle(job_id="rival")


def test_only_connection_trouble_is_transient() -> None:
    assert is_transient(gone())
    assert is_transient(sa.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"))
    integrity = sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert not is_transient(integrity) and not is_transient(ValueError("bad"))


async def test_other_errors_are_raised_at_once() -> None:
    with pytest.raises(TaskNotFound):
        await PatientTaskStore(MemoryTaskStore(), sleep=no_wait).get(404)
