"""ComfyUI's batch views (providers/comfyui.py `statuses`): the tracker asks one server about
every prompt due in a round with one `/queue` read and one `/history` read, against a
stand-in of ComfyUI's API on 127.0.0.1 (support/comfyui_standin.py) that counts them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from rendergate.config.settings import Settings
from rendergate.domain.errors import JobLost, ProviderUnavailable
from rendergate.providers.base import JobHandle, JobPhase
from rendergate.providers.comfyui import ComfyUI
from support.comfyui import comfy_settings, provider_job, submit
from support.comfyui_standin import ComfyStandIn
from support.process import free_port
from support.proxy import http_app
from support.server import RunningServer, serve
from support.waiting import until

TASKS = 20
QUEUE, HISTORY, ONE = "GET /queue", "GET /history", "GET /history/{prompt_id}"


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[ComfyStandIn, str]]:
    comfy = ComfyStandIn()
    async with http_app(comfy.routes) as url:
        yield comfy, url


async def prompts_of(server: RunningServer, task_ids: list[int]) -> list[str]:
    return [(await provider_job(server, task_id))[0] for task_id in task_ids]


async def all_processing(server: RunningServer, task_ids: list[int]) -> bool:
    for task_id in task_ids:
        if (await server.get_task(task_id, include_base64="false"))["status"] != "processing":
            return False
    return True


async def test_twenty_prompts_on_one_server_cost_one_queue_read_a_round(
    settings: Settings, stand_in: tuple[ComfyStandIn, str]
) -> None:
    comfy, url = stand_in
    async with serve(comfy_settings(settings, url, comfyui_concurrency=TASKS)) as server:
        task_ids = [await submit(server, "comfy_demo", width=16, height=16) for _ in range(TASKS)]
        await until(lambda: len(comfy.pending) == TASKS, 30, lambda: comfy.pending)
        await until(lambda: all_processing(server, task_ids), 30, "every task to be followed")
        prompts = await prompts_of(server, task_ids)
        asked = comfy.count(QUEUE)
        await until(lambda: comfy.count(QUEUE) >= asked + 3, 30, "three more rounds")
        before = comfy.requests.copy()
        comfy.finish(*prompts)  # all end at once: the next round sees them all gone
        for task_id in task_ids:
            task = await server.wait_finished(task_id, timeout_s=30)
            assert task["status"] == "completed", task
            assert task["attempts"] == 1
            assert await server.result(task_id) == comfy.image
    rounds = comfy.count(QUEUE) - before[QUEUE]
    assert 1 <= rounds <= 3  # one read a round, not one per prompt (20)
    history_reads = comfy.count(HISTORY) - before[HISTORY] + comfy.count(ONE) - before[ONE]
    assert 1 <= history_reads <= rounds
    assert all(items <= 64 for items in comfy.history_items)


async def test_a_prompt_the_server_lost_sends_only_its_own_task_again(
    settings: Settings, stand_in: tuple[ComfyStandIn, str]
) -> None:
    comfy, url = stand_in
    async with serve(comfy_settings(settings, url, comfyui_concurrency=5)) as server:
        task_ids = [await submit(server, "comfy_demo", width=16, height=16) for _ in range(5)]
        await until(lambda: all_processing(server, task_ids), 30, "every task to be followed")
        prompts = await prompts_of(server, task_ids)
        comfy.forget(prompts[2])  # as a restart does: in neither the queue nor the history
        await until(lambda: len(comfy.pending) == 5, 30, lambda: comfy.pending)  # sent again
        [again] = [p for p in comfy.pending if p not in prompts]
        comfy.finish(*[p for p in prompts if p != prompts[2]], again)
        for index, task_id in enumerate(task_ids):
            task = await server.wait_finished(task_id, timeout_s=30)
            assert task["status"] == "completed", task
            assert task["attempts"] == (2 if index == 2 else 1)
        assert (await provider_job(server, task_ids[2]))[0] == again


async def test_one_read_of_each_view_answers_for_every_prompt(
    stand_in: tuple[ComfyStandIn, str], http: aiohttp.ClientSession
) -> None:
    comfy, url = stand_in
    comfy.pending = ["waits", "next", "ends", "gone", "ends too"]
    comfy.finish("ends", "ends too")
    comfy.forget("gone")
    adapter = ComfyUI(http=http, urls=[url])
    try:
        jobs = [JobHandle(job_id=p, data={"server": url}) for p in (*comfy.pending, "ends")]
        jobs += [JobHandle(job_id=p, data={"server": url}) for p in ("gone", "ends too")]
        jobs.append(JobHandle(job_id="elsewhere", data={"server": "http://127.0.0.1:9"}))
        answers = await adapter.statuses(jobs)
    finally:
        await adapter.aclose()
    assert {p: a.phase for p, a in answers.items() if not isinstance(a, Exception)} == {
        "waits": JobPhase.QUEUED,
        "next": JobPhase.QUEUED,
        "ends": JobPhase.SUCCEEDED,
        "ends too": JobPhase.SUCCEEDED,
    }
    assert isinstance(answers["gone"], JobLost)  # only that prompt: the others answer
    assert isinstance(answers["elsewhere"], JobLost)  # a server no longer configured
    assert comfy.count(QUEUE) == 1
    assert comfy.count(HISTORY) == 1 and comfy.count(ONE) == 1  # "gone" asked alone
    assert comfy.history_items == [3 + 8]


async def test_prompts_that_ended_before_the_latest_are_read_one_by_one(
    stand_in: tuple[ComfyStandIn, str], http: aiohttp.ClientSession
) -> None:
    comfy, url = stand_in
    comfy.pending = ["a", "b", *(f"other {n}" for n in range(100))]
    comfy.finish("a", "b", *(f"other {n}" for n in range(100)))  # others ended after ours
    adapter = ComfyUI(http=http, urls=[url])
    try:
        answers = await adapter.statuses([JobHandle(job_id=p, data={"server": url}) for p in "ab"])
    finally:
        await adapter.aclose()
    assert {p: getattr(a, "phase", a) for p, a in answers.items()} == {
        "a": JobPhase.SUCCEEDED,
        "b": JobPhase.SUCCEEDED,
    }
    assert comfy.history_items == [2 + 8]  # a bounded read of the latest
    assert comfy.count(ONE) == 2


@pytest.mark.parametrize(("dead_after_s", "error"), [(3600.0, ProviderUnavailable), (0.0, JobLost)])
async def test_a_silent_server_is_unavailable_until_it_counts_as_dead(
    http: aiohttp.ClientSession, dead_after_s: float, error: type[Exception]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    adapter = ComfyUI(http=http, urls=[url], timeout_s=2, dead_after_s=dead_after_s)
    try:
        answers = await adapter.statuses([JobHandle(job_id=p, data={"server": url}) for p in "ab"])
    finally:
        await adapter.aclose()
    assert set(answers) == {"a", "b"}
    assert all(type(answer) is error for answer in answers.values())
