"""Response and request shapes, named by role. Seed 004's fields keep their names and types."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictFloat, StrictInt

from rendergate.domain.apps import AppKind, Reference
from rendergate.domain.chains import MAX_STEPS
from rendergate.domain.events import WEBHOOK_EVENTS
from rendergate.domain.params import ParamType
from rendergate.domain.task import MAX_OUTPUT_INDEX, MAX_SAFE_INTEGER, check_integer, check_seed
from rendergate.services.presenting import TaskPublic

T = TypeVar("T")


def given_seed(value: object) -> object:
    """A seed refused as a form's is, with check_seed's InvalidInput (which pydantic lets
    through), rather than with pydantic's words for each member of a union."""
    return value if value is None else check_seed(value)


def _rerun_seed(value: object) -> object:
    return value if value == "random" else given_seed(value)


def checked_integer(field: str, high: int) -> BeforeValidator:
    """An integer field refused as a form's is, with check_integer's InvalidInput."""

    def checked(value: object) -> object:
        return value if value is None else check_integer(value, field=field, high=high)

    return BeforeValidator(checked)


ImageTaskId = Annotated[StrictInt | None, checked_integer("image_task_id", MAX_SAFE_INTEGER)]
ImageTaskIndex = Annotated[StrictInt | None, checked_integer("image_task_index", MAX_OUTPUT_INDEX)]
IMAGE_TASK_DESCRIPTION = (
    "Instead of an image: a finished task of yours whose stored result is the image (no "
    "upload); the new task shows it as parent_task_id."
)
IMAGE_TASK_INDEX_DESCRIPTION = "Which of that task's outputs; 0 unless given."


SEED_DESCRIPTION = (
    "The task's seed, 0 to 2^53-1: the same seed and inputs give the same result on the "
    "local engine and on apps that bind it; unset, the server picks one (below 2^32) and "
    "the task shows it."
)


class Envelope(BaseModel, Generic[T]):
    code: int = 0
    msg: str = "success"
    data: T


class Acknowledged(Envelope[None]):
    """A success that carries no data (a webhook received)."""


class ErrorEnvelope(BaseModel):
    """Every error but 422: `code` repeats the HTTP status, `msg` says what went wrong."""

    code: int = Field(description="The HTTP status of the response.")
    msg: str
    data: None


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", "type"], ["query", "limit"], ...')
    msg: str
    type: str = Field(description="The kind of problem, e.g. value_error, int_parsing.")


class ValidationErrors(BaseModel):
    """422, in FastAPI's own shape, as the task API specifies."""

    detail: list[ValidationIssue]


