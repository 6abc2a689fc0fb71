"""The `rendergate` command against a real server process: exit codes and saved results."""

from __future__ import annotations

import base64
import io
import json
import shlex
import shutil
import socket
import subprocess
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
    wait_answering,
    wait_task,
)
from support.process import run_cli as run

B64_PNG = base64.b64encode(make_png()).decode()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("cli")
    with serving(root / "data", root / "serve.log") as server:
        yield server


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


def test_apps_asks_the_server_and_names_the_missing_setting(live: ServeProcess) -> None:
    done = run("apps", server=live.url)
    assert done.returncode == 0, done.stderr
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
    for args in (["serve", "--port", str(free_port())], ["worker"]):
        env = child_env(tmp_path, RENDERGATE_APPS_FILE=str(apps))
        done = subprocess.run(
            [str(RENDERGATE), *args], capture_output=True, text=True, timeout=60, env=env
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("invalid apps: app 'x': cannot read its workflow_file ")
        assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        (
            "RENDERGATE_COMFYUI_URLS",
            "gpu1:8188",
            "'gpu1:8188' is not an http(s) URL with a host, such as http://gpu1:8188",
        ),
        (
            "RENDERGATE_APPS_FILE",
            "/nowhere/apps.toml",
            "/nowhere/apps.toml does not exist or is not a file",
        ),
        ("RENDERGATE_LOG_LEVEL", "loud", "Input should be 'debug', 'info', 'warning' or 'error'"),
        # numbers past what a date or a byte count can hold: once a traceback at start
        ("RENDERGATE_RETENTION_DAYS", "1e308", "must be at most 36500 days (a hundred years)"),
        ("RENDERGATE_WORKER_DEAD_AFTER_S", "inf", "must be a finite number"),
        ("RENDERGATE_RUNNINGHUB_TIMEOUT_S", "1e308", "must be at most 315360000 s (ten years)"),
        ("RENDERGATE_MAX_UPLOAD_MB", "1e308", "must be at most 1048576 MB (a terabyte)"),
    ],
)
def test_a_bad_setting_stops_the_start_in_one_line(
    tmp_path: Path, variable: str, value: str, says: str
) -> None:
    env = child_env(tmp_path, **{variable: value})
    command = [str(RENDERGATE), "serve", "--port", str(free_port())]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"invalid setting {variable}: {says}\n"


