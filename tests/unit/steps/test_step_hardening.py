"""The steps' hardening: inputs the provider lost, deadlines, patient uploads, no job after
a cancel, provider replies we cannot read, upstream text scrubbed of secrets, and a second
execution of the same submit."""

from __future__ import annotations

import pytest
import stamina

from rendergate.blobs.base import BlobNotFound
from rendergate.config.settings import Settings
from rendergate.domain.errors import Fault, InputsGone, ProviderRejected
from rendergate.providers.base import JobHandle
from rendergate.services.tasks import Cancelling, cancel_task
from rendergate.workflow.execution import Running, TaskRunner
from rendergate.workflow.job_checks import MAX_HINTED_RETRY_S, fault_backoff
from rendergate.workflow.outcomes import Finished, Submitted
from rendergate.workflow.provider_calls import Backoff
from support.steps import APPS, DOWN, KEY, MakeWorld, World


async def test_inputs_the_provider_lost_are_uploaded_again(world: World) -> None:
    task = await world.create(app="only_hub")
    world.hub.submit_errors.append(InputsGone("the input x.png is no longer held here"))
    assert await world.runner.submit(task.task_id) == Submitted()
    assert world.hub.calls == ["upload", "submit", "upload", "submit"]
    assert (await world.store.get(task.task_id)).provider_job == JobHandle(
        job_id=f"hub-{task.task_id}"
    )


async def test_a_task_past_its_deadline_is_not_submitted(world: World) -> None:
    task = await world.create(app="only_hub")
    world.clock.advance(APPS["only_hub"].deadline_s)
    assert await world.runner.submit(task.task_id) == Finished()
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.error_kind) == ("failed", "timeout")
    assert world.hub.calls == []


async def test_uploads_are_retried_as_patiently_as_the_submit(world: World) -> None:
    stamina.set_testing(False)  # real retries, with waits of a millisecond
    world.runner = TaskRunner(world.services.unpack(Running), Backoff(initial_s=0.001, max_s=0.002))
    task = await world.create(app="only_hub")
    world.hub.upload_errors.extend([DOWN] * 8)  # more than the 5 tries uploads once had
    assert await world.runner.submit(task.task_id) == Submitted()
    assert world.hub.calls == ["upload"] * 9 + ["submit"]
    assert (await world.store.get(task.task_id)).provider_job == JobHandle(
        job_id=f"hub-{task.task_id}"
    )


async def test_a_cancel_during_the_uploads_creates_no_job_upstream(world: World) -> None:
    task = await world.create(app="only_hub")

    async def cancel_meanwhile(call: str) -> None:
        await cancel_task(task.task_id, world.services.unpack(Cancelling))

    world.hub.during_calls = cancel_meanwhile
    assert await world.runner.submit(task.task_id) == Finished()
    assert "submit" not in world.hub.calls and world.hub.requests == []
    assert (await world.store.get(task.task_id)).status == "canceled"


async def test_an_unreadable_submit_reply_is_the_providers_error_and_is_not_resent(
    world: World,
) -> None:
    task = await world.create(app="only_hub")
    world.hub.submit_errors.append(KeyError("taskId"))  # code 0 without a task id
    assert await world.runner.submit(task.task_id) == Finished()
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.error_kind) == ("failed", "provider")
    assert failed.error_message == (
        "runninghub failed: runninghub sent a reply we could not read (KeyError)"
    )
    assert world.hub.calls.count("submit") == 1  # the job may exist: never paid for twice


async def test_upstream_text_is_scrubbed_of_the_key_and_cut_short(
    make_world: MakeWorld, hub_settings: Settings
) -> None:
    world = await make_world(hub_settings)  # its redactor holds the settings' key
    task = await world.create(app="only_hub")
    echo = f"bad request {{'apiKey': '{KEY}', 'x': '{'y' * 100_000}'}}\x00\x1b[31m"
    world.hub.submit_errors.append(ProviderRejected(echo, fault=Fault.USER))
    await world.runner.submit(task.task_id)
    failed = await world.store.get(task.task_id)
    assert KEY not in failed.error_message and "[redacted]" in failed.error_message
    assert len(failed.error_message) == 1000 and failed.error_message.endswith("…")
    assert "\x00" not in failed.error_message


async def test_a_cancel_during_the_download_keeps_no_result_file(world: World) -> None:
    task = await world.create(app="only_hub")
    await world.runner.submit(task.task_id)
    tracked = await world.runner.track(task.task_id)

    async def cancel_meanwhile(call: str) -> None:
        await cancel_task(task.task_id, world.services.unpack(Cancelling))

    world.hub.during_calls = cancel_meanwhile
    await world.runner.collect(task.task_id, tracked)
    assert world.hub.calls.count("download") == 1
    assert (await world.store.get(task.task_id)).status == "canceled"
    with pytest.raises(BlobNotFound):
        await world.services.blobs.get(f"results/{task.task_id}/0.png")


def test_failed_status_calls_back_off_briefly_once_a_webhook_came() -> None:
    waits, hinted = [0.5], [0.5]
    for _ in range(8):
        waits.append(fault_backoff(waits[-1], hinted=False))
        hinted.append(fault_backoff(hinted[-1], hinted=True))
    assert waits[1:] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert hinted[1:] == [MAX_HINTED_RETRY_S] * 8 and MAX_HINTED_RETRY_S <= 1.0


async def test_a_second_execution_cancels_its_own_job_and_follows_the_recorded_one(
    world: World,
) -> None:
    task = await world.create(app="only_hub")
    first = JobHandle(job_id="hub-first-execution")

    async def the_other_execution_records_first(call: str) -> None:
        if call == "submit":  # a zombie worker's submit of the same attempt lands meanwhile
            await world.runner.writer.apply(
                task.task_id, lambda t: t.start(now=world.clock(), provider_job=first)
            )

    world.hub.during_calls = the_other_execution_records_first
    assert await world.runner.submit(task.task_id) == Submitted()  # following the row's job
    stored = await world.store.get(task.task_id)
    assert (stored.provider_job, stored.attempts) == (first, 1)  # not overwritten
    assert world.hub.canceled == [f"hub-{task.task_id}"]  # ours, not the one it records
