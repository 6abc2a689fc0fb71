"""The public shape of a task: the JSON body a GET answers and a client webhook carries.

Below both the API (api/routes) and the webhook sender (delivery/), so that neither reaches
into the other; the task API's fields first, as the task API specifies them."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from rendergate.domain.chains import next_step_of
from rendergate.domain.errors import ResultLost
from rendergate.domain.task import Task, TaskStatus
from rendergate.domain.values import renderable, safe_text


class ImagePublic(BaseModel):
    image_base64: str = Field("", description="The result's bytes, base64; empty until completed.")
    image_url: str = Field("", description="Durable rendergate URL of the result.")


class OutputPublic(BaseModel):
    index: int
    url: str
    content_type: str
    size: int
    node_id: str = ""
    file_type: str = ""


class SkipPublic(BaseModel):
    provider: str = Field(description="A provider of the app's routes that did not run the task.")
    reason: str = Field(description="Why it was passed over (not configured, busy, refused us).")


class ThenStepPublic(BaseModel):
    type: str = Field(description="The app the step runs.")
    params: dict[str, Any] = Field(description="Its params, the app's defaults filled in.")


class CostPublic(BaseModel):
    amount: str | None = Field(
        description="A decimal string in `currency`; null when the provider's figures and "
        "the rates set here cannot tell (the task may still have been billed)."
    )
    currency: str
    estimated: bool = Field(
        description="From a rate set here (coins, seconds, GPU-hours), not the provider's bill."
    )
    billed: bool | None = Field(
        description="Whether the provider billed anything: false for a task that ended "
        "before any job reached it; null when not known."
    )
    provider: dict[str, Any] | None = Field(description="The provider's own figures.")


class ChargePublic(BaseModel):
    amount: str = Field(description="A decimal string in `currency`.")
    currency: str
    refunded: bool = Field(
        description="Given back: the task failed, or was canceled before its provider started."
    )


class TaskPublic(BaseModel):
    task_id: int = Field(description="Random integer below 2^53, exact in JavaScript.")
    status: TaskStatus = Field(description="submitted, processing, completed, failed or canceled")
    progress: int = Field(ge=0, le=100, description="0-100, never moves backwards.")
    type: str = Field(description="The app that runs the task.")
    angle: str
    image: ImagePublic
    error_message: str
    provider: str = Field(description="The provider that runs (or ran) the task.")
    provider_job_id: str = Field(
        "",
        description="The provider's own id of the job (RunningHub taskId, Aliyun taskId, "
        "ComfyUI prompt id), which its support desk asks for; empty for the local engine "
        "and before the job is submitted.",
    )
    skipped_providers: list[SkipPublic] = Field(
        [], description="The app's earlier routes the task fell back from, in order, and why."
    )
    params: dict[str, Any]
    queue_position: int | None = Field(None, description="Tasks ahead of this one, when known.")
    outputs: list[OutputPublic] = []
    cost: CostPublic | None = Field(
        None, description="What it cost upstream, once finished; null until then."
    )
    chain_cost: dict[str, Any] | None = Field(
        None,
        description="For a task with `then` steps (GET /tasks/{id} only): its chain's costs "
        "added up, {amount, currency, estimated, unknown, charged}, over the steps made so far.",
    )
    charge: ChargePublic | None = Field(
        None, description="What its key was charged (its app's or preset's price); null: none."
    )
    attempts: int = 0
    seed: int | None = Field(
        None,
        description="The seed it ran with, 0 to 2^53-1 (the server's pick unless the "
        "create or re-run gave one); null only for tasks from before seeds were kept.",
    )
    rerun_of: int | None = Field(
        None, description="The task it runs again (POST /tasks/{id}/rerun); null otherwise."
    )
    preset: str = Field("", description="The preset it was made with; empty for none.")
    preset_version: int | None = Field(
        None, description="That preset's version when the task was made."
    )
    parent_task_id: int | None = Field(
        None,
        description="The task whose result is its image (image_task_id at create); null "
        "for an uploaded image.",
    )
    parent_task_index: int | None = Field(
        None, description="Which of that task's outputs (image_task_index)."
    )
    batch_id: int | None = Field(None, description="The batch it is a member of; null for none.")
    view: int | None = Field(None, description="Its view in that batch, from 0.")
    variation: int | None = Field(None, description="Its variation of that view, from 0.")
    then: list[ThenStepPublic] = Field(
        [],
        description="Steps still to run on its result once it completes: the first becomes "
        "a task of its own (in children), which keeps the rest.",
    )
    children: list[int] = Field(
        [],
        description="Tasks whose image is this one's result, oldest first: its next `then` "
        "step's and those created with its image_task_id. A webhook or event names the "
        "next step's task as the task completes, a moment before it exists.",
    )
    kept: bool = Field(
        False, description="Its owner kept it as a pick (PUT and DELETE /tasks/{id}/kept)."
    )
    kept_at: datetime | None = Field(None, description="When it was kept; null: not kept.")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    files_expired_at: datetime | None = Field(
        None,
        description="When its inputs and results were removed for their age (retention): "
        "from then on it has no image, and GET /tasks/{id}/image answers 410.",
    )


def present_task(
    task: Task,
    *,
    base: str,
    result: bytes | ResultLost | None = None,
    children: Sequence[int] | None = None,
    chain_cost: dict[str, Any] | None = None,
) -> TaskPublic:
    """The public shape of any stored task, whatever its row holds: text that is not valid
    Unicode and values nested too deeply to encode are mended, never a 500 (values.py). A
    `result` our storage lost is told as retention's is: no image, no link to a 410.
    `children`: the ids the store holds (TaskStore.children); None where they are not at
    hand (a webhook, an event): the next step's task, once the task completed, whose id is
    known before it is written (it will be: the finish step, or the reconciler)."""
    lost = isinstance(result, ResultLost)
    gone = bool(task.files_expired_at) or lost
    completed = task.status is TaskStatus.COMPLETED and bool(task.outputs) and not gone
    encoded = base64.b64encode(result).decode() if isinstance(result, bytes) else ""
    url = f"{base}/tasks/{task.task_id}/image"
    return TaskPublic(
        task_id=task.task_id,
        status=task.status,
        progress=task.progress,
        type=task.app,
        angle=safe_text(task.angle),
        image=ImagePublic(
            image_base64=encoded if completed else "",
            image_url=url if completed else "",
        ),
        error_message=str(result) if lost else safe_text(task.error_message),
        provider=task.provider,
        provider_job_id=safe_text(task.provider_job_id),
        skipped_providers=[
            SkipPublic(provider=s.provider, reason=safe_text(s.reason)) for s in task.skipped
        ],
        params=renderable(dict(task.params)),
        queue_position=task.queue_position,
        outputs=_outputs(task, "" if gone else url),
        cost=_cost(task),
        charge=_charge(task),
        attempts=task.attempts,
        seed=task.seed,
        rerun_of=task.rerun_of,
        preset=task.preset,
        preset_version=task.preset_version,
        **_links(task, children),
        chain_cost=chain_cost,
        kept=task.kept_at is not None,
        kept_at=task.kept_at,
        created_at=task.created_at,
        updated_at=task.updated_at,
        finished_at=task.finished_at,
        files_expired_at=task.files_expired_at,
    )


def _cost(task: Task) -> CostPublic | None:
    if not task.status.is_terminal:
        return None
    spent, raw = task.spent, renderable(dict(task.cost)) if task.cost else None
    return CostPublic(
        amount=spent.text if spent else None,
        currency=spent.currency if spent else (task.charge.currency if task.charge else ""),
        estimated=task.spent_estimated,
        billed=None if spent is None else spent.amount > 0,
        provider=raw,
    )


def _charge(task: Task) -> ChargePublic | None:
    charge = task.charge
    if charge is None:
        return None
    return ChargePublic(amount=charge.text, currency=charge.currency, refunded=task.refunded)


def _links(task: Task, children: Sequence[int] | None) -> dict[str, Any]:
    """How the task ties to others: the result it took, its batch, its chain."""
    parent, member = task.parent, task.member
    return {
        "parent_task_id": parent.task_id if parent else None,
        "parent_task_index": parent.index if parent else None,
        "batch_id": member.batch_id if member else None,
        "view": member.view if member else None,
        "variation": member.variation if member else None,
        "then": [ThenStepPublic(type=s.app, params=renderable(dict(s.params))) for s in task.then],
        "children": _children(task, children),
    }


def _children(task: Task, stored: Sequence[int] | None) -> list[int]:
    if stored is not None:
        return list(stored)
    step = next_step_of(task)
    return [] if step is None else [step]


def _outputs(task: Task, url: str) -> list[OutputPublic]:
    """Each result file, linked unless `url` is empty (its files are gone)."""
    return [
        OutputPublic(
            index=i,
            url=f"{url}?index={i}" if url else "",
            content_type=o.content_type,
            size=o.size,
            node_id=safe_text(o.node_id),
            file_type=safe_text(o.file_type),
        )
        for i, o in enumerate(task.outputs)
    ]
