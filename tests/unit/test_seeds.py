"""A task's seed: what a client may send (JSON and form), and where it goes: into each
provider's `seed` binding, and into the local engine (test_imaging.py shows what it does).
Also the create's other integer fields, image_task_id and image_task_index, read alike."""

from __future__ import annotations

from typing import Any

import pytest

from rendergate.api.task_fields import form_integer, form_seed, image_task, image_task_index
from rendergate.domain.apps import AppSpec, NodeBinding, Route
from rendergate.domain.errors import InvalidInput
from rendergate.domain.task import MAX_SAFE_INTEGER, ResultRef, check_seed
from rendergate.providers import aliyun_results
from rendergate.providers.base import JobRequest
from rendergate.providers.comfyui_workflow import bind_workflow
from rendergate.providers.runninghub_results import node_info


@pytest.mark.parametrize("seed", [0, 1, 2**32, MAX_SAFE_INTEGER])
def test_a_seed_is_an_integer_from_0_to_2_53_minus_1(seed: int) -> None:
    assert check_seed(seed) == seed
    assert form_seed(f" {seed} ") == seed


@pytest.mark.parametrize(
    ("seed", "shown"),
    [
        (-1, "-1"),
        (MAX_SAFE_INTEGER + 1, "9007199254740992"),
        (True, "True"),
        (1.0, "1.0"),
        ("7", "'7'"),
        (None, "None"),
    ],
)
def test_anything_else_is_refused_naming_seed(seed: Any, shown: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_seed(seed)
    assert caught.value.field == "seed"
    assert caught.value.message == (
        f"seed must be an integer from 0 to {MAX_SAFE_INTEGER} (2^53-1), not {shown}"
    )


@pytest.mark.parametrize(
    "text", ["-1", "1.5", "1e3", "abc", "true", "0x10", "\uff19", "9007199254740992", "1" * 400]
)
def test_a_form_seed_is_plain_decimal_digits(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"^seed must be an integer") as caught:
        form_seed(text)
    assert caught.value.field == "seed"


def test_an_empty_form_seed_leaves_the_pick_to_the_server() -> None:
    assert form_seed("") is None and form_seed("  ") is None


def test_an_image_task_index_is_0_unless_given_and_never_alone() -> None:
    assert image_task(7, None) == ResultRef(7, 0) and image_task(7, 63) == ResultRef(7, 63)
    assert image_task(None, None) is None
    with pytest.raises(InvalidInput, match="needs image_task_id beside it") as caught:
        image_task(None, 0)
    assert caught.value.field == "image_task_index"
    assert form_integer("63", image_task_index) == 63
    with pytest.raises(InvalidInput, match=r"from 0 to 63, not 64") as caught:
        form_integer("64", image_task_index)
    assert caught.value.field == "image_task_index"


SEEDED = (
    NodeBinding(source="image", node_id="1", field="image"),
    NodeBinding(source="seed", node_id="3", field="seed"),
)


def _request(provider: str, seed: int | None, **options: Any) -> JobRequest:
    route = Route(provider=provider, bindings=SEEDED, options=options)
    app = AppSpec(name="seeded", routes=(route,))
    return JobRequest(task_id=1, app=app, inputs={"image": "up.png"}, seed=seed)


def test_runninghub_gets_the_seed_in_its_node_field() -> None:
    assert node_info(_request("runninghub", 42)) == [
        {"nodeId": "1", "fieldName": "image", "fieldValue": "up.png"},
        {"nodeId": "3", "fieldName": "seed", "fieldValue": 42},
    ]


def test_aliyun_gets_the_seed_as_its_input() -> None:
    assert aliyun_results.inputs(_request("aliyun", 7)) == {"image": "up.png", "seed": 7}


def test_comfyui_gets_the_seed_in_its_sampler_input() -> None:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 0, "steps": 20}},
    }
    request = _request("comfyui", MAX_SAFE_INTEGER, workflow=graph)
    bound = bind_workflow(request.app, request.inputs, "", {}, seed=request.seed)
    assert bound["3"]["inputs"] == {"seed": MAX_SAFE_INTEGER, "steps": 20}
    # a task from before seeds were kept: the workflow's own seed stays
    assert bind_workflow(request.app, request.inputs, "", {})["3"]["inputs"]["seed"] == 0
    assert node_info(_request("runninghub", None))[1:] == []
