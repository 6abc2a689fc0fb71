"""Steps on chosen members (POST /batches/{id}/steps): the chained step (`then`), asked for
once the batch has run, on the results its owner chose (the kept ones, or named ones).

Each step's task is made as the chain makes one (workflow/chaining.py: `inherited`): the
member's result is its image, it takes the member's place, seed and webhook, so it counts in
the batch (its grid, stream, zip and cost). Unlike a chain's step it is asked for by the
client, so it is counted against the key's limits and budget, all the steps of one request
together, and charged at the key's price. A member that already has the step (running or
completed) is answered with it, not run again: its id is derived from the member's, the step
and the attempt, so the same request made twice at once writes one row. The batch, if it had
ended, is reopened as a retry reopens it and told its end again once the steps end."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog

from rendergate.domain.apps import AppSpec
from rendergate.domain.batches import Batch, Summary, summarize
from rendergate.domain.chains import ThenStep, asked_step_id, next_step_id
from rendergate.domain.errors import InvalidInput, InvalidTransition, TaskNotFound
from rendergate.domain.limits import Adding
from rendergate.domain.task import ResultRef, Task, TaskStatus
from rendergate.imaging.inputs import CheckedImage
from rendergate.services.admission import key_limits
from rendergate.services.batches import Settling, read_batch, settle
from rendergate.services.chains import checked_step
from rendergate.services.create_checks import Upload, check_upload
from rendergate.services.creating import (
    Creating,
    NewTask,
    all_of,
    charge_of,
    new_row,
    within_key_limits,
)
from rendergate.services.routing import RunsHere
from rendergate.services.tasks import result_bytes
from rendergate.store.base import AlongWrite, TaskIdTaken
from rendergate.workflow.chaining import inherited

log = structlog.get_logger(__name__)
STEP_KIND = "upscale"  # the kind of app a step on chosen results runs (GET /apps `kind`)
ENDED_UNRUN = (TaskStatus.FAILED, TaskStatus.CANCELED)  # a step that ended so runs again
ROUNDS = 3  # a round lost to a request the same at once finds that one's steps the next


@dataclass(frozen=True, kw_only=True)
class StepsAsked:
    app: str
    params: Mapping[str, Any] = field(default_factory=dict)
    tasks: tuple[int, ...] | None = None  # None: the batch's kept results


@dataclass(frozen=True)
class Stepping:
    """What adding steps uses: a create's parts (limits, prices, storage, queue) and the
    batch's (its rows, and recording its end again)."""

    creating: Creating
    settling: Settling


@dataclass(frozen=True)
class StepsAdded:
    batch: Batch
    summary: Summary
    steps: tuple[Task, ...]  # one per chosen member, in order: made now or found
    made: int  # how many of them were made by this request


async def add_steps(
    batch_id: int, asked: StepsAsked, stepping: Stepping, *, caller: str | None
) -> StepsAdded:
    """Runs `asked`'s step on each chosen member of the batch; BatchNotFound for another
    key's batch, InvalidInput for an app that is not an upscaler or a task not in the
    batch, InvalidTransition for a chosen member that has not completed (nothing made)."""
    creating, batches = stepping.creating, stepping.settling.batches
    batch = await batches.get(batch_id, owner=caller)
    app, step = _checked(asked, creating)
    for _ in range(ROUNDS):
        every = await batches.members(batch_id)
        current = summarize(batch, every).members
        chosen = _chosen(batch_id, current, asked.tasks, step)
        found = {m.task_id: _running_step(m, step, current) for m in chosen}
        todo = [m for m in chosen if found[m.task_id] is None]
        try:
            made = await _make(todo, step, app, every, batch.owner, creating)
        except TaskIdTaken:  # the same request, at once: its rows are found next round
            log.info("steps made by another request first", batch_id=batch_id)
            continue
        break
    else:  # pragma: no cover - three requests racing, each beaten by another
        raise InvalidTransition(f"batch {batch_id} is being changed: ask again")
    if made:
        await _reopened(batch_id, stepping.settling)
    batch, summary = await read_batch(batch_id, batches, caller=caller)
    by_id = {task.task_id: task for task in (*made, *summary.members)}
    steps = [found[m.task_id] or made[todo.index(m)] for m in chosen]
    return StepsAdded(batch, summary, tuple(by_id[s.task_id] for s in steps), len(made))


def _checked(asked: StepsAsked, creating: Creating) -> tuple[AppSpec, ThenStep]:
    """The step's app, which must be an upscaler that runs here, and its params checked."""
    here = RunsHere(creating.providers, creating.settings)
    step = checked_step(ThenStep(asked.app, dict(asked.params)), here, creating.apps)
    app = creating.apps[step.app]
    if app.kind != STEP_KIND:
        raise InvalidInput(
            f"app {app.name!r} is a {app.kind} app; a step on chosen results runs an app of "
            f"kind {STEP_KIND} (GET /apps)",
            field="type",
        )
    return app, step


