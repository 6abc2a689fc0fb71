"""App forms: the params an app declares in the apps file, parsed and checked in the domain,
and every built-in app's declaration held to what its bindings or its engine read."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from rendergate.config.apps_file import load_apps
from rendergate.config.settings import load_settings
from rendergate.domain.apps import AppSpec, parse_apps
from rendergate.domain.errors import InvalidInput
from rendergate.domain.params import ParamSpec
from rendergate.imaging.preview import validate_preview_params
from rendergate.providers import registry
from rendergate.providers.comfyui_workflow import bind_workflow
from rendergate.providers.local import engine_of
from rendergate.services.routing import declared_params, read_params

SCALE = {"type": "number", "min": 1, "max": 4, "default": 2, "label": "Scale"}
FORM: dict[str, Any] = {
    "scale": SCALE,
    "steps": {"type": "integer", "min": 1, "max": 50},
    "hdr": {"type": "boolean", "default": False},
    "prompt": {"type": "string", "description": "What to render"},
    "mood": {"type": "choice", "choices": ["dusk", "overcast"], "default": "dusk"},
}
BINDS_SCALE = [{"source": "params.scale", "node_id": "2", "field": "scale_by"}]


def app(**raw: Any) -> AppSpec:
    return parse_apps({"apps": {"demo": {"provider": "comfyui", **raw}}})["demo"]


def refusal(**raw: Any) -> str:
    with pytest.raises(ValueError) as refused:
        app(**raw)
    return str(refused.value)


# -- parsing ---------------------------------------------------------------------------------


def test_a_form_is_parsed_in_declaration_order_with_its_defaults() -> None:
    demo = app(params=FORM, bindings=BINDS_SCALE)
    assert [spec.name for spec in demo.params] == ["scale", "steps", "hdr", "prompt", "mood"]
    assert demo.params[0] == ParamSpec(
        name="scale", type="number", min=1, max=4, default=2, label="Scale"
    )
    steps, hdr, prompt, mood = demo.params[1:]
    assert (steps.type, steps.min, steps.max, steps.default, steps.label) == (
        "integer",
        1,
        50,
        None,
        "steps",  # no label: the name
    )
    assert (hdr.default, prompt.description) == (False, "What to render")
    assert (mood.choices, mood.default) == (("dusk", "overcast"), "dusk")
    assert (demo.params[0].step, mood.choice_labels, steps.advanced) == (None, (), False)


def test_a_params_step_choice_labels_and_advanced_are_read_for_a_form() -> None:
    demo = app(
        params={
            "scale": {**SCALE, "step": 0.25},
            "steps": {"type": "integer", "min": 1, "max": 50, "step": 5, "advanced": True},
            "mood": {**FORM["mood"], "choice_labels": ["Dusk", "Overcast sky"]},
        },
        bindings=BINDS_SCALE,
    )
    scale, steps, mood = demo.params
    assert (scale.step, scale.advanced) == (0.25, False)
    assert (steps.step, steps.advanced) == (5, True)
    assert mood.choice_labels == ("Dusk", "Overcast sky")


def test_an_apps_kind_is_render_unless_it_says_upscale() -> None:
    assert app().kind == "render"
    assert app(kind="upscale").kind == "upscale"


def test_reference_seed_and_label_are_read_and_default_sensibly() -> None:
    assert (app().reference, app().seed, app().label) == ("optional", False, "demo")
    assert app(reference="none", seed=True).reference == "none"
    assert app(seed=True).seed is True
    assert app(requires_reference=True).reference == "required"  # the older spelling
    assert app(requires_reference=False).reference == "optional"
    assert app(title="Plain title").label == "Plain title"
    assert app(title="SU截图转效果图").label == "demo"  # not ASCII: the name stands in
    assert app(title="SU截图转效果图", label="SketchUp screenshot").label == "SketchUp screenshot"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"params": {"scale": {**SCALE, "min": 5}}},
            "app 'demo': param 'scale' has min 5 over its max 4",
        ),
        (
            {"params": {"scale": {**SCALE, "default": 9}}},
            "app 'demo': param 'scale' has a default it does not take: params.scale must be a "
            "number from 1 to 4, not 9",
        ),
        (
            {"params": {"steps": {"type": "integer", "min": 1, "step": 5, "default": 20}}},
            "app 'demo': param 'steps' has default 20 between its slider's steps (every 5 "
            "from 1): a page would show and send another value",
        ),
        (
            {"params": {"scale": {**SCALE, "step": 0.25, "default": 1.3}}},
            "app 'demo': param 'scale' has default 1.3 between its slider's steps (every 0.25 "
            "from 1): a page would show and send another value",
        ),
        (
            {"params": {"steps": {"type": "integer", "max": 50, "default": 2.5}}},
            "param 'steps' has a default it does not take: params.steps must be an integer of "
            "at most 50, not 2.5",
        ),
        (
            {"params": {"scale": {**SCALE, "type": "float"}}},
            "app 'demo': param 'scale' has type 'float'; a param's type is one of number, "
            "integer, boolean, string, choice",
        ),
        ({"params": {"scale": {"min": 1}}}, "param 'scale' has type None"),
        (
            {"params": {"mood": {"type": "choice"}}},
            "app 'demo': param 'mood' is a choice but has no choices",
        ),
        ({"params": {"mood": {"type": "choice", "choices": []}}}, "has no choices"),
        (
            {"params": {"mood": {"type": "choice", "choices": ["a", True]}}},
            "app 'demo': param 'mood': choices must be a list of strings or numbers",
        ),
        (
            {"params": {"mood": {"type": "choice", "choices": ["a", "a"]}}},
            "param 'mood' lists a choice twice",
        ),
        (
            {"params": {"scale": {**SCALE, "maximum": 4}}},
            "app 'demo': param 'scale' has unknown keys maximum (a param has type, min, max, "
            "step, choices, choice_labels, default, label, description, advanced)",
        ),
        ({"params": {"scale": {**SCALE, "step": 0}}}, "param 'scale': step must be over 0, not 0"),
        ({"params": {"scale": {**SCALE, "step": -1}}}, "step must be over 0, not -1"),
        (
            {"params": {"steps": {"type": "integer", "step": 0.5}}},
            "param 'steps': step must be an integer",
        ),
        (
            {"params": {"hdr": {"type": "boolean", "step": 1}}},
            "param 'hdr': step applies to number and integer params, not boolean",
        ),
        (
            {"params": {"scale": {**SCALE, "choice_labels": ["One"]}}},
            "param 'scale': choice_labels apply to choice params only",
        ),
        (
            {"params": {"mood": {**FORM["mood"], "choice_labels": ["Dusk"]}}},
            "param 'mood' has 1 choice_labels for 2 choices: give one per choice",
        ),
        (
            {"params": {"mood": {**FORM["mood"], "choice_labels": ["Dusk", 2]}}},
            "param 'mood': choice_labels must be a list of text, one per choice",
        ),
        (
            {"params": {"mood": {**FORM["mood"], "choice_labels": "Dusk, Overcast"}}},
            "choice_labels must be a list of text",
        ),
        (
            {"params": {"scale": {**SCALE, "advanced": "yes"}}},
            "param 'scale': advanced must be true or false",
        ),
        ({"kind": "enlarge"}, "app 'demo': kind must be one of 'render', 'upscale', not 'enlarge'"),
        (
            {"params": {"hdr": {"type": "boolean", "min": 0}}},
            "app 'demo': param 'hdr': min applies to number and integer params, not boolean",
        ),
        (
            {"params": {"steps": {"type": "integer", "max": 2.5}}},
            "param 'steps': max must be an integer",
        ),
        ({"params": {"scale": {**SCALE, "max": "4"}}}, "param 'scale': max must be a number"),
        ({"params": {"scale": {**SCALE, "max": True}}}, "param 'scale': max must be a number"),
        (
            {"params": {"prompt": {"type": "string", "choices": ["a"]}}},
            "param 'prompt': choices apply to choice params, not string",
        ),
        ({"params": {"scale": {**SCALE, "label": 3}}}, "param 'scale': label must be text"),
        ({"params": {"scale": 2}}, "app 'demo': param 'scale' must be a table"),
        ({"params": ["scale"]}, "app 'demo': params must be a table of params"),
        (
            {"params": {"scale": SCALE}, "bindings": [{"source": "params.seed", "field": "s"}]},
            "app 'demo': a binding reads params.seed, which its params do not declare; its "
            "params: scale",
        ),
        (
            {"reference": "yes"},
            "app 'demo': reference must be one of 'required', 'optional', 'none', not 'yes'",
        ),
        (
            {"reference": "required", "requires_reference": True},
            "app 'demo' sets both reference and requires_reference",
        ),
        ({"requires_reference": "false"}, "app 'demo': requires_reference must be true or false"),
        ({"seed": "yes"}, "app 'demo': seed must be true or false"),
        ({"title": "渲染", "label": "渲染"}, "app 'demo': label must be printable ASCII text"),
        ({"label": ""}, "label must be printable ASCII text"),
        ({"param": {"scale": SCALE}}, "app 'demo' has unknown keys param (an app has angles, "),
    ],
)
def test_a_malformed_declaration_is_refused_naming_the_app_and_the_param(
    raw: dict[str, Any], message: str
) -> None:
    assert message in refusal(**raw)


# -- checking a create -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({}, {"scale": 2, "hdr": False, "mood": "dusk"}),
        ({"scale": 1.5}, {"scale": 1.5, "hdr": False, "mood": "dusk"}),
        ({"scale": 4, "steps": 50}, {"scale": 4, "steps": 50, "hdr": False, "mood": "dusk"}),
        ({"steps": 3.0}, {"steps": 3, "scale": 2, "hdr": False, "mood": "dusk"}),
        ({"hdr": True, "prompt": "dusk light"}, {"hdr": True, "prompt": "dusk light"}),
        ({"mood": "overcast"}, {"mood": "overcast"}),
        ({"other": [1]}, {"other": [1]}),  # undeclared: routing's question, not the form's
    ],
)
def test_a_create_is_checked_and_its_defaults_filled(
    given: dict[str, Any], stored: dict[str, Any]
) -> None:
    params = app(params=FORM).checked_params(given)
    assert params == {"scale": 2, "hdr": False, "mood": "dusk"} | stored
    assert type(params["scale"]) is type(stored.get("scale", 2))  # 2 stays an int


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"scale": 5}, "params.scale must be a number from 1 to 4, not 5"),
        ({"scale": 0.5}, "params.scale must be a number from 1 to 4, not 0.5"),
        ({"scale": True}, "params.scale must be a number from 1 to 4, not True"),  # bool: no
        ({"scale": "2"}, "params.scale must be a number from 1 to 4, not '2'"),
        ({"scale": None}, "params.scale must be a number from 1 to 4, not None"),
        ({"scale": float("nan")}, "params.scale must be a number from 1 to 4, not nan"),
        ({"steps": 2.5}, "params.steps must be an integer from 1 to 50, not 2.5"),
        ({"steps": 0}, "params.steps must be an integer from 1 to 50, not 0"),
        ({"hdr": 1}, "params.hdr must be true or false, not 1"),
        ({"prompt": ["a"]}, "params.prompt must be text, not ['a']"),
        ({"mood": "noon"}, "params.mood must be one of 'dusk', 'overcast', not 'noon'"),
        ({"mood": 1}, "params.mood must be one of 'dusk', 'overcast', not 1"),
    ],
)
def test_a_value_the_form_does_not_take_is_refused_naming_the_param(
    given: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        app(params=FORM).checked_params(given)
    assert refused.value.message == message
    assert refused.value.field == f"params.{next(iter(given))}"


def test_numbers_in_choices_match_as_numbers_and_one_sided_ranges_read_so() -> None:
    sizes = app(params={"size": {"type": "choice", "choices": [512, 1024]}})
    assert sizes.checked_params({"size": 1024.0}) == {"size": 1024}
    with pytest.raises(InvalidInput, match=r"must be one of 512, 1024, not '512'"):
        sizes.checked_params({"size": "512"})
    spans = {"at_least": {"type": "number", "min": 0}, "any": {"type": "number"}}
    with pytest.raises(InvalidInput, match="must be a number of at least 0, not -1"):
        app(params=spans).checked_params({"at_least": -1})
    with pytest.raises(InvalidInput, match=r"params\.any must be a number, not 'x'"):
        app(params=spans).checked_params({"any": "x"})


def test_an_app_with_a_form_takes_its_params_and_what_its_provider_reads(tmp_path: Path) -> None:
    entries = registry(load_settings(data_dir=tmp_path))
    form = parse_apps({"apps": {"f": {"provider": "local", "params": {"tone": SCALE}}}})["f"]
    assert declared_params(form, entries) == {"tone", "smoothing", "strength"}
    faked = parse_apps({"apps": {"f": {"provider": "fake", "params": {"tone": SCALE}}}})["f"]
    assert declared_params(faked, entries) == {"tone"}  # the form, though fake reads any
    bare = parse_apps({"apps": {"f": {"provider": "fake"}}})["f"]
    assert declared_params(bare, entries) is None  # no form: as before, any


def test_a_reference_is_refused_by_an_app_that_takes_none() -> None:
    app(reference="none").check_request(angle="", has_reference=False)
    with pytest.raises(InvalidInput, match="app 'demo' takes no reference image") as refused:
        app(reference="none").check_request(angle="", has_reference=True)
    assert refused.value.field == "reference"


# -- the built-in apps -------------------------------------------------------------------------


def built_in_apps() -> dict[str, AppSpec]:
    text = resources.files("rendergate").joinpath("apps.toml").read_text(encoding="utf-8")
    return parse_apps(tomllib.loads(text))


@pytest.mark.parametrize("name", sorted(built_in_apps()))
def test_each_built_in_app_declares_exactly_what_its_bindings_or_engine_read(
    name: str, tmp_path: Path
) -> None:
    """The declaration cannot drift from the code: a param is declared if and only if a
    binding or the provider reads it, and a reference or a seed is taken if and only if one is
    bound or the engine reads it (the local preview engine reads both itself; the upscaler
    neither)."""
    spec = built_in_apps()[name]
    read = read_params(spec, registry(load_settings(data_dir=tmp_path)))
    assert read is not None, f"{name} runs on a provider that takes any params"
    assert {p.name for p in spec.params} == read
    assert (spec.reference != "none") == reads(spec, "reference")
    assert spec.seed == reads(spec, "seed")
    assert spec.label.isascii() and spec.label
    takes_a_render = spec.reference == "none" and {p.name for p in spec.params} == {"scale"}
    assert (spec.kind == "upscale") == (takes_a_render and "upscale" in name)


def reads(spec: AppSpec, source: str) -> bool:
    """Whether a route binds `source`, or runs the local preview engine, which reads the
    reference and the seed itself."""
    return any(
        (route.provider == "local" and engine_of(route.options) == "preview")
        or any(b.source == source for b in route.bindings)
        for route in spec.routes
    )


def test_the_preview_form_is_what_the_local_engine_does() -> None:
    """Its defaults are the engine's, and its range the one the engine takes."""
    form = built_in_apps()["preview"].params
    assert validate_preview_params({}) == {p.name: p.default for p in form}
    for param in form:
        assert param.min is not None and param.max is not None
        validate_preview_params({param.name: param.min})
        validate_preview_params({param.name: param.max})
        for outside in (param.min - 0.01, param.max + 0.01):
            with pytest.raises(InvalidInput):
                validate_preview_params({param.name: outside})


