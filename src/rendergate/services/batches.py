"""Use cases behind /batches once a batch exists: read, list, cancel, retry, and its end
told once (creating one is batching.py).

A batch's end is recorded, with its webhook, by whichever comes first: the workflow of
its last member to finish, a cancel, or the reconcile sweep (`settle`). The record is a
compare-and-set, so it is told once however many try.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from rendergate.config.settings import Settings
from rendergate.domain.batches import Batch, BatchStatus, Summary, summarize
from rendergate.domain.errors import InvalidTransition
from rendergate.domain.events import Delivery, EventType
from rendergate.domain.task import Task, TaskStatus
from rendergate.domain.values import check_text
from rendergate.services.batch_public import BatchPublic, present_batch
from rendergate.services.changes import Changes
from rendergate.services.creating import Creating, create_task
from rendergate.services.links import outbound_base_of
from rendergate.services.rerunning import Rerun, Rerunning, rerun_request
from rendergate.services.tasks import (
    Cancelling,
    cancel_task,
    decode_cursor,
    encode_page,
    placed_all,
)
from rendergate.store.base import BatchPage, BatchStore, Page, TaskStore
from rendergate.store.codec import delivery_to_row
from rendergate.store.events import message_delivery

log = structlog.get_logger(__name__)


async def read_batch(
    batch_id: int, batches: BatchStore, *, caller: str | None
) -> tuple[Batch, Summary]:
    """The batch and what its members make of it now; another key's is BatchNotFound."""
    batch = await batches.get(batch_id, owner=caller)
    return batch, summarize(batch, await batches.members(batch_id))


async def read_batch_placed(
    batch_id: int, batches: BatchStore, store: TaskStore, *, caller: str | None
) -> tuple[Batch, Summary]:
    """read_batch, each waiting member with its place in our queue (GET /batches/{id} and
    its event stream: the grid shows where each waits)."""
    batch, summary = await read_batch(batch_id, batches, caller=caller)
    placed = await placed_all(summary.members, store)
    return batch, dataclasses.replace(summary, members=placed)


async def list_batches(
    batches: BatchStore, *, caller: str | None, cursor: str | None, limit: int, name: str = ""
) -> tuple[list[tuple[Batch, Summary]], str | None]:
    """Newest first, `limit` a page, with the cursor of the next page (None: the last);
    `name`: only the batches whose name holds it, in any case."""
    check_text(name, what="q", field="q", location="query")
    after = None
    if cursor:
        page_of = decode_cursor(cursor)
        after = BatchPage(page_of.created_at, page_of.task_id)
    found = await batches.find(owner=caller, after=after, limit=limit + 1, name_contains=name)
    page = found[:limit]
    summaries = [(b, summarize(b, await batches.members(b.batch_id))) for b in page]
    if len(found) <= limit or not page:
        return summaries, None
    return summaries, encode_page(Page(created_at=page[-1].created_at, task_id=page[-1].batch_id))


@dataclass(frozen=True)
class Settling:
    """What recording a batch's end uses: its rows, the clock, and the change notices that
    wake this process's delivery loop."""

    batches: BatchStore
    clock: Callable[[], datetime]
    changes: Changes
    settings: Settings  # the base of its webhook's links


async def settle(batch_id: int, settling: Settling) -> BatchStatus | None:
    """Records the batch's end, with its webhook, if every member (and chain) is finished
    and no one recorded it yet; returns the end recorded here, else None."""
    batches = settling.batches
    batch = await batches.get(batch_id)
    if batch.ended is not None:
        return None
    summary = summarize(batch, await batches.members(batch_id))
    if not summary.status.is_terminal:
        return None
    now = settling.clock()
    row = None
    if batch.webhook_url:
        base = outbound_base_of(settling.settings, batch.link_base)
        row = delivery_to_row(_end_delivery(batch, summary, now, base))
    if not await batches.end(batch, summary.status, now, row):
        return None
    log.info("batch ended", batch_id=batch_id, status=summary.status.value)
    settling.changes.publish(batch_id, row is not None)
    return summary.status


