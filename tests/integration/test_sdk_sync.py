"""The SDK's blocking Client from plain tests, against `rendergate serve` as a child process
(so nothing here blocks a loop a server runs on), and the SDK snippets of the README and
docs/sdk.md run as a user would run them."""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from standardwebhooks.webhooks import Webhook

from rendergate.client import Client, Conflict, InvalidRequest, NotFound, Task, TaskStatus
from support.images import make_png
from support.process import ServeProcess, child_env, serving

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
HANG = {"fake": {"outcome": "hang"}}
FAKE = {"fake": {"polls": 1}}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("sdk")
    with serving(root / "data", root / "serve.log") as server:
        yield server


def test_the_blocking_client_makes_every_call(live: ServeProcess, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(make_png())
    with Client(live.url) as client:
        task = client.create(shot, type="fake", params={"fake": {"polls": 3}})
        assert task.status is TaskStatus.SUBMITTED
        here, seen = threading.current_thread(), []

        def progress(state: Task) -> None:
            assert threading.current_thread() is here  # so it may call the client again:
            seen.append((state.progress, client.get(state.task_id).task_id))

        done = client.wait(task.task_id, timeout=30, on_progress=progress)
        assert done.status is TaskStatus.COMPLETED and seen[-1] == (100, task.task_id)
        assert any(0 < p < 100 for p, _ in seen), seen
        saved = client.download(task.task_id, tmp_path / "out.png")
        assert saved.read_bytes() == client.download(task.task_id)
        again = client.rerun(task.task_id, params={"fake": {"polls": 1}}, seed=4)
        assert (again.rerun_of, again.seed, again.type) == (task.task_id, 4, "fake")
        assert client.wait(again.task_id, timeout=30).status is TaskStatus.COMPLETED
        events = list(client.events(task.task_id))
        assert events[-1].event == "task.completed" and events[-1].task.progress == 100
        first = next(iter(client.events(task.task_id)))  # left unfinished: closed for us
        assert first.event == "task.submitted"
        assert client.deliveries(task.task_id) == []
        assert {"preview", "fake"} <= {app.name for app in client.apps()}
        hanging = [client.create(make_png(), type="fake", params=HANG) for _ in range(3)]
        newest = [t.task_id for t in itertools.islice(client.list(limit=2), 3)]
        assert newest == [t.task_id for t in hanging[::-1]]
        with pytest.raises(TimeoutError, match="did not finish"):
            client.wait(hanging[0].task_id, timeout=0.3)
        for each in hanging:
            assert client.cancel(each.task_id).status is TaskStatus.CANCELED
        with pytest.raises(Conflict, match="already canceled"):
            client.cancel(hanging[0].task_id)
        with pytest.raises(NotFound, match="task 12345 not found"):
            client.get(12345)
    with pytest.raises(RuntimeError, match="closed"):
        client.get(task.task_id)


def test_the_blocking_client_makes_the_preset_calls(live: ServeProcess) -> None:
    reference = make_png(40, 30, (200, 120, 40))
    with Client(live.url) as client:
        made = client.create_preset(
            "sync-warm", type="fake", params=FAKE, reference=reference, description="warm"
        )
        assert (made.name, made.version, made.type, made.reference) == (
            "sync-warm",
            1,
            "fake",
            True,
        )
        assert client.preset("sync-warm") == made
        assert client.preset_reference("sync-warm") == reference
        assert "sync-warm" in {p.name for p in client.presets()}
        edited = client.edit_preset("sync-warm", type="fake", description="warmer")
        assert (edited.version, edited.description, edited.reference) == (2, "warmer", True)
        task = client.create(make_png(), preset="sync-warm")
        assert (task.type, task.preset, task.preset_version) == ("fake", "sync-warm", 2)
        assert client.wait(task.task_id, timeout=30).status is TaskStatus.COMPLETED
        chained = client.create(image_task_id=task.task_id, type="fake", params=FAKE)
        assert chained.parent_task_id == task.task_id
        client.delete_preset("sync-warm")
        with pytest.raises(NotFound):
            client.preset("sync-warm")


def test_the_blocking_client_makes_the_studio_calls(live: ServeProcess, tmp_path: Path) -> None:
    shot = make_png(320, 240)
    with Client(live.url) as client:
        batch = client.create_batch([shot], type="fake", variations=2, name="Sync studio")
        done = client.wait_batch(batch.batch_id, timeout=60)
        first, pick = done.tasks
        assert client.keep(pick.task_id).kept and client.get(pick.task_id).kept
        assert not client.unkeep(first.task_id).kept
        (found,) = client.list_batches(q="SYNC STUDIO", members=False)
        assert (found.batch_id, found.tasks, found.cover_task_id) == (
            batch.batch_id,
            (),
            pick.task_id,
        )
        steps = client.upscale_batch(batch.batch_id, type="fake_upscale")
        assert steps.made == 1 and steps.steps[0].parent_task_id == pick.task_id
        assert client.wait_batch(batch.batch_id, timeout=60).counts["completed"] == 3
        names = [p.name for p in client.download_batch(batch.batch_id, tmp_path, kept=True)]
        assert sorted(names) == ["view01_v2.png", "view01_v2_fake_upscale.png"]

        share = client.create_share(batch.batch_id, expires_in_days=1)
        assert share.url == f"{live.url}/s/{share.token}" and share.state == "active"
        assert opened(f"{share.url}/batch") == 200
        assert [s.url for s in client.shares(batch.batch_id)] == [None]
        assert client.revoke_share(batch.batch_id, share.share_id).state == "revoked"
        assert opened(f"{share.url}/batch") == 404

        assert client.download_input(first.task_id) == shot
        thumbnail = client.download_thumbnail(first.task_id, tmp_path, width=160, role="image")
        assert Image.open(thumbnail).size == (160, 120)
        rerun = client.rerun(first.task_id, seed=5)
        assert [t.task_id for t in client.list(rerun_of=first.task_id)] == [rerun.task_id]

        quote = client.quote(type="fake_priced", renders=2)
        assert (quote.per_render, quote.total, quote.currency) == (
            Decimal("2.00"),
            Decimal("4.00"),
            "CNY",
        )
        before = client.account()
        client.create(shot, type="fake_priced", params=FAKE)
        after = client.account()
        assert after.charged - before.charged == Decimal("2.00")
        assert after.renders - before.renders == 1 and after.prices["fake_priced"] == Decimal(
            "2.00"
        )
        with pytest.raises(InvalidRequest, match="width must be"):
            client.download_thumbnail(first.task_id, width=100)
        hanging = client.create(shot, type="fake", params=HANG)
        with pytest.raises(Conflict, match="completed"):
            client.keep(hanging.task_id)
        client.cancel(hanging.task_id)


def opened(url: str) -> int:
    """The status a GET of `url` answers, as anyone holding the link would get it."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


async def test_the_blocking_client_works_inside_a_running_loop(live: ServeProcess) -> None:
    with Client(live.url) as client:  # its own loop, in its own thread
        assert "preview" in {app.name for app in client.apps()}


def sdk_snippets() -> list[str]:
    """The README's SDK section, then the SDK's own page."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Python SDK\n", 1)[1].split("\n## ", 1)[0]
    page = (ROOT / "docs" / "sdk.md").read_text()
    return re.findall(r"```python\n(.*?)```", section + page, flags=re.DOTALL)