class TaskList(BaseModel):
    tasks: list[TaskPublic]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class ThenStepJson(BaseModel):
    """One step of a create's `then`: an app run on the result of the task before it."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64, description="The app, e.g. upscale.")
    params: dict[str, Any] = Field(default_factory=dict, description="Its params.")


THEN_DESCRIPTION = (
    f"Up to {MAX_STEPS} steps run on the result as soon as it completes, each a task of its "
    "own: the first takes this task's result (index 0) as its image, the next that one's. "
    "The new task shows it in children, and itself names this one as parent_task_id."
)


class TaskCreateJson(BaseModel):
    """POST /tasks as JSON: each image as base64 (a data: URI is fine) or as an http(s) URL.
    The image is required, in exactly one of `image_base64`, `image_url` and `image_task_id`
    (a finished task's result)."""

    # The intake enforces that rule (bodies.py, services/creating.py); stated as a top-level oneOf
    # it made client generators build a union of partial classes that lack the other fields.
    model_config = ConfigDict(extra="forbid")

    type: str = Field("", max_length=64, description="The app; preview unless a preset names one.")
    preset: str = Field(
        "",
        max_length=64,
        description="A preset's name (GET /presets): its type, params and reference image "
        "unless this request gives its own (params merge over the preset's).",
    )
    angle: str = Field("", max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    image_base64: str | None = Field(None, description="The image, base64; or image_url.")
    image_url: str | None = Field(None, max_length=4096, description="Or the image's URL.")
    reference_base64: str | None = None
    reference_url: str | None = Field(None, max_length=4096)
    webhook_url: str | None = Field(
        None, max_length=2048, description="Where the task's signed webhooks go."
    )
    webhook_events: list[str] | None = Field(
        None,
        max_length=len(WEBHOOK_EVENTS),
        description="Which: task.processing, task.progress, task.completed, task.failed, "
        "task.canceled, task.kept, task.unkept; unset: all but task.progress and the kept "
        "mark's two.",
    )
    deadline_s: StrictFloat | StrictInt | None = Field(
        None,
        gt=0,
        description="Fail the task (and cancel it upstream) after this many seconds; "
        "at most the app's deadline.",
    )
    seed: Annotated[StrictInt | None, BeforeValidator(given_seed)] = Field(
        None, ge=0, le=MAX_SAFE_INTEGER, description=SEED_DESCRIPTION
    )
    image_task_id: Annotated[
        StrictInt | None, checked_integer("image_task_id", MAX_SAFE_INTEGER)
    ] = Field(None, ge=0, le=MAX_SAFE_INTEGER, description=IMAGE_TASK_DESCRIPTION)
    image_task_index: Annotated[
        StrictInt | None, checked_integer("image_task_index", MAX_OUTPUT_INDEX)
    ] = Field(None, ge=0, le=MAX_OUTPUT_INDEX, description=IMAGE_TASK_INDEX_DESCRIPTION)
    then: list[ThenStepJson] = Field(
        default_factory=list, max_length=MAX_STEPS, description=THEN_DESCRIPTION
    )


class TaskRerunJson(BaseModel):
    """POST /tasks/{task_id}/rerun: what the re-run changes, each field optional. What is
    left out is the original's: its images, angle, type, params, seed, webhook and (for the
    same type) deadline_s."""

    model_config = ConfigDict(extra="forbid")

    type: str | None = Field(None, max_length=64, description="Another app to run them on.")
    params: dict[str, Any] | None = Field(
        None,
        description="Merged over the original's: each key given replaces its value, and a "
        "null removes the key.",
    )
    seed: Annotated[
        Annotated[StrictInt, Field(ge=0, le=MAX_SAFE_INTEGER)] | Literal["random"] | None,
        BeforeValidator(_rerun_seed),
    ] = Field(None, description='Another seed, or "random" for a new one the server picks.')
    preset: str | None = Field(
        None,
        max_length=64,
        description="A preset whose look replaces the original's: its type (unless `type` is "
        "given), its params (this request's merged over them) and its reference image.",
    )


class ParamPublic(BaseModel):
    """One param of an app's form, as the apps file declares it."""

    name: str = Field(description="The key in a task's `params`.")
    type: ParamType
    min: int | float | None = Field(None, description="number and integer: the least allowed")
    max: int | float | None = Field(None, description="number and integer: the most allowed")
    step: int | float | None = Field(
        None, description="number and integer: a slider's step; null: none declared"
    )
    choices: list[str | int | float] | None = Field(None, description="choice: the values")
    choice_labels: list[str] | None = Field(
        None, description="choice: each value's name on a form, in order; null: the values"
    )
    default: bool | int | float | str | None = Field(
        None, description="Filled in when a create leaves the param out; null: none"
    )
    label: str
    description: str
    advanced: bool = Field(False, description="A form shows it folded away, under Advanced.")


class AppPublic(BaseModel):
    name: str
    provider: str
    title: str
    label: str = Field(description="The title in ASCII, for a page with no CJK font.")
    description: str
    kind: AppKind = Field(
        "render", description="render: makes a render; upscale: enlarges a finished result."
    )
    reference: Reference = Field(description="Whether a task takes a reference image.")
    requires_reference: bool = Field(description='reference is "required"')
    seed: bool = Field(description="Whether the app uses a seed.")
    angles: list[str] = Field(description="The angles a task may name; empty: any.")
    params: list[ParamPublic] = Field(
        description="The params a task may give, in the order the app declares them; empty: "
        "the app declares none (it takes those its provider reads, unchecked)."
    )
    deadline_s: float = Field(description="A task of this app fails after this long.")
    available: bool
    unavailable_reason: str | None = None


class Health(BaseModel):
    status: str
    database: str
    worker: bool
    providers: list[str]
    version: str
