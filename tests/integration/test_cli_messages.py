"""What the `rendergate` client commands say when something goes wrong, against a real
server process: one line each, with the documented exit code and what to do next."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.images import make_png
from support.process import (
    RENDERGATE,
    ServeProcess,
    child_env,
    create_api_key,
    free_port,
    http_json,
    run_cli,
    serving,
    wait_task,
)

pytestmark = pytest.mark.slow
HANG = json.dumps({"fake": {"outcome": "hang"}})


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("cli-messages")
    with serving(root / "data", root / "serve.log") as server:
        yield server


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    path = tmp_path / "shot.png"
    path.write_bytes(make_png())
    return path


def test_a_result_that_cannot_be_saved_is_one_line_exit_5_naming_the_task(
    live: ServeProcess, shot: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing" / "x.png"
    args = ("submit", str(shot), "--type", "fake", "--wait", "-o", str(missing))
    made = run_cli(*args, server=live.url)
    assert made.returncode == 5, made.stderr
    task_id = made.stdout.strip()
    assert wait_task(live.url, int(task_id), {"completed"})["status"] == "completed"
    assert made.stderr.splitlines()[-1] == (
        f"task {task_id} completed, but cannot write {missing}: No such file or directory; "
        f"`rendergate download {task_id} -o FILE` saves its result"
    )
    assert "Traceback" not in made.stderr
    got = run_cli("download", task_id, "-o", str(missing), server=live.url)
    assert got.returncode == 5
    assert got.stderr == f"cannot write {missing}: No such file or directory\n"
    saved = tmp_path / "x.png"
    again = run_cli("download", task_id, "-o", str(saved), server=live.url)
    assert again.returncode == 0 and saved.read_bytes()[:4] == b"\x89PNG"


def test_an_index_past_the_results_says_how_many_there_are(live: ServeProcess, shot: Path) -> None:
    made = run_cli("submit", str(shot), "--type", "fake", server=live.url)
    task_id = made.stdout.strip()
    wait_task(live.url, int(task_id), {"completed"})
    got = run_cli("download", task_id, "--index", "3", server=live.url)
    assert got.returncode == 4
    assert got.stderr == f"404 task {task_id} has 1 result (index 0), none at index 3\n"


def test_a_server_that_is_not_there_is_named_with_how_to_start_one() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    done = run_cli("status", "12345", server=nobody)
    assert done.returncode == 3
    assert done.stderr == (
        f"cannot reach {nobody} (Connection refused): is a rendergate server running there? "
        "`rendergate serve` (or `make run` in a checkout) starts one; --server or "
        "RENDERGATE_SERVER points at another\n"
    )


def test_a_401_says_to_set_rendergate_api_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = create_api_key(data, "cli")  # a key exists: the server wants one
    with serving(data, tmp_path / "serve.log") as server:
        without = run_cli("status", "12345", server=server.url)
        wrong = run_cli(
            "status",
            "12345",
            server=server.url,
            env=child_env(tmp_path, RENDERGATE_API_KEY="rg_notakey"),
        )
        right = run_cli(
            "status", "12345", server=server.url, env=child_env(tmp_path, RENDERGATE_API_KEY=key)
        )
    assert without.returncode == 2
    assert without.stderr == (
        "401 this server needs an API key: set RENDERGATE_API_KEY to one "
        "(`rendergate keys create NAME` where the server runs makes one)\n"
    )
    assert wrong.returncode == 2
    assert wrong.stderr == (
        "401 the server refused the key in RENDERGATE_API_KEY: the API key is not valid, "
        "or was revoked\n"
    )
    assert right.returncode == 4, right.stderr  # let in: no such task


def test_ctrl_c_while_waiting_leaves_the_task_running_and_says_how_to_follow_it(
    live: ServeProcess, shot: Path, tmp_path: Path
) -> None:
    # fake_patient: the task must outlive a slow start on a loaded machine (a deadline of
    # 30 s once ran out before the test's SIGINT, and the CLI rightly said "failed")
    command = [str(RENDERGATE), "submit", str(shot), "--type", "fake_patient", "--params", HANG]
    waiting = subprocess.Popen(
        [*command, "--wait", "--server", live.url],
        env=child_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stdout is not None
        task_id = waiting.stdout.readline().strip()  # printed once the task is made
        assert re.fullmatch(r"\d+", task_id), task_id
        wait_task(live.url, int(task_id), {"processing"})  # the CLI follows it now
        # the kernel gives a process's SIGINT to any thread that takes it, and a main thread
        # blocked on another's result never hears one that landed elsewhere (it hung once)
        assert threads_taking(waiting.pid, signal.SIGINT) in ([waiting.pid], None)
        waiting.send_signal(signal.SIGINT)
        _, stderr = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait(10)
    assert waiting.returncode == 130, stderr
    assert stderr.splitlines()[-1] == (
        f"stopped waiting; task {task_id} goes on at the server: `rendergate status {task_id}` "
        f"shows it, `rendergate download {task_id}` saves its result once it completes, "
        f"`rendergate cancel {task_id}` stops it"
    )
    assert "Traceback" not in stderr
    status, body = http_json("GET", f"{live.url}/tasks/{task_id}?include_base64=false")
    assert (status, body["data"]["status"]) == (200, "processing")
    assert http_json("POST", f"{live.url}/tasks/{task_id}/cancel")[0] == 200


def threads_taking(pid: int, signum: int) -> list[int] | None:
    """The threads of `pid` that do not block `signum`, from /proc (None without it)."""
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():
        return None
    taking = []
    for thread in tasks.iterdir():
        status = (thread / "status").read_text().splitlines()
        blocked = int(next(line for line in status if line.startswith("SigBlk:")).split()[1], 16)
        if not blocked & 1 << (signum - 1):
            taking.append(int(thread.name))
    return taking