def run_snippet(code: str, server: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = child_env(cwd / "data", RENDERGATE_SERVER=server)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


def test_the_documented_sdk_snippets_work(
    live: ServeProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    first, errors, together, variations, presets, batches, picks, webhook = sdk_snippets()
    done = run_snippet(first, live.url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "completed 100"
    assert Image.open(tmp_path / "render.png").size == (800, 600)
    refused = run_snippet(errors, live.url, tmp_path)
    assert refused.returncode == 0, refused.stderr
    said = refused.stdout.splitlines()
    assert said[0] == "404 task 12345 not found" and "unknown type 'no_such_app'" in said[1]
    both = run_snippet(together, live.url, tmp_path)
    assert both.returncode == 0, both.stderr
    for strength in ("0.3", "0.9"):
        assert Image.open(tmp_path / f"render-{strength}.png").size == (800, 600)
    assert both.stdout.count(" task.completed 100") == 2
    varied = run_snippet(variations, live.url, tmp_path)
    assert varied.returncode == 0, varied.stderr
    assert varied.stdout.splitlines() == ["completed True True", "completed True False"]
    renders = sorted(tmp_path.glob("variation-*.png"))
    assert [Image.open(render).size for render in renders] == [(800, 600)] * 2
    looked = run_snippet(presets, live.url, tmp_path)
    assert looked.returncode == 0, looked.stderr
    assert looked.stdout.splitlines() == ["completed facade-dusk 1 0.9", "completed True"]
    made = run_snippet(batches, live.url, tmp_path)
    assert made.returncode == 0, made.stderr
    said = made.stdout.splitlines()
    assert said[-5:] == ["completed 4 4"] + [
        f"renders/view0{v}_{angle}_v{k}.png"
        for v, angle in ((1, "front"), (2, "side"))
        for k in (1, 2)
    ]
    assert {line for line in said if line.startswith("view")} >= {
        f"view {v} variation {k} completed 100" for v in (0, 1) for k in (0, 1)
    }
    chosen = run_snippet(picks, live.url, tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.splitlines() == [
        "True",
        "1 True",
        "picks/view01_front_v2.png",
        "picks/view01_front_v2_upscale.png",
        "active True",
        "4 CNY None",
    ]
    assert Image.open(tmp_path / "picks" / "view01_front_v2_upscale.png").size == (1600, 1200)
    secret = "whsec_" + base64.b64encode(b"the README's receiver, 32 bytes!").decode()
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    namespace: dict[str, Any] = {}
    exec(compile(webhook, "docs/sdk.md", "exec"), namespace)
    with Client(live.url) as client:
        task = next(iter(client.list(status="completed")))
    body, headers = signed(secret, {"type": "task.completed", "data": dict(task.raw)})
    assert namespace["receive"](body, headers) == 204
    assert namespace["receive"](body.replace(b"completed", b"failed"), headers) == 400


def signed(secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A webhook as rendergate signs one (Standard Webhooks)."""
    now = datetime.now(UTC)
    payload["timestamp"] = now.isoformat()
    body = json.dumps(payload, separators=(",", ":"))
    signature = Webhook(secret).sign(msg_id="msg_readme", timestamp=now, data=body)
    headers = {
        "webhook-id": "msg_readme",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return body.encode(), headers
