"""rendergate against the Aliyun 智作工坊 emulator, whose gateway checks every signature: the
aliyun_render app end to end, failures, lost tasks, a wrong secret, `successed`, progress
and queue, cancel. (The emulator's own tests, the `speedpix` SDK against it among them, are
in emulators/tests/.)"""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import pytest
import structlog
from PIL import Image

from rendergate.config.settings import Settings
from rendergate.providers.aliyun_signing import encode_body, sign_request
from rendergate_emulators.aliyun import CAN_NOT_FIND_TASK, CONTENT_SAFE, AliyunEmulator
from support.aliyun import ali_settings, submit
from support.emulators import ALIYUN_KEY as KEY
from support.emulators import ALIYUN_SECRET as SECRET
from support.emulators import Hands
from support.server import serve


async def signed_post(http: aiohttp.ClientSession, base: str, path: str, payload: Any) -> Any:
    body = encode_body(payload)
    headers = sign_request(app_key=KEY, app_secret=SECRET, path=path, body=body)
    async with http.post(base + path, data=body, headers=headers) as response:
        return await response.json()


async def test_aliyun_render_end_to_end(settings: Settings, aliyun: AliyunEmulator) -> None:
    configured = ali_settings(settings, aliyun, aliyun_resource_config_id="pool-a,default")
    async with serve(configured) as server:
        task_id = await submit(server)
        task = await server.wait_finished(task_id)
        assert task["status"] == "completed", task
        [upstream] = aliyun.tasks.values()
        assert upstream.workflow_id == "su_render" and upstream.alias_id == "main"
        assert upstream.resource_config_id == "pool-a,default"
        assert set(upstream.inputs) == {"image", "reference"}
        assert all(url.startswith(f"{aliyun.base_url}/oss/") for url in upstream.inputs.values())
        assert aliyun.stats.uploads == 2 and aliyun.stats.refusals == {}
        # the custom `poster` field and `images` name the same file: one output, not two
        [output] = task["outputs"]
        assert output["node_id"] == "poster" and output["file_type"] == "png"
        assert task["cost"]["provider"] == {
            "taskDuration": 300,
            "taskBeginTime": upstream.begin_ms,
            "taskEndTime": upstream.end_ms,
        }
        async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
            assert response.status == 200
            rendered = Image.open(io.BytesIO(await response.read()))
        assert rendered.size == (96, 64)  # made from our screenshot, the `image` input


async def test_a_content_safety_failure_reads_plainly(
    settings: Settings, aliyun: AliyunEmulator
) -> None:
    aliyun.script_next(fail=CONTENT_SAFE)
    async with serve(ali_settings(settings, aliyun)) as server:
        task = await server.wait_finished(await submit(server))
    assert task["status"] == "failed"
    assert task["error_message"] == (
        "the inputs were refused: Aliyun's content safety check refused the input or result "
        "(P_Request_ContentSafe)"
    )


async def test_a_task_aliyun_lost_is_submitted_again(
    settings: Settings, stepped: AliyunEmulator, hands: Hands
) -> None:
    async with serve(ali_settings(settings, stepped)) as server:
        task_id = await submit(server)
        await server.wait_for(task_id, lambda t: t["status"] == "processing")
        [first] = stepped.tasks  # running, until the clock moves
        stepped.forget()  # Aliyun answers B_COMPUTING_CanNotFindTask from now on
        await server.wait_for(task_id, lambda _: len(stepped.tasks) == 1)  # submitted again
        hands.advance(10)
        task = await server.wait_finished(task_id)
    assert task["status"] == "completed" and task["attempts"] == 2, task
    assert stepped.stats.service_codes[CAN_NOT_FIND_TASK] >= 1
    assert list(stepped.tasks) != [first] and len(stepped.tasks) == 1


