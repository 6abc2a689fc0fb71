"""The ComfyUI server bookkeeping that needs no server: naming, cool-down, death, progress."""

from __future__ import annotations

from rendergate.providers.comfyui_servers import (
    COOL_DOWN_S,
    HeldInputs,
    Server,
    server_key,
    server_label,
)


def test_servers_are_named_without_credentials_or_paths() -> None:
    assert server_label("http://admin:s3cret@gpu1.lan:8188/comfy?token=abc") == "gpu1.lan:8188"
    assert server_label("https://comfy.example.com") == "comfy.example.com"
    assert server_label("not a url") == "?"


def test_a_failing_server_cools_down_and_dies_only_after_the_whole_period() -> None:
    server = Server("http://127.0.0.1:8188")
    server.failed(now=100.0)
    assert server.skip_until == 100.0 + COOL_DOWN_S
    server.failed(now=130.0)  # still failing: the first failure dates it
    assert not server.is_dead(now=159.9, dead_after_s=60)
    assert server.is_dead(now=160.0, dead_after_s=60)
    server.answered()
    assert not server.is_dead(now=1000.0, dead_after_s=60) and server.skip_until == 0.0


def test_progress_state_only_moves_forward_for_watched_prompts() -> None:
    server = Server("http://127.0.0.1:8188")
    server.watch("p1", nodes=4)
    finished = {"state": "finished", "value": 1, "max": 1}
    server.on_message(
        {
            "type": "progress_state",
            "data": {"prompt_id": "p1", "nodes": {"1": finished, "2": finished}},
        }
    )
    assert server.progress["p1"] == 50
    server.on_message(
        {"type": "progress_state", "data": {"prompt_id": "p1", "nodes": {"1": finished}}}
    )
    assert server.progress["p1"] == 50  # a late or partial message never moves it back
    server.on_message({"type": "progress_state", "data": {"prompt_id": "other", "nodes": {}}})
    assert "other" not in server.progress
    server.on_message({"type": "status", "data": "not a dict"})
    server.forget("p1")
    assert server.progress == {} and server.totals == {}


def test_held_inputs_stay_until_every_task_that_brought_them_has_submitted() -> None:
    held = HeldInputs(max_bytes=10)
    held.hold("a", b"1234")
    held.hold("a", b"1234")  # a second task with the same file
    held.release("a")
    assert held.get("a") == b"1234"
    held.release("a")
    assert held.get("a") is None
    held.release("a")  # releasing what is gone is harmless


def test_held_inputs_let_the_oldest_go_over_the_cap() -> None:
    held = HeldInputs(max_bytes=10)
    held.hold("old", b"123456")
    held.hold("new", b"123456")
    assert held.get("old") is None and held.get("new") == b"123456"


def test_job_handles_name_servers_without_credentials() -> None:
    assert (
        server_key("http://admin:s3cret@gpu1.lan:8188/comfy/?t=1") == "http://gpu1.lan:8188/comfy"
    )
    assert server_key("http://127.0.0.1:8188/") == "http://127.0.0.1:8188"
