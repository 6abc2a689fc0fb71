"""rendergate against the RunningHub emulator: the user's SU app end to end, and everything
RunningHub does in practice (webhooks, polling, 421s, failures, faults, expiring URLs)."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import pytest
import stamina
from PIL import Image

from rendergate.config.settings import Settings
from rendergate.domain.errors import ProviderRejected
from rendergate.providers.runninghub import RunningHub
from rendergate_emulators.runninghub import FailedReason, InjectedFault, RunningHubEmulator
from support.hub import KEY, hub_settings, submit
from support.process import free_port
from support.server import serve
from support.waiting import until

pytestmark = pytest.mark.slow  # waits out RunningHub's pacing: polls seconds apart, 421s, faults


def rh_settings(settings: Settings, emu: RunningHubEmulator, **extra: Any) -> Settings:
    return hub_settings(settings, emu, **extra)


async def test_su_render_end_to_end_with_webhooks(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    port = free_port()
    configured = rh_settings(settings, emulator, public_url=f"http://127.0.0.1:{port}")
    async with serve(configured, port=port) as server:
        task_id = await submit(server)
        task = await server.wait_finished(task_id)
        assert task["status"] == "completed", task
        [upstream] = emulator.tasks.values()
        assert task["provider_job_id"] == upstream.task_id  # RunningHub's own taskId
        assert upstream.webhook_url is not None
        assert upstream.webhook_url.startswith(f"http://127.0.0.1:{port}/webhooks/runninghub/")
        assert [a.ok for a in emulator.webhook_attempts] == [True]
        # The webhook woke us: the outputs were asked for once or twice, not polled for.
        assert upstream.requests["/task/openapi/outputs"] <= 2
        assert task["outputs"][0]["node_id"] and task["outputs"][0]["file_type"] == "png"
        figures = task["cost"]["provider"]
        assert figures["consumeCoins"] is not None and "taskCostTime" in figures
        full = await server.get_task(task_id)
        async with server.http.get(full["image"]["image_url"]) as response:
            assert response.status == 200
            rendered = Image.open(io.BytesIO(await response.read()))
        assert rendered.size == (96, 64)  # made from our screenshot, node 112's input


async def test_polling_alone_does_the_job_without_a_public_url(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    async with serve(rh_settings(settings, emulator)) as server:
        task = await server.wait_finished(await submit(server))
        assert task["status"] == "completed", task
        [upstream] = emulator.tasks.values()
        assert upstream.webhook_url is None and emulator.webhook_attempts == []


async def test_a_805_failure_says_which_node_failed_and_how(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.script_next(
        failed=FailedReason(
            node_id="276",
            node_name="SONIC_PreData",
            exception_type="TypeError",
            exception_message="missing 2 required positional arguments",
        )
    )
    async with serve(rh_settings(settings, emulator)) as server:
        task = await server.wait_finished(await submit(server))
    assert task["status"] == "failed"
    assert task["error_message"] == (
        "the inputs were refused: the task failed on RunningHub: SONIC_PreData (node 276) "
        "raised TypeError: missing 2 required positional arguments"
    )


async def test_the_queue_cap_keeps_tasks_waiting_with_us_instead_of_drawing_421s(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    async with serve(rh_settings(settings, emulator)) as server:
        ids = [await submit(server) for _ in range(5)]
        tasks = [await server.wait_finished(task_id, timeout_s=30) for task_id in ids]
    assert [t["status"] for t in tasks] == ["completed"] * 5
    assert emulator.stats.codes_by_path["/task/openapi/ai-app/run"].get(421, 0) == 0
    assert len(emulator.tasks) == 5


async def test_a_421_that_still_happens_is_waited_out(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    stamina.set_testing(False)  # real back-off, so the slot frees up meanwhile
    emulator.configure(concurrency=1)  # someone else uses the key: our cap of 2 is too high
    async with serve(rh_settings(settings, emulator)) as server:
        ids = [await submit(server) for _ in range(3)]
        tasks = [await server.wait_finished(task_id, timeout_s=60) for task_id in ids]
    assert [t["status"] for t in tasks] == ["completed"] * 3
    assert emulator.stats.codes_by_path["/task/openapi/ai-app/run"][421] >= 1


@pytest.mark.parametrize(
    ("fault", "times"),
    [(InjectedFault.HTTP_502, 3), (InjectedFault.HTML_200, 2), (InjectedFault.RESET, 2)],
)
async def test_upstream_faults_never_fail_or_strand_a_task(
    settings: Settings, emulator: RunningHubEmulator, fault: InjectedFault, times: int
) -> None:
    emulator.inject(fault, path="/task/openapi/outputs", times=times)
    emulator.inject(fault, path="/task/openapi/upload", times=1)
    async with serve(rh_settings(settings, emulator)) as server:
        task = await server.wait_finished(await submit(server), timeout_s=60)
    assert task["status"] == "completed", task
    assert emulator.stats.faults_fired[fault.value] == times + 1


RUN = "/task/openapi/ai-app/run"


async def test_a_run_reset_before_runninghub_saw_it_is_checked_then_sent_again(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.inject(InjectedFault.RESET, path=RUN, times=1)  # the run never reached it
    async with serve(rh_settings(settings, emulator)) as server:
        task = await server.wait_finished(await submit(server), timeout_s=30)
    assert task["status"] == "completed", task
    assert emulator.stats.requests_by_path[RUN] == 2
    assert emulator.stats.requests_by_path["/uc/openapi/accountStatus"] == 1  # asked first
    assert len(emulator.tasks) == 1


async def test_a_run_whose_reply_was_lost_is_not_sent_again(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.inject(InjectedFault.LOST_REPLY, path=RUN, times=1)  # RunningHub took the job
    async with serve(rh_settings(settings, emulator)) as server:
        task = await server.wait_finished(await submit(server), timeout_s=30)
    assert task["status"] == "failed", task
    assert "it may have taken the job, so it was not sent again" in task["error_message"], task
    assert (
        "its account has 1 jobs queued or running, rendergate's others 0" in task["error_message"]
    )
    assert emulator.stats.requests_by_path[RUN] == 1  # the one job, never a second
    assert len(emulator.tasks) == 1


@pytest.mark.emulator(hold=True)
@pytest.mark.parametrize(
    ("fault", "sent_again"), [(InjectedFault.RESET, True), (InjectedFault.LOST_REPLY, False)]
)
async def test_the_check_allows_for_the_jobs_of_the_other_running_tasks(
    settings: Settings, emulator: RunningHubEmulator, fault: InjectedFault, sent_again: bool
) -> None:
    async with serve(rh_settings(settings, emulator)) as server:
        first = await submit(server)
        await server.wait_for(first, lambda t: t["status"] == "processing")  # its job runs
        emulator.inject(fault, path=RUN, times=1)
        second = await submit(server)
        settled = "processing" if sent_again else "failed"
        await server.wait_for(second, lambda t: t["status"] == settled)
        assert len(emulator.tasks) == 2  # one job each: the first's, and the second's only one
        assert emulator.stats.requests_by_path[RUN] == (3 if sent_again else 2)
        for upstream in emulator.tasks.values():
            emulator.advance(upstream.task_id)
            emulator.advance(upstream.task_id)
        tasks = [await server.wait_finished(task_id) for task_id in (first, second)]
    assert [t["status"] for t in tasks] == ["completed", "completed" if sent_again else "failed"]
    if not sent_again:
        assert (
            "account has 2 jobs queued or running, rendergate's others 1"
            in (tasks[1]["error_message"])
        )


async def test_a_stalled_call_is_timed_out_and_retried(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.inject(InjectedFault.STALL, path="/task/openapi/outputs", times=1, stall_s=30)
    async with serve(rh_settings(settings, emulator, runninghub_timeout_s=0.5)) as server:
        task = await server.wait_finished(await submit(server), timeout_s=30)
    assert task["status"] == "completed", task


async def test_results_outlive_runninghubs_expiring_urls(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    # RunningHub's result URLs are signed for a while from each /outputs call (here half a
    # second); rendergate downloads at once and serves its own copy long after.
    emulator.configure(file_ttl_s=0.5, resign_on_query=True, run_s=0.1)
    async with serve(rh_settings(settings, emulator)) as server:
        task = await server.wait_finished(await submit(server))
        assert task["status"] == "completed", task
        [upstream] = emulator.tasks.values()
        async with server.http.post(
            f"{emulator.base_url}/task/openapi/outputs",
            json={"apiKey": KEY, "taskId": upstream.task_id},
            headers={"Host": "www.runninghub.cn"},
        ) as response:
            their_url = (await response.json())["data"][0]["fileUrl"]

        async def expired() -> bool:
            async with server.http.get(their_url) as response:
                return response.status == 403

        await until(expired, 10, "the emulator's signed URL to expire")
        async with server.http.get(f"{server.url}/tasks/{task['task_id']}/image") as response:
            assert response.status == 200 and response.content_type == "image/png"


async def test_cancel_reaches_runninghub(settings: Settings, emulator: RunningHubEmulator) -> None:
    emulator.configure(run_s=30)
    async with serve(rh_settings(settings, emulator)) as server:
        task_id = await submit(server)
        await server.wait_for(task_id, lambda t: t["status"] == "processing")
        async with server.http.post(f"{server.url}/tasks/{task_id}/cancel") as response:
            assert response.status == 200
        [upstream] = emulator.tasks.values()
        assert upstream.requests["/task/openapi/cancel"] >= 1
        assert upstream.status == "FAILED"  # RunningHub reads a canceled task as failed


async def test_repeated_and_forged_webhooks_change_nothing(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    port = free_port()
    emulator.configure(webhook_duplicates=2)
    configured = rh_settings(settings, emulator, public_url=f"http://127.0.0.1:{port}")
    async with serve(configured, port=port) as server:
        emulator.configure(hold=True)  # it stays queued upstream until the test moves it on
        task_id = await submit(server)
        await server.wait_for(task_id, lambda t: t["status"] == "processing")
        [upstream] = emulator.tasks.values()
        assert upstream.webhook_url is not None
        forged = {"event": "TASK_END", "taskId": upstream.task_id, "eventData": "{}"}
        async with server.http.post(upstream.webhook_url, json=forged) as response:
            assert response.status == 200  # accepted as a hint...
        task = await server.get_task(task_id, include_base64="false")
        assert task["status"] == "processing"  # ...but RunningHub says it is still running
        wrong = upstream.webhook_url.rsplit("/", 1)[0] + "/not-the-token"
        async with server.http.post(wrong, json=forged) as response:
            assert response.status == 404
        emulator.advance(upstream.task_id)  # running
        assert emulator.advance(upstream.task_id) == "SUCCESS"  # and the real webhook goes
        task = await server.wait_finished(task_id)
    assert task["status"] == "completed" and task["attempts"] == 1
    assert sum(a.ok for a in emulator.webhook_attempts) == 3  # the event and two copies


async def test_account_status_reads_the_keys_balance_and_running_tasks(
    emulator: RunningHubEmulator,
) -> None:
    site = {"base_url": emulator.base_url or "", "host": "www.runninghub.cn"}
    async with aiohttp.ClientSession() as http:
        hub = RunningHub(api_key=KEY, http=http, **site)
        wrong = RunningHub(api_key="x" * 32, http=http, **site)
        status = await hub.account_status()
        assert status["current_task_counts"] == 0 and status["remain_coins"] is not None
        with pytest.raises(ProviderRejected) as refused:
            await wrong.account_status()
        assert refused.value.fault.value == "config" and "x" * 32 not in refused.value.message
