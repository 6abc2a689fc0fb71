"""Pooled RunningHub keys (RENDERGATE_RUNNINGHUB_API_KEYS) on the emulator, where each key is
its own account: its own slots and balance, and another key's task ids unknown to it."""

from __future__ import annotations

import itertools
import json
from typing import Any

import aiohttp
import pytest

from rendergate.config.settings import Settings
from rendergate.domain.task import JobHandle
from rendergate.providers.accounts import ProviderAccount, account_id
from rendergate.providers.base import JobPhase
from rendergate.providers.runninghub import RunningHub
from rendergate_emulators.runninghub import InjectedFault, RunningHubEmulator
from rendergate_emulators.runninghub_model import TaskEnding
from support.accounts import accounts_of
from support.hub import KEY, hub_settings, submit
from support.logs import captured_logs
from support.server import RunningServer, serve

pytestmark = pytest.mark.slow  # waits out RunningHub's pacing

OTHER = "fedcba9876543210fedcba9876543210"
RUN = "/task/openapi/ai-app/run"
OUTPUTS = "/task/openapi/outputs"
APP = 1983061233110790146  # the SU app of the user's document


def pooled(settings: Settings, emu: RunningHubEmulator, keys: str, **extra: Any) -> Settings:
    return hub_settings(settings, emu, runninghub_api_key=None, runninghub_api_keys=keys, **extra)


async def run_all(server: RunningServer, count: int) -> list[dict[str, Any]]:
    ids = [await submit(server) for _ in range(count)]
    return [await server.wait_finished(task_id, timeout_s=60) for task_id in ids]


@pytest.mark.emulator(concurrency=1)
async def test_two_keys_of_one_slot_each_run_two_tasks_at_once(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    """Each task takes the key with room and is followed on it; the cap is the keys' sum."""
    other_book = emulator.add_key(OTHER, concurrency=1)
    configured = pooled(settings, emulator, f"one={KEY}:1,two={OTHER}:1")
    async with serve(configured) as server:
        done = await run_all(server, 4)
        rows = await accounts_of(configured)
    assert [t["status"] for t in done] == ["completed"] * 4, done
    upstream = list(emulator.tasks.values())
    assert len(upstream) == 4  # each sent once
    assert {t.owner for t in upstream} == {KEY, OTHER}
    # never two at once on a key (no 421), and two at once across the keys
    assert emulator.book.peak_active == 1 and other_book.peak_active == 1
    assert emulator.stats.codes_by_path[RUN].get(421, 0) == 0
    overlapping = [
        (a, b)
        for a, b in itertools.combinations(upstream, 2)
        if a.owner != b.owner
        and a.slotted_mono is not None
        and b.finished_mono is not None
        and a.finished_mono is not None
        and b.slotted_mono is not None
        and a.slotted_mono < b.finished_mono
        and b.slotted_mono < a.finished_mono
    ]
    assert overlapping
    # status and results asked with the key that submitted: no "unknown task" answer
    assert emulator.stats.codes_by_path[OUTPUTS].get(807, 0) == 0
    by_job = {t.task_id: t.owner for t in upstream}
    names = {KEY: "one", OTHER: "two"}
    for task in done:
        assert rows[int(task["task_id"])] == names[by_job[task["provider_job_id"]]]


@pytest.mark.emulator(concurrency=4)
async def test_an_empty_key_is_set_aside_and_its_tasks_run_on_the_other(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.add_key(OTHER, remain_coins=0)  # listed first: the first task tries it
    keys = f"{OTHER}:4,{KEY}:4"  # room for all on the full key: nothing waits for a place
    configured = pooled(settings, emulator, keys, circuit_open_s=600)
    with captured_logs() as logs:
        async with serve(configured) as server:
            [first] = await run_all(server, 1)
            rest = await run_all(server, 3)
    assert [t["status"] for t in [first, *rest]] == ["completed"] * 4
    assert emulator.submits_by_key[OTHER] == 1  # refused once, then not asked again
    assert emulator.stats.codes_by_path[RUN][812] == 1
    assert all(t.owner == KEY for t in emulator.tasks.values())
    rows = await accounts_of(configured)
    assert set(rows.values()) == {account_id(KEY)}  # ids, never the keys
    said = logs.getvalue()
    assert "provider key set aside" in said and account_id(OTHER) in said
    shown = json.dumps([first, *rest])
    for key in (KEY, OTHER):  # not in a log, a response, or a file of the data directory
        assert key not in said and key not in shown
        for path in configured.data_dir.rglob("*"):
            if path.is_file():
                assert key.encode() not in path.read_bytes(), path


async def test_an_unanswered_submit_is_not_sent_on_the_other_key(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.add_key(OTHER)
    emulator.inject(InjectedFault.LOST_REPLY, path=RUN, times=1)  # RunningHub took the job
    configured = pooled(settings, emulator, f"{KEY}:2,{OTHER}:2")
    async with serve(configured) as server:
        [task] = await run_all(server, 1)
    assert task["status"] == "failed", task
    assert "it may have taken the job, so it was not sent again" in task["error_message"]
    assert sum(emulator.submits_by_key.values()) == 1  # one key, once
    assert len(emulator.tasks) == 1


@pytest.mark.emulator(concurrency=1, run_s=30)
async def test_a_cancel_reaches_the_key_that_took_the_task(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    """Sent on another key, the cancel would be answered 807 ("unknown": it runs no more) and
    the job would run on; on its own key it stops."""
    emulator.add_key(OTHER, concurrency=1)
    configured = pooled(settings, emulator, f"{KEY}:1,{OTHER}:1")
    async with serve(configured) as server:
        ids = [await submit(server) for _ in range(2)]
        for task_id in ids:
            await server.wait_for(task_id, lambda t: t["status"] == "processing")
        jobs = {(await server.get_task(t))["provider_job_id"]: t for t in ids}
        [on_other] = [t for t in emulator.tasks.values() if t.owner == OTHER]
        async with server.http.post(f"{server.url}/tasks/{jobs[on_other.task_id]}/cancel") as r:
            assert r.status == 200
    assert on_other.outcome is TaskEnding.CANCELED
    cancels = emulator.stats.codes_by_path["/task/openapi/cancel"]
    assert cancels[0] == 1 and 807 not in cancels  # stopped on its key, never asked elsewhere


async def test_a_job_without_a_listed_key_is_asked_for_with_the_first(
    emulator: RunningHubEmulator, http: aiohttp.ClientSession
) -> None:
    """A job from before keys were pooled (no account), or whose key was renamed or replaced
    by another of its account, is followed with the first key, not failed."""
    emulator.add_key(OTHER)
    run = {"apiKey": KEY, "webappId": APP, "nodeInfoList": []}
    headers = {"Host": "www.runninghub.cn"}
    async with http.post(f"{emulator.base_url}{RUN}", json=run, headers=headers) as response:
        job_id = str((await response.json())["data"]["taskId"])
    hub = RunningHub(
        accounts=(ProviderAccount("renamed", KEY, 1), ProviderAccount("b", OTHER, 1)),
        base_url=str(emulator.base_url),
        http=http,
        host="www.runninghub.cn",
    )
    for data in ({}, {"account": account_id(KEY)}, {"account": "renamed"}):
        status = await hub.status(JobHandle(job_id=job_id, data=data))
        assert status.phase in (JobPhase.QUEUED, JobPhase.RUNNING, JobPhase.SUCCEEDED), status
    assert emulator.stats.codes_by_path[OUTPUTS].get(807, 0) == 0
