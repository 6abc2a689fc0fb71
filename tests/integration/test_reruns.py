"""Seeds and re-runs over real HTTP, on SQLite and PostgreSQL: every task records its seed
(the one given, or the server's pick), the local engine renders a seed the same way twice,
and a re-run makes a new task from the stored inputs of one of the caller's own."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from rendergate.config.settings import Settings
from rendergate.services import retention
from support.api_keys import key_headers
from support.images import make_reference, make_scene
from support.pg import DATABASES, on_database
from support.server import RunningServer
from support.waiting import until

SCENE = make_scene(96, 72)
B64 = base64.b64encode(SCENE).decode()
REFERENCE = base64.b64encode(make_reference()).decode()


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def post(
    server: RunningServer, path: str, headers: dict[str, str] | None = None, **options: Any
) -> tuple[int, Any]:
    async with server.http.post(f"{server.url}{path}", headers=headers, **options) as response:
        return response.status, await response.json()


async def created(server: RunningServer, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = await post(server, "/tasks", json=body)
    assert status == 201, answer
    return answer["data"]  # type: ignore[no-any-return]


async def result(server: RunningServer, task_id: int) -> bytes:
    task = await server.wait_finished(task_id, timeout_s=60)
    assert task["status"] == "completed", task
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        assert response.status == 200
        return await response.read()


async def test_a_task_keeps_the_seed_it_was_given_or_the_one_the_server_picked(
    server: RunningServer,
) -> None:
    given = await created(server, {"type": "fake", "image_base64": B64, "seed": 2**53 - 1})
    assert given["seed"] == 2**53 - 1 and given["rerun_of"] is None
    form = aiohttp.FormData()
    form.add_field("image", SCENE, filename="shot.png", content_type="image/png")
    form.add_field("type", "fake")
    form.add_field("seed", "0")
    status, by_form = await post(server, "/tasks", data=form)
    assert status == 201 and by_form["data"]["seed"] == 0, by_form
    picked = [await created(server, {"type": "fake", "image_base64": B64}) for _ in range(3)]
    seeds = [task["seed"] for task in picked]
    assert all(isinstance(seed, int) and 0 <= seed < 2**32 for seed in seeds), seeds
    assert len(set(seeds)) == 3  # drawn at random, not a constant
    for task in (given, by_form["data"], *picked):
        assert (await server.get_task(task["task_id"]))["seed"] == task["seed"]


async def test_the_local_engine_renders_a_seed_the_same_way_and_another_seed_otherwise(
    server: RunningServer,
) -> None:
    body = {"type": "preview", "image_base64": B64, "reference_base64": REFERENCE}
    tasks = [await created(server, {**body, "seed": seed}) for seed in (11, 11, 12)]
    first, again, other = [await result(server, task["task_id"]) for task in tasks]
    assert first == again
    assert other != first


async def rerun(
    server: RunningServer,
    task_id: int,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    return await post(server, f"/tasks/{task_id}/rerun", headers, json=body)


async def test_a_rerun_renders_the_same_inputs_again_as_they_were(server: RunningServer) -> None:
    body = {"image_base64": B64, "reference_base64": REFERENCE, "angle": "front", "seed": 5}
    original = await created(server, {**body, "params": {"strength": 0.4}})
    first = await result(server, original["task_id"])
    status, answer = await post(server, f"/tasks/{original['task_id']}/rerun")  # no body
    assert status == 201, answer
    again = answer["data"]
    assert again["task_id"] != original["task_id"]
    assert again["rerun_of"] == original["task_id"] and original["rerun_of"] is None
    for name in ("type", "angle", "params", "seed", "provider"):
        assert again[name] == original[name], name
    assert await result(server, again["task_id"]) == first  # the same inputs, the same seed
    stored = (await server.get_task(again["task_id"]))["rerun_of"]
    assert stored == original["task_id"]


async def test_a_rerun_changes_the_params_type_and_seed_it_names(server: RunningServer) -> None:
    params = {"strength": 0.4, "smoothing": 0.2}
    original = await created(server, {"image_base64": B64, "params": params, "seed": 5})
    changes = {"params": {"strength": 0.9, "smoothing": None}, "seed": 6}
    status, answer = await rerun(server, original["task_id"], changes)
    assert status == 201, answer
    # null drops the original's value, so the app's declared default applies again
    assert answer["data"]["params"] == {"strength": 0.9, "smoothing": 0.5}
    assert answer["data"]["seed"] == 6
    status, answer = await rerun(server, original["task_id"], {"seed": "random"})
    assert status == 201, answer
    assert answer["data"]["seed"] != 5 and 0 <= answer["data"]["seed"] < 2**32
    assert answer["data"]["params"] == params
    plain = {"params": {"strength": None, "smoothing": None}, "type": "fake"}
    status, answer = await rerun(server, original["task_id"], plain)
    assert status == 201, answer
    assert (answer["data"]["type"], answer["data"]["params"]) == ("fake", {})
    assert (await server.wait_finished(answer["data"]["task_id"]))["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"seed": -1}, 422, "seed must be an integer from 0 to 9007199254740991 (2^53-1)"),
        ({"seed": "again"}, 422, "(2^53-1), not 'again'"),
        ({"seed": 1.0}, 422, "(2^53-1), not 1.0"),
        ({"preset": "nope"}, 422, "preset 'nope' not found"),
        ({"type": "nope"}, 422, "unknown type 'nope'"),
        ({"params": {"strength": 7}}, 422, "params.strength must be a number from 0 to 1"),
        ({"params": {"colour": "red"}}, 422, "app 'preview' takes no param 'colour'"),
    ],
)
async def test_a_bad_rerun_is_refused_and_makes_no_task(
    server: RunningServer, body: dict[str, Any], status: int, says: str
) -> None:
    original = await created(server, {"image_base64": B64})
    answered, answer = await rerun(server, original["task_id"], body)
    assert answered == status and says in str(answer), answer
    async with server.http.get(f"{server.url}/tasks") as response:
        listed = (await response.json())["data"]["tasks"]
    assert [task["task_id"] for task in listed] == [original["task_id"]]


async def test_a_rerun_body_must_be_json(server: RunningServer) -> None:
    original = await created(server, {"image_base64": B64})
    status, answer = await post(
        server, f"/tasks/{original['task_id']}/rerun", data=b"seed=1", headers=FORM_TYPE
    )
    assert status == 415 and "send application/json" in answer["msg"], answer


FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_a_rerun_with_an_idempotency_key_is_made_once(server: RunningServer) -> None:
    original = await created(server, {"image_base64": B64})
    key = {"Idempotency-Key": "rerun-1"}
    first = await rerun(server, original["task_id"], {"seed": "random"}, key)
    again = await rerun(server, original["task_id"], {"seed": "random"}, key)
    assert first[0] == again[0] == 201, (first, again)
    assert first[1]["data"]["task_id"] == again[1]["data"]["task_id"]
    other = await rerun(server, original["task_id"], {"seed": 1}, key)
    assert other[0] == 422 and "used with a different request" in str(other[1]), other


async def test_a_rerun_once_retention_removed_the_inputs_is_refused(
    server: RunningServer,
) -> None:
    original = await created(server, {"type": "fake", "image_base64": B64})
    await result(server, original["task_id"])
    pruning = server.services.unpack(retention.Pruning, retention_days=1e-9)
    await until(
        lambda: retention.prune(pruning), 10, "the task to be past its retention", every_s=0.01
    )
    status, answer = await rerun(server, original["task_id"])
    assert status == 409, answer
    assert answer["msg"].startswith(f"the inputs of task {original['task_id']} were removed on")
    assert "send the images again with POST /tasks" in answer["msg"]
    status, answer = await post(server, f"/tasks/{2**52}/rerun")
    assert status == 404 and answer["msg"] == f"task {2**52} not found", answer


async def test_a_rerun_whose_stored_input_is_lost_is_refused(server: RunningServer) -> None:
    original = await created(server, {"type": "fake", "image_base64": B64})
    await server.services.blobs.delete(f"inputs/{original['task_id']}/image.png")
    status, answer = await rerun(server, original["task_id"])
    assert status == 409, answer
    assert answer["msg"] == (
        f"the stored image of task {original['task_id']} is missing: send the images again "
        "with POST /tasks"
    )


async def two_keys_and_a_task(
    server: RunningServer, settings: Settings
) -> tuple[dict[str, str], dict[str, str], int]:
    """Two keys' headers, and a task made by the first."""
    mine, theirs = (
        await key_headers(server, settings, "mine"),
        await key_headers(server, settings, "theirs"),
    )
    status, answer = await post(server, "/tasks", mine, json={"type": "fake", "image_base64": B64})
    assert status == 201, answer
    return mine, theirs, answer["data"]["task_id"]


