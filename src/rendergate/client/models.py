"""What the API answers, as typed, frozen dataclasses. Parsing is lenient on purpose: a field
the server leaves out takes its default, and one this SDK does not know yet is kept in
`Task.raw`, so an older or newer server still reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from rendergate.client.money import Charge, Cost

T = TypeVar("T")


class TaskStatus(StrEnum):
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        """Completed, failed or canceled: the task will not change again."""
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED)


@dataclass(frozen=True)
class TaskImage:
    image_base64: str = ""  # only when asked for (get(include_base64=True)) and completed
    image_url: str = ""  # rendergate's own durable link to the result


@dataclass(frozen=True)
class Output:
    index: int
    url: str
    content_type: str = ""
    size: int = 0
    node_id: str = ""
    file_type: str = ""


@dataclass(frozen=True)
class SkippedProvider:
    provider: str
    reason: str


@dataclass(frozen=True)
class Task:
    """A task as GET /tasks/{id} shows it; `raw` is that JSON object as it came."""

    task_id: int
    status: TaskStatus
    progress: int = 0
    type: str = ""
    angle: str = ""
    image: TaskImage = TaskImage()
    error_message: str = ""
    provider: str = ""
    provider_job_id: str = ""
    skipped_providers: tuple[SkippedProvider, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    queue_position: int | None = None
    outputs: tuple[Output, ...] = ()
    cost: Cost | None = None  # what it cost upstream, once finished
    charge: Charge | None = None  # what its key was charged; None: no price
    attempts: int = 0
    seed: int | None = None  # None only for a task from before the server kept seeds
    rerun_of: int | None = None  # the task this one runs again
    preset: str = ""  # the preset it was made with
    preset_version: int | None = None  # that preset's version then
    parent_task_id: int | None = None  # the task whose result is its image (image_task_id)
    parent_task_index: int | None = None
    then: tuple[Mapping[str, Any], ...] = ()  # steps still to run on its result: {type, params}
    children: tuple[int, ...] = ()  # tasks whose image is its result: its next step's, ...
    batch_id: int | None = None  # the batch it is a member of
    view: int | None = None  # its view in that batch, from 0
    variation: int | None = None  # its variation of that view, from 0
    kept: bool = False  # kept as a pick (keep(), unkeep())
    kept_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task:
        return _build(
            cls,
            data,
            status=TaskStatus(data["status"]),
            image=_build(TaskImage, data.get("image") or {}),
            skipped_providers=tuple(
                _build(SkippedProvider, s) for s in data.get("skipped_providers") or ()
            ),
            outputs=tuple(_build(Output, o) for o in data.get("outputs") or ()),
            cost=_money(Cost, data.get("cost")),
            charge=_money(Charge, data.get("charge")),
            then=tuple(data.get("then") or ()),
            children=tuple(data.get("children") or ()),
            kept_at=_when(data.get("kept_at")),
            created_at=_when(data.get("created_at")),
            updated_at=_when(data.get("updated_at")),
            finished_at=_when(data.get("finished_at")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class TaskEvent:
    """One server-sent event: `id` the task's version (None for `task.queue`), `event` its
    name (task.submitted, task.processing, task.progress, task.completed, task.failed,
    task.canceled, task.queue, task.kept, task.unkept), `task` the task as it was then."""

    id: int | None
    event: str
    task: Task


@dataclass(frozen=True)
class DeliveryAttempt:
    at: datetime | None
    status_code: int | None  # None: the receiver did not answer
    latency_ms: int = 0
    error: str = ""


@dataclass(frozen=True)
class Delivery:
    """One webhook of a task, with its tries; `delivery_id` is its webhook-id header."""

    delivery_id: str
    event: str
    url: str
    state: str  # pending, delivered or failed
    created_at: datetime | None = None
    next_attempt_at: datetime | None = None
    attempts: tuple[DeliveryAttempt, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Delivery:
        return _build(
            cls,
            data,
            created_at=_when(data.get("created_at")),
            next_attempt_at=_when(data.get("next_attempt_at")),
            attempts=tuple(
                _build(DeliveryAttempt, a, at=_when(a.get("at"))) for a in data.get("attempts", ())
            ),
        )


@dataclass(frozen=True)
class AppParam:
    """One param of an app's form: build a form field from it. `type` is number, integer,
    boolean, string or choice; `min` and `max` bound a number or integer (inclusive),
    `choices` lists a choice's values; `default` is what the server fills in when a task
    leaves the param out (None: nothing)."""

    name: str
    type: str = "string"
    min: int | float | None = None
    max: int | float | None = None
    choices: tuple[str | int | float, ...] = ()
    default: bool | int | float | str | None = None
    label: str = ""
    description: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AppParam:
        return _build(cls, data, choices=tuple(data.get("choices") or ()))


@dataclass(frozen=True)
class App:
    """An app a task's `type` can name, and whether it can run on that server. `label` is
    its title in ASCII; `reference` is "required", "optional" or "none"; `params` its form,
    in the order the app declares it (empty: it declares none)."""

    name: str
    provider: str = ""
    title: str = ""
    label: str = ""
    description: str = ""
    reference: str = "optional"
    requires_reference: bool = False
    seed: bool = False
    angles: tuple[str, ...] = ()
    params: tuple[AppParam, ...] = ()
    deadline_s: float = 0.0
    available: bool = True
    unavailable_reason: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> App:
        return _build(
            cls,
            data,
            angles=tuple(data.get("angles", ())),
            params=tuple(AppParam.from_json(p) for p in data.get("params", ())),
        )


@dataclass(frozen=True)
class Preset:
    """A saved look: the app (`type`) a create with `preset=name` runs, its params (the
    create's merge over them) and whether it carries a reference image
    (preset_reference() fetches it). `version` grows with each edit; `built_in` ones come
    from the server's apps file."""

    name: str
    version: int = 1
    type: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    label: str = ""  # its name on a page; "" shows `name`
    reference: bool = False
    built_in: bool = False
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Preset:
        return _build(cls, data, created_at=_when(data.get("created_at")))


class BatchStatus(StrEnum):
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIAL = "partial"  # finished, some members failed
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        """Finished: completed, partial, failed or canceled (a retry may start it again)."""
        return self not in (BatchStatus.SUBMITTED, BatchStatus.PROCESSING)


@dataclass(frozen=True)
class BatchView:
    view: int  # from 0, in the order the images were given
    angle: str = ""


@dataclass(frozen=True)
class Batch:
    """A batch as GET /batches/{id} shows it: `tasks` its members (one per view and
    variation, by view then variation), `counts` its members per task status, `cost` their
    costs added up (exact, as text); `raw` the JSON object as it came."""

    batch_id: int
    status: BatchStatus
    name: str = ""
    progress: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    tasks: tuple[Task, ...] = ()
    cover_task_id: int | None = None  # the member whose result stands for it: a kept one
    cost: Mapping[str, str] | None = None
    type: str = ""
    preset: str = ""
    preset_version: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0  # variation k of each view ran with seed + k
    variations: int = 1
    views: tuple[BatchView, ...] = ()
    then: tuple[Mapping[str, Any], ...] = ()
    archive_url: str = ""
    created_at: datetime | None = None
    canceled_at: datetime | None = None
    finished_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Batch:
        return _build(
            cls,
            data,
            status=BatchStatus(data["status"]),
            tasks=tuple(Task.from_json(t) for t in data.get("tasks") or ()),
            views=tuple(_build(BatchView, v) for v in data.get("views") or ()),
            then=tuple(data.get("then") or ()),
            created_at=_when(data.get("created_at")),
            canceled_at=_when(data.get("canceled_at")),
            finished_at=_when(data.get("finished_at")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook: `id` its webhook-id (the same on every retry: deduplicate on it),
    `type` the event (task.completed, ...), `task` the task as the event saw it."""

    id: str
    type: str
    timestamp: datetime | None
    task: Task


def _build(cls: type[T], data: Mapping[str, Any], **converted: Any) -> T:
    """`cls` from the fields of `data` it declares, with `converted` ones replacing theirs."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names} | converted)


def _money(cls: type[Cost] | type[Charge], value: Any) -> Any:
    """A cost or charge object; None when the server sends none (or a shape from before
    money: a bare dict of the provider's figures is still in `raw`)."""
    return cls.from_json(value) if isinstance(value, Mapping) and "currency" in value else None


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