def test_the_upscalers_documented_declarations_load_and_bind(tmp_path: Path) -> None:
    """docs/apps.md#upscalers as written: its RunningHub app replaces the built-in one whole,
    and its model-based ComfyUI app binds the packaged example workflow."""
    docs = (Path(__file__).parents[2] / "docs" / "apps.md").read_text(encoding="utf-8")
    section = docs.split("## Upscalers", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```toml\n")[1:]
    apps = tmp_path / "apps.toml"
    apps.write_text("\n".join(block.split("```", 1)[0] for block in blocks))
    example = resources.files("rendergate").joinpath("workflows/upscale_model.json")
    (tmp_path / "upscale_model.json").write_text(example.read_text(encoding="utf-8"))
    loaded = load_apps(load_settings(data_dir=tmp_path, apps_file=apps, open=True))
    own = loaded["upscale_runninghub"]
    assert (
        own.routes[0].options == {"webapp_id": "YOUR_WEBAPP_ID"}
        and own.title == "Upscale (RunningHub)"
    )
    assert own.checked_params({}) == {"scale": 2}
    assert own.kind == loaded["upscale_model"].kind == "upscale"
    graph = bind_workflow(loaded["upscale_model"], {"image": "up.png"}, "", {})
    assert graph["1"]["inputs"]["image"] == "up.png"
    assert [node["class_type"] for node in graph.values()] == [
        "LoadImage",
        "UpscaleModelLoader",
        "ImageUpscaleWithModel",
        "ImageScaleBy",
        "SaveImage",
    ]