async def test_a_rerun_of_another_keys_task_is_not_found(
    server: RunningServer, settings: Settings
) -> None:
    mine, theirs, task_id = await two_keys_and_a_task(server, settings)
    status, answer = await rerun(server, task_id, {}, theirs)
    assert status == 404 and answer["msg"] == f"task {task_id} not found", answer
    async with server.http.get(f"{server.url}/tasks", headers=theirs) as response:
        assert (await response.json())["data"]["tasks"] == []
    status, answer = await rerun(server, task_id, {}, mine)
    assert status == 201 and answer["data"]["rerun_of"] == task_id, answer


async def test_a_rerun_with_a_preset_takes_its_look_and_keeps_the_image_and_seed(
    server: RunningServer,
) -> None:
    """ "The same view, but dusk": the preset's app, params and reference replace the
    original's; the request's params merge over the preset's; the image and seed stay."""
    original = await created(
        server,
        {
            "type": "preview",
            "image_base64": B64,
            "reference_base64": REFERENCE,
            "seed": 11,
            "params": {"strength": 0.3},
        },
    )
    path = f"/tasks/{original['task_id']}/rerun"
    status, answer = await post(server, path, json={"preset": "dusk"})
    assert status == 201, answer
    dusk = answer["data"]
    assert (dusk["type"], dusk["preset"], dusk["preset_version"]) == ("preview", "dusk", 1)
    assert (dusk["params"]["strength"], dusk["seed"], dusk["rerun_of"]) == (
        0.9,
        11,
        original["task_id"],
    )
    blobs = server.services.blobs
    image = await blobs.get(f"inputs/{dusk['task_id']}/image.png")
    assert image == await blobs.get(f"inputs/{original['task_id']}/image.png")
    reference = await blobs.get(f"inputs/{dusk['task_id']}/reference.png")
    builtin = server.services.builtin_presets
    dusk_reference = builtin.presets["dusk"].reference
    assert dusk_reference is not None
    assert reference == builtin.references[dusk_reference.key]
    status, answer = await post(server, path, json={"preset": "dusk", "params": {"strength": 0.5}})
    assert status == 201 and answer["data"]["params"]["strength"] == 0.5, answer
    status, answer = await post(server, path, json={"preset": "nope"})
    assert status == 422 and answer["detail"][0]["loc"][-1] == "preset", answer


