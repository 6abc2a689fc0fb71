"""Runs `rendergate serve` as a real child process, for restart and CLI tests."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from support.waiting import until_sync

RENDERGATE = Path(sys.executable).with_name("rendergate")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERGATE_")}
    env.update(
        RENDERGATE_DATA_DIR=str(data_dir),
        RENDERGATE_APPS_FILE=str(Path(__file__).with_name("apps.toml")),
        RENDERGATE_LOG_LEVEL="warning",
        RENDERGATE_OPEN="true",  # no key needed until a test makes one
    )
    env.update(extra)
    return env


def run_cli(
    *args: str,
    server: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`rendergate ARGS [--server SERVER]` run to its end, in `cwd`; `env` defaults to
    child_env with the data dir in `cwd`."""
    command = [str(RENDERGATE), *args]
    if server is not None:
        command += ["--server", server]
    environment = env if env is not None else child_env(cwd or Path("."))
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=environment, cwd=cwd
    )


def rendergate_keys(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`rendergate keys ARGS` on `data_dir`."""
    return subprocess.run(
        [str(RENDERGATE), "keys", *args],
        env=child_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )


def create_api_key(data_dir: Path, name: str) -> str:
    """The key `rendergate keys create NAME` prints. Call it in a thread while the server
    under test runs on this event loop: a write of the server's own that the loop could not
    finish would hold SQLite's lock while the command waits for it."""
    done = rendergate_keys(data_dir, "create", name)
    assert done.returncode == 0, done.stderr
    token = re.search(r"API key:\s+(\S+)", done.stdout)
    assert token is not None, done.stdout
    return token[1]


def http_json(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def http_answer(method: str, url: str) -> tuple[int, Any] | None:
    """`http_json`'s answer, or None while nothing answers at the URL."""
    try:
        return http_json(method, url)
    except OSError:
        return None


def wait_answering(
    process: subprocess.Popen[Any], url: str, timeout_s: float, log: Path | None = None
) -> Any:
    """The body of the first 200 to GET `url` from a process starting up, once that process
    is the one listening there; fails at once if the process exits first (showing `log`).
    A port from free_port() is free only until someone binds it: another test's server
    that took it first answered for ours (a 401 from a server with keys, in a fresh-clone
    run), while ours failed to bind it."""
    port = urllib.parse.urlsplit(url).port

    def answered() -> Any:
        if process.poll() is not None:
            told = log.read_text(errors="replace") if log is not None else ""
            raise AssertionError(f"exited with {process.returncode} before {url} answered {told}")
        if port is not None and not listens_on(process.pid, port):
            return None
        answer = http_answer("GET", url)
        return answer if answer is not None and answer[0] == 200 else None

    return until_sync(answered, timeout_s, f"a 200 from {url}")[1]


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on 127.0.0.1:`port` (Linux's /proc:
    the listening socket's inode among the process's open files); True where there is no
    /proc to ask."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not all(table.exists() for table in tables):
        return True
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            held.add(os.readlink(fd))
    for table in tables:
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            listening = state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
            if listening and f"socket:[{inode}]" in held:
                return True
    return False


class ServeProcess:
    def __init__(self, data_dir: Path, port: int, log: Path, **env: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [str(RENDERGATE), "serve", "--port", str(port)],
            env=child_env(data_dir, **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_answering(self.process, f"{self.url}/healthz", 30.0)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, as in a crash or power cut."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@contextlib.contextmanager
def serving(
    data_dir: Path, log: Path, *, port: int | None = None, **env: str
) -> Iterator[ServeProcess]:
    server = ServeProcess(data_dir, port or free_port(), log, **env)
    try:
        yield server
    finally:
        server.stop()


def wait_task(url: str, task_id: int, statuses: set[str], timeout_s: float = 30.0) -> Any:
    last: list[Any] = []

    def reached() -> Any:
        status, body = http_json("GET", f"{url}/tasks/{task_id}?include_base64=false")
        assert status == 200, body
        last[:] = [body["data"]]
        return body["data"] if body["data"]["status"] in statuses else None

    return until_sync(reached, timeout_s, lambda: f"task {task_id} to reach {statuses}: {last}")