@contextlib.contextmanager
def settling_on_end(settling: Settling) -> Iterator[None]:
    """While inside: each batch member this process finishes settles its batch at once,
    in the background (the sweep, `settle_all`, covers a process that dies first)."""
    running: set[asyncio.Task[object]] = set()

    def member_ended(task: Task) -> None:
        if task.member is None:
            return
        settling_one = asyncio.create_task(_settle_quietly(task.member.batch_id, settling))
        running.add(settling_one)
        settling_one.add_done_callback(running.discard)

    settling.changes.on_end(member_ended)
    try:
        yield
    finally:
        settling.changes.no_end(member_ended)
        for each in running:
            each.cancel()


async def _settle_quietly(batch_id: int, settling: Settling) -> object:
    try:
        return await settle(batch_id, settling)
    except Exception:  # the sweep tries again
        log.exception("settling a batch failed", batch_id=batch_id)
        return None


async def settle_all(settling: Settling) -> int:
    """The sweep's safety net: settles every batch whose end is not recorded yet (a
    worker that died between its last member's end and the record); how many it ended."""
    ended = 0
    for batch in await settling.batches.unended():
        ended += await settle(batch.batch_id, settling) is not None
    return ended


def _end_delivery(batch: Batch, summary: Summary, now: datetime, base: str) -> Delivery:
    ended = dataclasses.replace(batch, ended=summary.status, ended_at=now)
    event = EventType(f"batch.{summary.status.value}")
    data = present_batch(ended, summary, base=base).model_dump(mode="json")
    return message_delivery(
        subject=batch.batch_id,
        owner=batch.owner,
        event=event,
        url=batch.webhook_url,
        data=data,
        now=now,
    )


async def cancel_batch(
    batch_id: int, cancelling: Cancelling, settling: Settling, *, caller: str | None
) -> tuple[Batch, Summary]:
    """Cancels every unfinished member; the batch ends `canceled` once they have."""
    batches = settling.batches
    batch = await batches.get(batch_id, owner=caller)
    if batch.ended is not None:
        raise InvalidTransition(f"batch {batch_id} is already {batch.ended} and cannot be canceled")
    await batches.mark_canceled(batch_id, settling.clock())
    for task in await batches.members(batch_id):
        if not task.status.is_terminal:
            try:
                await cancel_task(task.task_id, cancelling)
            except InvalidTransition:  # it finished meanwhile
                continue
    await settle(batch_id, settling)
    return await read_batch(batch_id, batches, caller=caller)


async def retry_batch(
    batch_id: int,
    creating: Creating,
    settling: Settling,
    *,
    caller: str | None,
    link_base: str,
) -> tuple[Batch, Summary, list[Task]]:
    """Runs the batch's failed and canceled members again, as new members of it (each
    names the one it replaces in `rerun_of`); 409 when none failed or it is unfinished."""
    batches = settling.batches
    batch, summary = await read_batch(batch_id, batches, caller=caller)
    if not summary.status.is_terminal:
        raise InvalidTransition(f"batch {batch_id} is {summary.status}: retry it once it ends")
    ended = [t for t in summary.members if t.status in (TaskStatus.FAILED, TaskStatus.CANCELED)]
    if not ended:
        raise InvalidTransition(f"batch {batch_id} has no failed or canceled member to retry")
    rerunning = Rerunning(creating.store, creating.blobs)
    retried = await _rerun_members(ended, rerunning, creating, link_base)
    await batches.reopen(batch_id)
    batch, summary = await read_batch(batch_id, batches, caller=caller)
    return batch, summary, retried


async def _rerun_members(
    ended: Sequence[Task], rerunning: Rerunning, creating: Creating, link_base: str
) -> list[Task]:
    """Each member run again from its stored inputs, with its seed, in its place."""
    made = []
    for task in ended:
        request = await rerun_request(
            task.task_id, Rerun(), rerunning, caller=None, link_base=link_base
        )
        request = dataclasses.replace(
            request,
            member=task.member,
            preset=task.preset,
            preset_version=task.preset_version,
            parent=task.parent,
            then=task.then,
        )
        made.append(await create_task(request, creating, owner=task.owner))
    return made


def public(batch: Batch, summary: Summary, *, base: str) -> BatchPublic:
    return present_batch(batch, summary, base=base)
