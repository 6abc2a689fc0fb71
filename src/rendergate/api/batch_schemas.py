"""POST /batches as JSON, and the shapes /batches answers with."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from rendergate.api.schemas import (
    IMAGE_TASK_DESCRIPTION,
    SEED_DESCRIPTION,
    ImageTaskId,
    ImageTaskIndex,
    given_seed,
)
from rendergate.domain.batches import MAX_NAME, MAX_VARIATIONS, MAX_VIEWS
from rendergate.domain.events import WEBHOOK_EVENTS
from rendergate.domain.task import MAX_OUTPUT_INDEX, MAX_SAFE_INTEGER
from rendergate.services.batch_public import BatchPublic


class ViewJson(BaseModel):
    """One view: its image in exactly one of image_base64, image_url, image_task_id."""

    model_config = ConfigDict(extra="forbid")

    image_base64: str | None = Field(None, description="The view's image, base64.")
    image_url: str | None = Field(None, max_length=4096, description="Or its URL.")
    image_task_id: ImageTaskId = Field(
        None, ge=0, le=MAX_SAFE_INTEGER, description=IMAGE_TASK_DESCRIPTION
    )
    image_task_index: ImageTaskIndex = Field(None, ge=0, le=MAX_OUTPUT_INDEX)
    angle: str = Field("", max_length=64, description="The view's angle, named in the zip.")


class StepJson(BaseModel):
    """A step run on each result as soon as it completes: an app and its params."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class BatchCreateJson(BaseModel):
    """POST /batches as JSON: 1 to 12 views of one model, each rendered `variations` times
    with the same app, preset, params and reference."""

    model_config = ConfigDict(extra="forbid")

    views: list[ViewJson] = Field(min_length=1, max_length=MAX_VIEWS)
    type: str = Field("", max_length=64, description="The app; preview unless a preset names one.")
    preset: str = Field("", max_length=64, description="A preset's name (GET /presets).")
    params: dict[str, Any] = Field(default_factory=dict)
    reference_base64: str | None = Field(None, description="The reference image, base64.")
    reference_url: str | None = Field(None, max_length=4096)
    variations: StrictInt = Field(1, ge=1, le=MAX_VARIATIONS, description="Per view: 1 to 4.")
    seed: Annotated[StrictInt | None, BeforeValidator(given_seed)] = Field(
        None, ge=0, le=MAX_SAFE_INTEGER, description=SEED_DESCRIPTION
    )
    name: str = Field("", max_length=MAX_NAME)
    then: list[StepJson] = Field([], max_length=3, description="Steps run on each result.")
    webhook_url: str | None = Field(None, max_length=2048)
    webhook_events: list[str] | None = Field(None, max_length=len(WEBHOOK_EVENTS))


class BatchList(BaseModel):
    batches: list[BatchPublic]
    next_cursor: str | None = None
