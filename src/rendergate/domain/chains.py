"""`then`: steps run on a task's result as soon as it completes, each a task of its own,
linked to the one before by `parent_task_id`. A task keeps the steps still to come; when it
completes, the first becomes its child, which keeps the rest.

Pure: a step's value, the bound on a chain, the shape a create's `then` must have, and the
id a task's next step takes (derived, not drawn, so that making it twice writes one row)."""

from __future__ import annotations

import hashlib
import json
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rendergate.domain.errors import InvalidInput
from rendergate.domain.task import MAX_SAFE_INTEGER, MIN_TASK_ID, Task, TaskStatus

MAX_STEPS = 3  # an upscale of an upscale of an upscale is already 64 times the pixels
STEP_KEYS = frozenset({"type", "params"})
ID_SPAN = MAX_SAFE_INTEGER - MIN_TASK_ID  # task ids are in [MIN_TASK_ID, MAX_SAFE_INTEGER)
STEP_STRIDE = 0x9E3779B97F4A7 % ID_SPAN  # 2^52 over the golden ratio: k steps never wrap round


@dataclass(frozen=True)
class ThenStep:
    """One step of a chain: the app it runs and its params (checked, defaults filled)."""

    app: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The step as a create gives it and the rows keep it: {type, params}."""
        return {"type": self.app, "params": dict(self.params)}


def parse_then(raw: object) -> tuple[ThenStep, ...]:
    """A create's `then` as given: a list of at most MAX_STEPS `{type, params}` objects.
    InvalidInput names where it is wrong (`then`, `then.1.type`, ...); the apps and params
    are checked apart, against the apps this server runs (services/chains.py)."""
    if not isinstance(raw, list):
        raise InvalidInput("then must be a list of steps, each {type, params}", field="then")
    if len(raw) > MAX_STEPS:
        raise InvalidInput(
            f"then has {len(raw)} steps; a chain takes at most {MAX_STEPS}", field="then"
        )
    return tuple(_step(index, step) for index, step in enumerate(raw))


def _step(index: int, raw: object) -> ThenStep:
    where = f"then.{index}"
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where} must be an object {{type, params}}", field=where)
    unknown = sorted(set(raw) - STEP_KEYS)
    if unknown:
        raise InvalidInput(
            f"{where} has unknown key {unknown[0]!r}; a step has type and params",
            field=f"{where}.{unknown[0]}",
        )
    app = raw.get("type")
    if not isinstance(app, str) or not 0 < len(app) <= 64:
        raise InvalidInput(
            f"{where}.type must name an app (1 to 64 characters), not {reprlib.repr(app)}",
            field=f"{where}.type",
        )
    params = raw.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise InvalidInput(f"{where}.params must be an object", field=f"{where}.params")
    return ThenStep(app=app, params=dict(params))


def steps_named(text: str) -> list[dict[str, Any]]:
    """A form's shorthand, `upscale` or `upscale,upscale`: steps with no params."""
    return [{"type": name.strip()} for name in text.split(",") if name.strip()]


def next_step_id(parent_id: int) -> int:
    """The id of the task that runs `parent_id`'s next step: a fixed function of the
    parent's, inside the ids' range, so that a second attempt at making it finds the first
    (the store refuses an id taken). Each task has at most one next step."""
    return MIN_TASK_ID + (parent_id - MIN_TASK_ID + STEP_STRIDE) % ID_SPAN


def asked_step_id(parent_id: int, step: ThenStep, attempt: int) -> int:
    """The id of the task running `step` on `parent_id`'s result when a client asks for it
    later (POST /batches/{id}/steps), the `attempt`-th time (0, then one more after each that
    failed): a fixed function of them, so that the same request made twice at once (a double
    click) writes one row, and the second finds the first's."""
    asked = [parent_id, step.app, dict(step.params), attempt]
    text = json.dumps(asked, sort_keys=True, separators=(",", ":"), default=str)
    drawn = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return MIN_TASK_ID + drawn % ID_SPAN


def next_step_of(task: Task) -> int | None:
    """The id of the task running `task`'s next step, once it has one to run: a completed
    task with steps to come (a failed or canceled one makes none)."""
    if task.status is TaskStatus.COMPLETED and task.then:
        return next_step_id(task.task_id)
    return None