def test_malformed_toml_is_named_with_its_line(tmp_path: Path) -> None:
    config, apps = tmp_path / "rendergate.toml", tmp_path / "apps.toml"
    config.write_text("port = [\n")
    apps.write_text("[apps.x\n")
    serve = [str(RENDERGATE), "serve", "--port", str(free_port())]
    bad_config = subprocess.run(
        [*serve, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(tmp_path),
    )
    assert bad_config.returncode == 2
    assert bad_config.stderr.startswith(
        f"invalid settings: the config file {config} is not valid TOML: "
    )
    bad_apps = subprocess.run(
        serve,
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(tmp_path, RENDERGATE_APPS_FILE=str(apps)),
    )
    assert bad_apps.returncode == 2
    assert bad_apps.stderr.startswith(
        f"invalid apps: RENDERGATE_APPS_FILE {apps} is not valid TOML: "
    )
    assert "(at line 1, column 8)" in bad_apps.stderr


def test_cancel_and_download(live: ServeProcess, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(make_png())
    hanging = run(
        "submit",
        str(shot),
        "--type",
        "fake",
        "--params",
        '{"fake": {"outcome": "hang"}}',
        server=live.url,
    )
    task_id = hanging.stdout.strip()
    canceled = run("cancel", task_id, server=live.url)
    assert canceled.returncode == 0 and f"task {task_id} canceled" in canceled.stderr
    again = run("cancel", task_id, server=live.url)
    assert again.returncode == 2 and "already canceled" in again.stderr
    made = run("submit", str(shot), "--type", "fake", "--wait", server=live.url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    done_id = made.stdout.strip()
    assert (tmp_path / f"shot.{done_id}.png").is_file()  # saved here, where we ran it
    here = tmp_path / "here"
    here.mkdir()
    got = run("download", done_id, server=live.url, cwd=here)
    assert got.returncode == 0, got.stderr
    assert (here / f"{done_id}-0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run("download", "12345", server=live.url).returncode == 4


def test_rerun_with_other_params_and_seed_waits_and_saves(
    live: ServeProcess, tmp_path: Path
) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(make_scene(96, 72))
    args = ("--params", '{"strength": 0.4, "smoothing": 0.2}')
    made = run("submit", str(shot), *args, "--wait", server=live.url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    original = made.stdout.strip()
    changes = ("--param", "strength=0.9", "--param", "smoothing=null", "--seed", "12")
    again = run("rerun", original, *changes, "--wait", server=live.url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    task_id = again.stdout.strip()
    assert f"task {task_id} submitted: task {original} again, seed 12" in again.stderr
    assert (tmp_path / f"{original}.{task_id}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shown = json.loads(run("status", task_id, server=live.url).stdout)
    assert (shown["rerun_of"], shown["seed"]) == (int(original), 12)
    assert shown["params"] == {"strength": 0.9, "smoothing": 0.5}  # null: the app's default
    refused = run("rerun", original, "--seed", "-1", server=live.url)
    assert refused.returncode == 2 and "--seed must be an integer or random" in refused.stderr
    too_big = run("rerun", original, "--seed", str(2**53), server=live.url)
    assert too_big.returncode == 2 and "seed must be an integer from 0 to" in too_big.stderr
    assert run("rerun", "12345", server=live.url).returncode == 4


def test_presets_are_made_listed_shown_used_and_deleted(live: ServeProcess, tmp_path: Path) -> None:
    shot, ref = tmp_path / "shot.png", tmp_path / "ref.jpg"
    shot.write_bytes(make_scene(96, 72))
    ref.write_bytes(make_reference())
    look = ("--type", "preview", "--param", "strength=0.9", "--reference", str(ref))
    named = ("--description", "blue", "--label", "Blue hour")
    made = run("presets", "create", "cli-dusk", *look, *named, server=live.url)
    assert made.returncode == 0, made.stderr
    assert "preset cli-dusk version 1 (preview)" in made.stderr
    again = run("presets", "create", "cli-dusk", "--type", "preview", server=live.url)
    assert again.returncode == 2 and "refused (409)" in again.stderr
    listed = run("presets", "list", server=live.url)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("│") for line in listed.stdout.splitlines() if "cli-dusk" in line]
    cells = [cell.strip() for cell in rows[0][1:-1]]
    assert cells == ["cli-dusk", "Blue hour", "preview", "1", "no", "blue"]
    shown = run("presets", "show", "cli-dusk", server=live.url)
    preset = json.loads(shown.stdout)
    assert (preset["params"]["strength"], preset["reference"], preset["built_in"]) == (
        0.9,
        True,
        False,
    )
    assert preset["label"] == "Blue hour"
    submitted = run(
        "submit", str(shot), "--preset", "cli-dusk", "--wait", server=live.url, cwd=tmp_path
    )
    assert submitted.returncode == 0, submitted.stderr
    task = json.loads(run("status", submitted.stdout.strip(), server=live.url).stdout)
    assert (task["type"], task["preset"], task["preset_version"]) == ("preview", "cli-dusk", 1)
    assert task["params"]["strength"] == 0.9
    assert run("presets", "delete", "cli-dusk", server=live.url).returncode == 0
    for gone in (("show", "cli-dusk"), ("delete", "cli-dusk")):
        assert run("presets", *gone, server=live.url).returncode == 4
    bad = run("presets", "create", "x", "--param", "strength", server=live.url)
    assert bad.returncode == 2 and "--param takes key=value" in bad.stderr
    unknown = run("submit", str(shot), "--preset", "no-such", server=live.url)
    assert unknown.returncode == 2 and "preset" in unknown.stderr


def test_the_documented_presets_example_runs(live: ServeProcess, tmp_path: Path) -> None:
    page = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    block = page.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    shutil.copytree(Path(__file__).parents[2] / "examples", tmp_path / "examples")
    for line in block.splitlines():
        command, *args = shlex.split(line)
        assert command == "rendergate"
        done = run(*args, server=live.url, cwd=tmp_path)
        assert done.returncode == 0, (line, done.stderr)
    assert Image.open(tmp_path / "dusk.png").format == "PNG"


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
        body = wait_answering(process, f"http://127.0.0.1:{port}/healthz", 30)
        assert body["data"]["database"] == "ok"
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


def test_a_variable_that_names_no_setting_is_reported(tmp_path: Path) -> None:
    env = child_env(tmp_path, RENDERGATE_RETENTON_DAYS="3")  # a typo of RETENTION
    command = [str(RENDERGATE), "prune", "--dry-run"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "ignored: RENDERGATE_RETENTON_DAYS is not a setting" in done.stderr
    assert "no retention is set" in done.stderr


def test_submit_then_runs_steps_on_the_result(live: ServeProcess, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(make_scene(64, 48))
    made = run("submit", str(shot), "--then", "upscale", "--then", "upscale", server=live.url)
    assert made.returncode == 0, made.stderr
    status, body = http_json("GET", f"{live.url}/tasks/{int(made.stdout)}?include_base64=false")
    assert (
        status == 200 and body["data"]["then"] == [{"type": "upscale", "params": {"scale": 2}}] * 2
    )
