"""The `rendergate` command against a real server process: exit codes and saved results."""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from support.images import make_png, make_reference, make_scene
from support.process import (
    RENDERGATE,
    ServeProcess,
    child_env,
    free_port,
    http_json,
    serving,
    wait_task,
)

B64_PNG = base64.b64encode(make_png()).decode()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("cli")
    with serving(root / "data", root / "serve.log") as server:
        yield server


def run(
    *args: str, server: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(RENDERGATE), *args]
    if server is not None:
        command += ["--server", server]
    env = child_env(cwd or Path("."))
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def test_submit_wait_saves_the_result(live: ServeProcess, tmp_path: Path) -> None:
    shot, ref, out = tmp_path / "shot.png", tmp_path / "ref.jpg", tmp_path / "render.png"
    shot.write_bytes(make_scene(160, 120))
    ref.write_bytes(make_reference())
    done = run(
        "submit",
        str(shot),
        "--reference",
        str(ref),
        "--type",
        "preview",
        "--angle",
        "front",
        "--wait",
        "-o",
        str(out),
        server=live.url,
    )
    assert done.returncode == 0, done.stderr
    task_id = int(done.stdout.strip())
    assert Image.open(io.BytesIO(out.read_bytes())).size == (160, 120)
    assert "saved" in done.stderr

    status = run("status", str(task_id), server=live.url)
    assert status.returncode == 0
    shown = json.loads(status.stdout)
    assert shown["status"] == "completed" and shown["angle"] == "front"

    listed = run("tasks", "--status", "completed", server=live.url)
    assert listed.returncode == 0 and str(task_id) in listed.stdout


def test_failed_task_exits_1(live: ServeProcess, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(make_png())
    done = run(
        "submit",
        str(shot),
        "--type",
        "fake",
        "--params",
        '{"fake": {"outcome": "fail", "error": "the GPU caught fire"}}',
        "--wait",
        server=live.url,
    )
    assert done.returncode == 1
    assert "the GPU caught fire" in done.stderr


def test_refused_submit_exits_2(live: ServeProcess, tmp_path: Path) -> None:
    shot = tmp_path / "notes.png"
    shot.write_text("not an image")
    done = run("submit", str(shot), server=live.url)
    assert done.returncode == 2
    assert "not an image" in done.stderr
    unknown = run("submit", str(shot), "--type", "nope", server=live.url)
    assert unknown.returncode == 2 and "known types" in unknown.stderr


def test_unknown_task_exits_4_and_unreachable_exits_3(live: ServeProcess) -> None:
    assert run("status", "12345", server=live.url).returncode == 4
    nobody = f"http://127.0.0.1:{free_port()}"
    done = run("status", "12345", server=nobody)
    assert done.returncode == 3 and "cannot reach" in done.stderr


def test_the_client_asks_this_machines_server_not_the_public_url(
    live: ServeProcess, tmp_path: Path
) -> None:
    port = live.url.rsplit(":", 1)[1]
    env = child_env(tmp_path, RENDERGATE_PORT=port, RENDERGATE_PUBLIC_URL="http://192.0.2.1")
    command = [str(RENDERGATE), "status", "12345"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 4, done.stderr  # the live server said: no such task


def test_apps_names_the_missing_setting(tmp_path: Path) -> None:
    done = run("apps", cwd=tmp_path)
    assert done.returncode == 0
    assert "preview" in done.stdout and "su_render" in done.stdout
    assert "RENDERGATE_RUNNINGHUB_API_KEY" in done.stdout.replace("\n", "")


def test_bad_settings_and_apps_are_refused_in_one_line_naming_them(tmp_path: Path) -> None:
    env = child_env(tmp_path, RENDERGATE_RUNNINGHUB_CONCURRENCY="abc")
    command = [str(RENDERGATE), "apps"]
    bad = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 2
    assert bad.stderr.startswith("invalid setting RENDERGATE_RUNNINGHUB_CONCURRENCY: ")
    apps = tmp_path / "apps.toml"
    apps.write_text('[apps.x]\nprovider = "comfyui"\noptions = { workflow_file = "gone.json" }\n')
    for args in (["apps"], ["serve", "--port", str(free_port())]):
        env = child_env(tmp_path, RENDERGATE_APPS_FILE=str(apps))
        done = subprocess.run(
            [str(RENDERGATE), *args], capture_output=True, text=True, timeout=60, env=env
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("invalid apps: app 'x': cannot read its workflow_file ")
        assert "Traceback" not in done.stderr + done.stdout


def test_config_file_sets_the_port(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "rendergate.toml"
    config.write_text(f'port = {port}\ndata_dir = "{tmp_path / "data"}"\n')
    process = subprocess.Popen(
        [str(RENDERGATE), "serve", "--config", str(config)],
        env=child_env(tmp_path / "ignored"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = http_json("GET", f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200 and body["data"]["database"] == "ok"
    finally:
        process.terminate()
        process.wait(15)


def test_no_worker_on_sqlite_is_refused(tmp_path: Path) -> None:
    done = run("serve", "--no-worker", "--port", str(free_port()), cwd=tmp_path)
    assert done.returncode == 2
    assert "needs PostgreSQL" in done.stderr


def test_a_second_process_on_the_same_sqlite_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data, tmp_path / "first.log") as first:
        body = {"type": "fake", "image_base64": B64_PNG, "params": {"fake": {"polls": 10**6}}}
        status, created = http_json("POST", f"{first.url}/tasks", body)
        assert status == 201, created
        task_id = created["data"]["task_id"]
        wait_task(first.url, task_id, {"processing"})
        env = child_env(data)
        second = subprocess.run(
            [str(RENDERGATE), "serve", "--port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert second.returncode == 2, second.stderr
        assert f"another rendergate process (pid {first.process.pid})" in second.stderr
        status, got = http_json("GET", f"{first.url}/tasks/{task_id}?include_base64=false")
        assert (got["data"]["status"], got["data"]["attempts"]) == ("processing", 1)
        assert http_json("POST", f"{first.url}/tasks/{task_id}/cancel")[0] == 200


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("serve", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["rendergate.lock"]  # no database: no worker