def _chosen(
    batch_id: int, current: Sequence[Task], asked: tuple[int, ...] | None, step: ThenStep
) -> list[Task]:
    """The members named (each once, in order), else the kept ones that are not themselves
    this step's results; each must have completed."""
    by_id = {task.task_id: task for task in current}
    if asked is None:
        chosen = [t for t in current if t.kept_at is not None and t.app != step.app]
        if not chosen:
            raise InvalidTransition(
                f"batch {batch_id} has no kept result to run {step.app} on: keep one "
                "(PUT /tasks/{id}/kept) or name the tasks"
            )
    else:
        if absent := [task_id for task_id in asked if task_id not in by_id]:
            raise InvalidInput(f"task {absent[0]} is not in batch {batch_id}", field="tasks")
        chosen = [by_id[task_id] for task_id in dict.fromkeys(asked)]
    for task in chosen:
        if task.status is not TaskStatus.COMPLETED:
            raise InvalidTransition(
                f"task {task.task_id} is {task.status}: a step runs on a completed result"
            )
    return chosen


def _steps_of(member: Task, step: ThenStep, tasks: Iterable[Task]) -> list[Task]:
    """The tasks that ran `step` (its app, its params) on `member`'s result."""
    source = ResultRef(member.task_id, 0)
    return [
        task
        for task in tasks
        if task.parent == source and task.app == step.app and task.params == step.params
    ]


def _running_step(member: Task, step: ThenStep, current: Sequence[Task]) -> Task | None:
    """The member's step already made and not failed or canceled: the answer, unpaid again."""
    made = _steps_of(member, step, current)
    return next((task for task in made if task.status not in ENDED_UNRUN), None)


def _request(member: Task, step: ThenStep, every: Sequence[Task]) -> tuple[int, NewTask]:
    """The step's task as the chain makes it, and its id. Where it is the very step the
    member's own `then` runs next, the chain's id (one row, whoever writes first) and the
    steps after it; else an id drawn from the member, the step and how many ran before."""
    attempt = len(_steps_of(member, step, every))
    request = inherited(member, step)
    if attempt == 0 and member.then and member.then[0] == step:
        return next_step_id(member.task_id), request
    return asked_step_id(member.task_id, step, attempt), dataclasses.replace(request, then=())


async def _make(
    todo: Sequence[Task],
    step: ThenStep,
    app: AppSpec,
    every: Sequence[Task],
    owner: str,
    creating: Creating,
) -> list[Task]:
    """The steps' tasks written in one transaction, within the key's limits for them all
    (LimitReached: none is), and queued. TaskIdTaken: a request the same wrote one first."""
    if not todo:
        return []
    settings = creating.settings
    route = (*RunsHere(creating.providers, settings).first_route(app), owner)
    limits = await key_limits(owner, creating.keys, settings)
    asked = [_request(member, step, every) for member in todo]
    charge = charge_of(asked[0][1], app, settings.currency, limits.prices)
    each = charge.amount if charge is not None else Decimal(0)
    async with within_key_limits(
        owner, limits, Adding(len(todo), each * len(todo)), creating
    ) as admit:
        images = [await _image(member, creating) for member in todo]
        now = creating.clock()
        rows = [
            new_row(
                task_id,
                dataclasses.replace(request, charge=charge),
                route,
                [("image", image)],
                now=now,
            )
            for (task_id, request), image in zip(asked, images, strict=True)
        ]
        await _write(rows, images, admit, creating)
    log.info("steps made", app=app.name, tasks=[row.task_id for row in rows])
    return rows


async def _image(member: Task, creating: Creating) -> CheckedImage:
    """The member's result, checked as a create's image is (410 once retention took it)."""
    data = await result_bytes(member, blobs=creating.blobs)
    kind = member.outputs[0].content_type
    return await check_upload(Upload(role="image", data=data, content_type=kind), creating.settings)


async def _write(
    rows: Sequence[Task],
    images: Sequence[CheckedImage],
    admit: AlongWrite | None,
    creating: Creating,
) -> None:
    """The images, then the rows, their workflows (where the orchestrator shares the
    database) and the limits' check in one transaction; then the rest queued. Images whose
    row was not written are removed, unless a request the same wrote it (TaskIdTaken)."""
    try:
        for row, image in zip(rows, images, strict=True):
            await creating.blobs.put(row.inputs["image"].key, image.data)
        queuing = [creating.orchestrator.queuing(row) for row in rows]
        writes = [write for write in (*queuing, admit) if write is not None]
        await creating.store.add_all(rows, along=all_of(writes) if writes else None)
    except TaskIdTaken:
        raise
    except BaseException:
        await _remove_unwritten(rows, creating)
        raise
    for row, queued in zip(rows, queuing, strict=True):
        if queued is None:
            try:
                await creating.orchestrator.start(row)
            except Exception:  # stored: the reconcile sweep queues it shortly
                log.warning("queuing a step failed; reconcile will", task_id=row.task_id)


async def _remove_unwritten(rows: Sequence[Task], creating: Creating) -> None:
    for row in rows:
        with contextlib.suppress(Exception):  # a leftover input is only a file
            try:
                await creating.store.get(row.task_id)
            except TaskNotFound:
                await creating.blobs.delete(row.inputs["image"].key)


async def _reopened(batch_id: int, settling: Settling) -> None:
    """The batch running again if it had ended (as a retry reopens it), so that its end is
    recorded and told again once the steps end; settled at once should they have ended."""
    batch = await settling.batches.get(batch_id)
    if batch.ended is not None:
        await settling.batches.reopen(batch_id)
    await settle(batch_id, settling)
