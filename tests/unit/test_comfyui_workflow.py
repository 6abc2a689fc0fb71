"""ComfyUI's JSON in our terms: binding, 400 node_errors, history entries, progress.

The shapes are those a real ComfyUI (0.3.75, CPU) answered; see docs/providers.md
(your own ComfyUI servers).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest

from rendergate.config.apps_file import load_apps
from rendergate.config.settings import load_settings
from rendergate.domain.apps import AppSpec, NodeBinding, Route
from rendergate.domain.errors import ConfigError, Fault, ProviderRejected
from rendergate.providers.base import JobPhase
from rendergate.providers.comfyui_workflow import (
    bind_workflow,
    bound_fields,
    history_status,
    output_refs,
    queue_places,
    refused_workflow,
    run_progress,
)

GRAPH = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
    "2": {"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "scale_by": 2.0}},
    "4": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}},
}
APP = AppSpec(
    name="demo",
    routes=(
        Route(
            provider="comfyui",
            options={"workflow": GRAPH},
            bindings=(
                NodeBinding(source="image", node_id="1", field="image"),
                NodeBinding(source="params.scale", node_id="2", field="scale_by"),
            ),
        ),
    ),
)


def test_bindings_fill_a_copy_of_the_template() -> None:
    graph = bind_workflow(APP, {"image": "up.png"}, "", {"scale": 1.5})
    assert graph["1"]["inputs"]["image"] == "up.png"
    assert graph["2"]["inputs"]["scale_by"] == 1.5
    assert GRAPH["1"]["inputs"]["image"] == "example.png"  # the template is untouched


def test_a_param_left_out_keeps_the_template_value() -> None:
    graph = bind_workflow(APP, {"image": "up.png"}, "", {})
    assert graph["2"]["inputs"]["scale_by"] == 2.0


def test_a_binding_to_a_missing_node_is_a_config_error() -> None:
    route = Route(
        provider="comfyui",
        options={"workflow": GRAPH},
        bindings=(NodeBinding(source="image", node_id="12", field="image"),),
    )
    app = AppSpec(name="broken", routes=(route,))
    with pytest.raises(ProviderRejected, match="binds image to node 12") as caught:
        bind_workflow(app, {"image": "x.png"}, "", {})
    assert caught.value.fault is Fault.CONFIG


def test_an_app_without_workflow_is_a_config_error() -> None:
    with pytest.raises(ProviderRejected, match="has no ComfyUI workflow"):
        bind_workflow(AppSpec(name="x", routes=(Route(provider="comfyui"),)), {}, "", {})


VALUE_TOO_BIG = {
    "error": {
        "type": "prompt_outputs_failed_validation",
        "message": "Prompt outputs failed validation",
    },
    "node_errors": {
        "2": {
            "errors": [
                {
                    "type": "value_bigger_than_max",
                    "message": "Value 100.0 bigger than max of 8.0",
                    "details": "scale_by",
                    "extra_info": {"input_name": "scale_by", "received_value": 100.0},
                }
            ],
            "dependent_outputs": ["4"],
            "class_type": "ImageScaleBy",
        }
    },
}


def test_a_refused_bound_value_is_the_users_fault() -> None:
    error = refused_workflow(VALUE_TOO_BIG, bound_fields(APP))
    assert error.fault is Fault.USER
    assert error.message == (
        "ComfyUI refused the workflow: node 2 (ImageScaleBy) input scale_by: "
        "Value 100.0 bigger than max of 8.0"
    )


def test_a_refused_template_value_is_the_apps_fault() -> None:
    assert refused_workflow(VALUE_TOO_BIG, set()).fault is Fault.CONFIG


def test_an_unknown_node_class_names_it() -> None:
    body = {
        "error": {
            "type": "invalid_prompt",
            "message": "Cannot execute because node NoSuchNode does not exist.",
            "details": "Node ID '#7'",
        },
        "node_errors": {},
    }
    error = refused_workflow(body, set())
    assert error.fault is Fault.CONFIG
    assert "node NoSuchNode does not exist" in error.message and "#7" in error.message


def test_a_body_that_is_not_json_still_gives_a_message() -> None:
    assert refused_workflow(None, set()).message == "ComfyUI refused the workflow: invalid workflow"


def test_history_success_lists_saved_files_not_previews() -> None:
    entry = {
        "outputs": {
            "4": {"images": [{"filename": "rg_00001_.png", "subfolder": "", "type": "output"}]},
            "5": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}]},
        },
        "status": {"status_str": "success", "completed": True, "messages": []},
    }
    status = history_status(entry)
    assert status.phase is JobPhase.SUCCEEDED
    [output] = status.outputs
    assert output.node_id == "4" and output.file_type == "png"
    assert parse_qs(output.locator) == {"filename": ["rg_00001_.png"], "type": ["output"]}


def test_previews_are_the_outputs_when_nothing_was_saved() -> None:
    outputs = {"5": {"images": [{"filename": "p.webp", "subfolder": "x", "type": "temp"}]}}
    [output] = output_refs(outputs)
    assert output.file_type == "webp" and "type=temp" in output.locator


def test_history_execution_error_names_the_node() -> None:
    entry = {
        "outputs": {},
        "status": {
            "status_str": "error",
            "completed": False,
            "messages": [
                ["execution_start", {"prompt_id": "p"}],
                [
                    "execution_error",
                    {
                        "prompt_id": "p",
                        "node_id": "3",
                        "node_type": "ImageInvert",
                        "exception_type": "torch.OutOfMemoryError",
                        "exception_message": "CPU ran\n out of memory",
                        "traceback": ["..."],
                    },
                ],
            ],
        },
    }
    status = history_status(entry)
    assert status.phase is JobPhase.FAILED and status.error is not None
    assert status.error.message == (
        "ComfyUI failed at node 3 (ImageInvert): OutOfMemoryError: CPU ran out of memory"
    )


def test_an_interrupted_prompt_is_canceled_not_failed() -> None:
    entry = {
        "outputs": {},
        "status": {
            "status_str": "error",
            "completed": False,
            "messages": [["execution_interrupted", {"prompt_id": "p", "node_id": "2"}]],
        },
    }
    assert history_status(entry).phase is JobPhase.CANCELED


def test_progress_counts_finished_nodes_and_part_of_the_running_one() -> None:
    nodes = {
        "1": {"state": "finished", "value": 1.0, "max": 1.0},
        "2": {"state": "running", "value": 5.0, "max": 10.0},
    }
    assert run_progress(nodes, total=4) == 38  # (1 + 0.5) / 4
    assert run_progress({}, total=4) == 0
    assert run_progress(nodes, total=0) == 75  # an unknown total counts the nodes seen


def test_queue_places_read_running_and_pending_in_number_order() -> None:
    body = {
        "queue_running": [[4, "run", {}, {}, ["9"]]],
        "queue_pending": [[7, "late", {}, {}, []], [5, "early", {}, {}, []]],
    }
    assert queue_places(body) == {"run": 0, "early": 1, "late": 2}


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"queue_running": None, "queue_pending": []},
        {"queue_running": [7], "queue_pending": []},
        {"queue_running": [{"id": "x"}], "queue_pending": []},
        {"queue_running": [], "queue_pending": [[None, "x"]]},
    ],
)
def test_queue_places_refuse_other_shapes(body: object) -> None:
    with pytest.raises(ValueError):
        queue_places(body)


def test_a_comfyui_route_reads_its_workflow_file_and_only_it(tmp_path: Path) -> None:
    (tmp_path / "graph.json").write_text('{"1": {"class_type": "LoadImage", "inputs": {}}}')
    apps = tmp_path / "apps.toml"
    apps.write_text(
        """
[apps.both]
provider = "runninghub"
options = { workflow_id = "1", workflow_file = "graph.json" }
[[apps.both.fallbacks]]
provider = "comfyui"
options = { workflow_file = "graph.json" }
"""
    )
    app = load_apps(load_settings(data_dir=tmp_path, apps_file=apps))["both"]
    hub, comfy = app.routes
    assert "workflow" not in hub.options  # RunningHub's `workflow` is a JSON string of its own
    assert comfy.options["workflow"] == {"1": {"class_type": "LoadImage", "inputs": {}}}
    assert app.on("comfyui").options == comfy.options  # what the adapter's submit reads
    apps.write_text('[apps.x]\nprovider = "comfyui"\noptions = { workflow_file = "no.json" }\n')
    with pytest.raises(ConfigError, match="app 'x': cannot read its workflow_file"):
        load_apps(load_settings(data_dir=tmp_path, apps_file=apps))