async def test_a_wrong_secret_fails_with_a_config_message_that_keeps_secrets(
    settings: Settings, aliyun: AliyunEmulator
) -> None:
    wrong = "WRONG-" + SECRET[6:]
    with structlog.testing.capture_logs() as logs:
        async with serve(ali_settings(settings, aliyun, aliyun_app_secret=wrong)) as server:
            task = await server.wait_finished(await submit(server))
    assert task["status"] == "failed"
    message = task["error_message"]
    assert message == (
        "aliyun failed: Aliyun's API gateway refused the request signature: check "
        "RENDERGATE_ALIYUN_APP_SECRET and that it belongs to RENDERGATE_ALIYUN_APP_KEY"
    )
    assert KEY not in message and wrong not in message and SECRET not in message
    assert aliyun.stats.refusals["Invalid Signature"] >= 1 and aliyun.tasks == {}
    [refused, *_] = [e for e in logs if e["event"] == "Aliyun's API gateway refused a call"]
    assert refused["request_id"] and refused["http_status"] == 400
    assert refused["gateway_message"].startswith("Invalid Signature, Server StringToSign:`POST#")
    assert all(KEY not in str(e) and wrong not in str(e) for e in logs)


async def test_successed_is_read_as_success(settings: Settings, aliyun: AliyunEmulator) -> None:
    aliyun.configure(successed=True)
    async with serve(ali_settings(settings, aliyun)) as server:
        task = await server.wait_finished(await submit(server))
        assert task["status"] == "completed", task
        [upstream] = aliyun.tasks
        progress = await signed_post(
            server.http, aliyun.base_url or "", "/scc/comfy_get_progress", {"taskId": upstream}
        )
    assert progress["status"] == 10 and progress["data"]["status"] == "successed"


@pytest.mark.slow  # waits out Aliyun's phases
async def test_queue_position_and_progress_move_forward(
    settings: Settings, stepped: AliyunEmulator, hands: Hands
) -> None:
    stepped.configure(queue_ahead=3, queue_step_s=0.5)  # binary-exact steps
    async with serve(ali_settings(settings, stepped)) as server:
        task_id = await submit(server)
        await server.wait_for(task_id, lambda _: len(stepped.tasks) == 1)  # submitted upstream
        task = await server.wait_for(task_id, lambda t: t["queue_position"] == 3)  # Aliyun's
        positions = [task["queue_position"]]
        for _ in range(2):  # each step clears one task ahead of ours
            hands.advance(0.5)
            task = await server.wait_for(task_id, lambda t: t["queue_position"] < positions[-1])
            positions.append(task["queue_position"])
        hands.advance(0.5)  # now it runs
        task = await server.wait_for(task_id, lambda t: t["queue_position"] is None)
        progress = [task["progress"]]
        for _ in range(2):
            hands.advance(0.6)
            task = await server.wait_for(task_id, lambda t: t["progress"] > progress[-1])
            progress.append(task["progress"])
        hands.advance(1.0)
        task = await server.wait_finished(task_id)
    assert task["status"] == "completed", task
    assert positions == [3, 2, 1]
    assert progress == sorted(set(progress)) and all(5 < p < 96 for p in progress[1:]), progress


async def test_cancel_stops_tracking_and_says_aliyun_may_still_run_it(
    settings: Settings, aliyun: AliyunEmulator
) -> None:
    aliyun.configure(run_s=30)
    async with serve(ali_settings(settings, aliyun)) as server:
        task_id = await submit(server)
        await server.wait_for(task_id, lambda t: t["status"] == "processing")
        with structlog.testing.capture_logs() as logs:
            async with server.http.post(f"{server.url}/tasks/{task_id}/cancel") as response:
                assert response.status == 200
                canceled = (await response.json())["data"]
        assert canceled["status"] == "canceled"
        assert canceled["error_message"] == (
            "canceled here; aliyun cannot cancel, so it may still run the job"
        )
        assert (await server.get_task(task_id))["status"] == "canceled"
        [upstream] = aliyun.snapshot()["tasks"].values()
        assert upstream["status"] == "running"  # Aliyun has no cancel: it goes on
    said = [e["event"] for e in logs if "may still run" in e["event"]]
    assert said and "aliyun" in said[0].lower(), logs  # the core says it now, by name
