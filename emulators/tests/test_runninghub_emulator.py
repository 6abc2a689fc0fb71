"""The RunningHub emulator over real HTTP on 127.0.0.1: wire shapes, task life, faults."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from rendergate_emulators.media import expected_pixel
from rendergate_emulators.runninghub import FailedReason, InjectedFault, RunningHubEmulator
from rendergate_emulators.runninghub_model import UPSCALER_WEBAPP
from support.waiting import until

KEY = "k" * 32
HOST = {"Host": "www.runninghub.cn"}
APP = 1983061233110790146  # the SU app of the user's document
MONEY = {"consumeMoney", "consumeCoins", "thirdPartyConsumeMoney"}
OUTPUT_KEYS = {"fileUrl", "fileType", "taskCostTime", "nodeId", *MONEY}  # the user's outputs answer


@dataclass
class Rh:
    emu: RunningHubEmulator
    base: str
    http: aiohttp.ClientSession

    async def call(self, path: str, body: dict[str, Any], **kw: Any) -> Any:
        headers = kw.pop("headers", HOST)
        async with self.http.post(self.base + path, json=body, headers=headers, **kw) as r:
            assert r.status == 200
            return await r.json()

    async def api(self, path: str, **body: Any) -> Any:
        return await self.call("/task/openapi/" + path, {"apiKey": KEY, **body})

    async def upload(self, image: bytes) -> Any:
        form = aiohttp.FormData({"apiKey": KEY, "fileType": "image"})
        form.add_field("file", image, filename="in.png", content_type="image/png")
        async with self.http.post(self.base + "/task/openapi/upload", data=form, headers=HOST) as r:
            return await r.json()

    async def run(self, nodes: list[Any] | None = None, **extra: Any) -> str:
        answer = await self.api(
            "ai-app/run", **{"webappId": APP, "nodeInfoList": nodes or []} | extra
        )
        assert answer["code"] == 0, answer
        return str(answer["data"]["taskId"])

    async def wait_end(self, task_id: str) -> str:
        await until(
            lambda: self.emu.tasks[task_id].finished_wall, 5, f"task {task_id} to end", every_s=0.01
        )
        return str((await self.api("status", taskId=task_id))["data"])


@pytest.fixture
async def rh() -> AsyncIterator[Rh]:
    emu = RunningHubEmulator(KEY, queue_s=0.1, run_s=0.15, webhook_backoff_s=0.02)
    async with emu.serve() as base, aiohttp.ClientSession() as http:
        yield Rh(emu, base, http)


@dataclass
class Receiver:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to give first, then 200


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver(url="")

    async def hook(request: web.Request) -> web.Response:
        got.bodies.append(await request.json())
        return web.Response(status=got.answers.pop(0) if got.answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    got.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield got
    await runner.cleanup()


async def test_upload_run_poll_outputs_download(rh: Rh) -> None:
    rh.emu.configure(hold=True)  # each phase lasts until the test moves the task on
    source = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 0, 0)).save(source, format="PNG")
    name = (await rh.upload(source.getvalue()))["data"]["fileName"]
    assert name.startswith("api/") and name.endswith(".png") and len(name) == 4 + 64 + 4
    bare = name.removeprefix("api/")  # the SU app document sends the name bare
    nodes = [
        {"nodeId": "112", "fieldName": "image", "fieldValue": bare, "description": "SU截图"},
        {"nodeId": "158", "fieldName": "image", "fieldValue": name},
    ]
    answer = await rh.api("ai-app/run", webappId=APP, nodeInfoList=nodes)
    data = answer["data"]
    assert (answer["code"], answer["msg"], answer["errorMessages"]) == (0, "success", None)
    assert set(data) == {"netWssUrl", "taskId", "clientId", "taskStatus", "promptTips"}
    assert data["taskStatus"] == "QUEUED" and data["netWssUrl"] is None
    assert len(data["taskId"]) == 19 and data["taskId"].isdigit()
    assert json.loads(data["promptTips"])["node_errors"] == {}
    task_id, seen = data["taskId"], list[tuple[str, int]]()
    for phase in range(3):
        if phase:
            rh.emu.advance(task_id)
        status = (await rh.api("status", taskId=task_id))["data"]
        outputs = await rh.api("outputs", taskId=task_id)
        seen.append((status, outputs["code"]))
    assert seen == [("QUEUED", 813), ("RUNNING", 804), ("SUCCESS", 0)]
    (item,) = outputs["data"]
    assert set(item) == OUTPUT_KEYS and item["nodeId"] == "160"
    assert all(isinstance(item[k], str) for k in ("fileType", "taskCostTime", "consumeCoins"))
    assert item["consumeMoney"] is None and item["thirdPartyConsumeMoney"] is None
    async with rh.http.get(item["fileUrl"]) as r:
        assert (r.status, r.content_type) == (200, "image/png")
        result = Image.open(io.BytesIO(await r.read()))
    assert result.size == (40, 30)
    pixel = result.convert("RGB").getpixel((5, 5))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 1 for a, b in zip(pixel, expected_pixel((200, 0, 0), 0), strict=True))
    record = rh.emu.tasks[task_id]
    assert record.finished_wall and record.started_wall and record.requests
    assert record.created_mono < (record.started_mono or 0) < (record.finished_mono or 0)


async def test_result_urls_expire_and_are_signed(rh: Rh) -> None:
    rh.emu.configure(file_ttl_s=0.5, outputs_per_task=2)
    task_id = await rh.run()
    assert await rh.wait_end(task_id) == "SUCCESS"
    first, second = (await rh.api("outputs", taskId=task_id))["data"]
    assert first["nodeId"] != second["nodeId"]
    async with rh.http.get(first["fileUrl"]) as r:
        assert r.status == 200 and (await r.read()).startswith(b"\x89PNG")
    async with rh.http.get(first["fileUrl"] + "0") as r:  # a forged signature
        assert r.status == 403

    async def expired() -> bool:
        async with rh.http.get(second["fileUrl"]) as r:
            return r.status == 403 and "AccessDenied" in await r.text()

    await until(expired, 3, "the signed URL to expire", every_s=0.01)
    rh.emu.configure(resign_on_query=True)  # like a CDN that signs anew at each query
    fresh = (await rh.api("outputs", taskId=task_id))["data"][1]["fileUrl"]
    async with rh.http.get(fresh) as r:
        assert r.status == 200 and fresh != second["fileUrl"]


async def test_refusals(rh: Rh) -> None:
    run = "/task/openapi/ai-app/run"
    body = {"apiKey": KEY, "webappId": APP, "nodeInfoList": []}
    assert (await rh.call(run, body, headers={"Host": "evil.example"}))["code"] == 412
    assert (await rh.call(run, {**body, "apiKey": "wrong"}))["code"] == 802
    as_string = await rh.call(run, {**body, "webappId": str(APP)})
    assert as_string["code"] == 301 and "JSON number" in as_string["msg"]
    assert (await rh.call(run, {**body, "webappId": 1}))["code"] == 901
    unknown = [{"nodeId": "999", "fieldName": "image", "fieldValue": "x"}]
    assert (await rh.call(run, {**body, "nodeInfoList": unknown}))["code"] == 803
    missing = [{"nodeId": "112", "fieldName": "image", "fieldValue": "never.png"}]
    answer = await rh.call(run, {**body, "nodeInfoList": missing})
    tips = json.loads(answer["data"]["promptTips"])
    assert answer["code"] == 433 and "112" in tips["node_errors"]
    assert (await rh.api("create", workflowId="404"))["code"] == 380
    assert (await rh.api("outputs", taskId="1234567890123456789"))["code"] == 807
    account = "/uc/openapi/accountStatus"
    assert (await rh.call(account, {"apiKey": KEY}))["code"] == 802  # documented: `apikey`
    assert (await rh.call(account, {"apikey": KEY}))["data"]["currentTaskCounts"] == "0"
    rh.emu.configure(max_upload_bytes=1000)
    assert (await rh.upload(b"x" * 2000))["code"] == 809


async def test_the_upscaler_app_enlarges_by_its_factor_and_keeps_the_node_info(rh: Rh) -> None:
    source = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 90, 200)).save(source, format="PNG")
    name = (await rh.upload(source.getvalue()))["data"]["fileName"]
    nodes = [
        {"nodeId": "15", "fieldName": "image", "fieldValue": name},
        {"nodeId": "22", "fieldName": "upscale_by", "fieldValue": 3},
    ]
    task_id = await rh.run(nodes, webappId=int(UPSCALER_WEBAPP))
    assert await rh.wait_end(task_id) == "SUCCESS"
    (item,) = (await rh.api("outputs", taskId=task_id))["data"]
    async with rh.http.get(item["fileUrl"]) as r:
        assert Image.open(io.BytesIO(await r.read())).size == (120, 90)
    assert (item["nodeId"], rh.emu.tasks[task_id].node_info) == ("30", nodes)
    for refused in (0.5, 9, "x", True, None):
        bad = [nodes[0], {**nodes[1], "fieldValue": refused}]
        answer = await rh.api("ai-app/run", webappId=int(UPSCALER_WEBAPP), nodeInfoList=bad)
        assert answer["code"] == 433, answer
        assert f"node 22: upscale_by must be a number from 1 to 8, not {refused!r}" in answer["msg"]


async def test_concurrency_cap_and_personal_queue(rh: Rh) -> None:
    rh.emu.configure(concurrency=2, run_s=30, personal_queue_limit=1)
    first, _ = await rh.run(), await rh.run()
    assert (await rh.api("ai-app/run", webappId=APP, nodeInfoList=[]))["code"] == 421
    plus = await rh.api("ai-app/run", webappId=APP, nodeInfoList=[], instanceType="plus")
    assert plus["code"] == 415
    wf = {"workflowId": "1904136902449209346", "usePersonalQueue": True}
    waiting = (await rh.api("create", **wf))["data"]["taskId"]
    assert (await rh.api("create", **wf))["code"] == 814
    assert (await rh.api("status", taskId=waiting))["data"] == "QUEUED"
    counts = await rh.call("/uc/openapi/accountStatus", {"apikey": KEY})
    assert counts["data"]["currentTaskCounts"] == "3"
    assert rh.emu.tasks[waiting].slotted_mono is None
    assert (await rh.api("cancel", taskId=first))["code"] == 0
    assert rh.emu.tasks[waiting].slotted_mono is not None  # it took the freed slot


async def test_the_balance_runs_out_and_is_topped_up_over_the_control_api(rh: Rh) -> None:
    account = "/uc/openapi/accountStatus"

    async def configure(**knobs: Any) -> Any:
        async with rh.http.post(rh.base + "/_emulator/config", json=knobs) as r:
            return r.status, await r.json()

    assert (await configure(remain_coins=20, coins_per_task=10, remain_money="3.50"))[0] == 200
    for _ in range(2):
        assert await rh.wait_end(await rh.run()) == "SUCCESS"  # each ends taking its coins
    status = (await rh.call(account, {"apikey": KEY}))["data"]
    assert (status["remainCoins"], status["remainMoney"], status["currency"]) == (
        "0",
        "3.50",
        "CNY",
    )
    refused = await rh.api("ai-app/run", webappId=APP, nodeInfoList=[])
    assert (refused["code"], refused["msg"]) == (812, "CORPAPIKEY_INSUFFICIENT_FUNDS")
    await configure(broke_code=416)
    assert (await rh.api("ai-app/run", webappId=APP, nodeInfoList=[]))["code"] == 416
    for bad in ({"broke_code": 500}, {"remain_money": "lots"}, {"remain_coins": -1}):
        status_code, answer = await configure(**bad)
        assert status_code == 400 and answer["error"], bad
    assert (await configure(remain_coins=10))[1]["remain_coins"] == 10  # topped up
    assert await rh.wait_end(await rh.run()) == "SUCCESS"
    assert rh.emu.remain_coins == 0


async def test_failure_cancel_and_empty_outputs(rh: Rh) -> None:
    reason = FailedReason(exception_type="RuntimeError", exception_message="CUDA out of memory")
    rh.emu.script_next(failed=reason)
    rh.emu.script_next(empty=True)
    failed, empty = await rh.run(), await rh.run()
    assert await rh.wait_end(failed) == "FAILED"
    answer = await rh.api("outputs", taskId=failed)
    got = answer["data"]["failedReason"]
    assert answer["code"] == 805 and got["node_name"] == "KSampler"
    assert got["exception_type"] == "RuntimeError" and got["node_id"] == "3"
    assert got["exception_message"] == "CUDA out of memory" and isinstance(got["traceback"], str)
    assert (await rh.api("cancel", taskId=failed))["code"] == 817
    assert await rh.wait_end(empty) == "SUCCESS"
    assert (await rh.api("outputs", taskId=empty))["data"] == []
    rh.emu.configure(run_s=30)
    canceled = await rh.run()
    assert (await rh.api("cancel", taskId=canceled))["code"] == 0
    assert (await rh.api("status", taskId=canceled))["data"] == "FAILED"
    answer = await rh.api("outputs", taskId=canceled)
    assert answer["data"]["failedReason"]["exception_type"] == "TaskCanceled"
    assert (await rh.api("cancel", taskId=canceled))["code"] == 817
    assert (await rh.api("cancel", taskId="1"))["code"] == 807


async def test_webhook_delivered_after_retry(rh: Rh, receiver: Receiver) -> None:
    receiver.answers.append(500)
    task_id = await rh.run(webhookUrl=receiver.url)
    await until(lambda: len(receiver.bodies) == 2, 5, "two webhook tries", every_s=0.01)
    assert receiver.bodies[0] == receiver.bodies[1]
    event = receiver.bodies[1]
    assert (event["event"], event["taskId"]) == ("TASK_END", task_id)
    assert isinstance(event["eventData"], str)
    assert json.loads(event["eventData"]) == await rh.api("outputs", taskId=task_id)
    attempts = [(a.attempt, a.status) for a in rh.emu.webhook_attempts]
    assert attempts == [(1, 500), (2, 200)]


async def test_webhook_duplicates_failures_and_refused_hosts(rh: Rh, receiver: Receiver) -> None:
    rh.emu.configure(webhook_duplicates=2)
    rh.emu.script_next(failed=FailedReason(node_name="VAEDecode"))
    task_id = await rh.run(WebhookUrl=receiver.url)  # the SU app document's table spelling
    await until(lambda: len(receiver.bodies) == 3, 5, "three webhook tries", every_s=0.01)
    assert {body["taskId"] for body in receiver.bodies} == {task_id}
    for event in [json.loads(body["eventData"]) for body in receiver.bodies]:
        assert event["code"] == 805 and event["data"]["failedReason"]["node_name"] == "VAEDecode"
    outside = await rh.run(webhookUrl="http://example.com/hook")
    await until(
        lambda: any(a.task_id == outside for a in rh.emu.webhook_attempts),
        5,
        "the refused host's webhook attempt",
        every_s=0.01,
    )
    refused = [a for a in rh.emu.webhook_attempts if a.task_id == outside]
    assert len(refused) == 1 and refused[0].status is None and "loopback" in str(refused[0].error)


async def test_faults(rh: Rh) -> None:
    outputs = rh.base + "/task/openapi/outputs"
    body = {"apiKey": KEY, "taskId": "1"}
    rh.emu.inject(InjectedFault.HTTP_502, path="/task/openapi/outputs", times=2)
    for _ in range(2):
        async with rh.http.post(outputs, json=body, headers=HOST) as r:
            assert (r.status, r.content_type) == (502, "text/html")
            assert "502 Bad Gateway" in await r.text()
    assert (await rh.api("outputs", taskId="1"))["code"] == 807  # the fault is used up
    rh.emu.inject(InjectedFault.HTML_200)  # any path
    async with rh.http.post(outputs, json=body, headers=HOST) as r:
        assert (r.status, r.content_type) == (200, "text/html")
    rh.emu.inject(InjectedFault.CODE, path="/task/openapi/ai-app/run", code=421, times=None)
    for _ in range(2):
        assert (await rh.api("ai-app/run", webappId=APP, nodeInfoList=[]))["code"] == 421
    rh.emu.clear_faults()
    rh.emu.inject(InjectedFault.RESET, path="/task/openapi/outputs")
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await rh.api("outputs", taskId="1")
    rh.emu.inject(InjectedFault.STALL, path="/task/openapi/outputs", stall_s=None)
    with pytest.raises(TimeoutError):
        await rh.call(outputs[len(rh.base) :], body, timeout=aiohttp.ClientTimeout(total=0.2))
    rh.emu.inject(InjectedFault.STALL, path="/task/openapi/outputs", stall_s=0.2)
    started = time.monotonic()
    assert (await rh.api("outputs", taskId="1"))["code"] == 807
    assert time.monotonic() - started >= 0.2
    fired = {"http_502": 2, "html_200": 1, "code": 2, "reset": 1, "stall": 2}
    assert rh.emu.stats.faults_fired == fired


async def test_http_controls(rh: Rh) -> None:
    control = rh.base + "/_emulator/"
    async with rh.http.post(control + "config", json={"run_s": 0.05, "concurrency": 5}) as r:
        assert (await r.json())["concurrency"] == 5 and rh.emu.knobs.run_s == 0.05
    async with rh.http.post(control + "config", json={"run_s": "slow"}) as r:
        assert r.status == 400 and rh.emu.knobs.run_s == 0.05
    fault = {"fault": "code", "code": 500, "path": "/task/openapi/status"}
    async with rh.http.post(control + "inject", json=fault) as r:
        assert r.status == 200
    assert (await rh.api("status", taskId="1"))["msg"] == "UNKNOWN_ERROR"
    outcome = {"outcome": "failed", "failedReason": {"exception_message": "boom"}}
    async with rh.http.post(control + "inject", json=outcome) as r:
        assert (await r.json())["scripted"] == 1
    task_id = await rh.run()
    assert await rh.wait_end(task_id) == "FAILED"
    async with rh.http.get(control + "stats", headers={"Host": "anything"}) as r:
        stats = await r.json()
    assert stats["requests_by_path"]["/task/openapi/ai-app/run"] == 1
    assert stats["codes_by_path"]["/task/openapi/status"] == {"500": 1, "0": 1}
    task = stats["tasks"][task_id]
    assert task["finished_wall"] > task["created_wall"] and task["outcome"] == "failed"


async def test_a_thousand_tasks_on_timers(rh: Rh) -> None:
    rh.emu.configure(concurrency=2000, queue_s=0.05, run_s=0.2, jitter_s=0.1)
    await asyncio.gather(*(rh.run() for _ in range(1000)))
    assert len(rh.emu.tasks) == 1000
    await until(
        lambda: rh.emu.book.count_by_status() == {"SUCCESS": 1000},
        20,
        "the thousand tasks to succeed",
        every_s=0.01,
    )


@pytest.mark.slow  # starts the emulator as its own process
async def test_standalone_process() -> None:
    module = "rendergate_emulators.runninghub"
    args = ["-m", module, "--port", "0", "--run-s", "0.1", "--api-key", KEY]
    pipe = asyncio.subprocess.PIPE
    process = await asyncio.create_subprocess_exec(sys.executable, *args, stdout=pipe)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        base = line.strip().rsplit(" ", 1)[-1]
        async with aiohttp.ClientSession() as http, http.get(base + "/_emulator/config") as r:
            assert (await r.json())["run_s"] == 0.1
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_each_key_is_its_own_account(rh: Rh) -> None:
    """A second key has its own slots and balance, and another key's task is unknown to it."""
    other = "o" * 32
    rh.emu.add_key(other, concurrency=1, remain_coins=0)
    theirs = {"apiKey": other, "webappId": APP, "nodeInfoList": []}
    broke = await rh.call("/task/openapi/ai-app/run", theirs)
    assert broke["code"] == 812  # its own empty balance; the first key's is full
    rh.emu.configure(hold=True)
    mine = await rh.run()
    rh.emu.account(other)[0].update({"remain_coins": 100})
    taken = await rh.call("/task/openapi/ai-app/run", theirs)
    assert taken["code"] == 0, taken
    full = await rh.call("/task/openapi/ai-app/run", theirs)
    assert full["code"] == 421  # its one slot is taken, though the first key has room
    unknown = await rh.call("/task/openapi/outputs", {"apiKey": other, "taskId": mine})
    assert unknown["code"] == 807
    account = await rh.call("/uc/openapi/accountStatus", {"apikey": other})
    assert account["data"]["currentTaskCounts"] == "1"
    assert rh.emu.submits_by_key == {other: 3, KEY: 1}