async def test_a_tasks_reruns_are_listed_by_rerun_of_for_its_key_alone(
    server: RunningServer, settings: Settings
) -> None:
    mine, theirs, original = await two_keys_and_a_task(server, settings)
    status, other = await post(server, "/tasks", mine, json={"type": "fake", "image_base64": B64})
    assert status == 201, other
    made = []
    for params in ({"fake": {"polls": 1}}, {"fake": {"polls": 2}}):
        status, answer = await rerun(server, original, {"params": params}, mine)
        assert status == 201, answer
        made.append(answer["data"]["task_id"])
    status, answer = await rerun(server, other["data"]["task_id"], {}, mine)  # not listed
    assert status == 201, answer

    async def listed(headers: dict[str, str], query: str) -> tuple[int, Any]:
        url = f"{server.url}/tasks?{query}"
        async with server.http.get(url, headers=headers) as response:
            return response.status, await response.json()

    status, page = await listed(mine, f"rerun_of={original}")
    assert status == 200, page
    assert [t["task_id"] for t in page["data"]["tasks"]] == made[::-1]  # newest first
    assert {t["rerun_of"] for t in page["data"]["tasks"]} == {original}
    status, page = await listed(theirs, f"rerun_of={original}")
    assert (status, page["data"]["tasks"]) == (200, [])
    status, page = await listed(mine, "rerun_of=0")
    assert status == 422, page
