"""The public shape of a batch: what POST and GET /batches answer and a batch webhook
carries. Its members are tasks in GET /tasks/{id}'s shape (presenting.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from rendergate.domain.batches import Batch, BatchStatus, Summary
from rendergate.domain.money import Money
from rendergate.domain.task import Task, TaskStatus
from rendergate.domain.values import renderable, safe_text
from rendergate.services.presenting import TaskPublic, present_task


class ViewPublic(BaseModel):
    view: int = Field(description="Its index in the batch, from 0, in the order given.")
    angle: str = Field(description="The angle given with it; empty for none.")


class BatchPublic(BaseModel):
    batch_id: int = Field(description="Random integer below 2^53, exact in JavaScript.")
    name: str
    status: BatchStatus = Field(
        description="submitted, processing, completed, partial (finished, some members "
        "failed), failed or canceled"
    )
    progress: int = Field(ge=0, le=100, description="Over every view, variation and step.")
    counts: dict[str, int] = Field(description="Its current members per task status.")
    tasks: list[TaskPublic] = Field(
        description="Its current members, by view, variation and step: one per view and "
        "variation, each `then` step's task after it, a retry in place of what it runs again "
        "(empty in a list asked with members=false)."
    )
    cover_task_id: int | None = Field(
        None,
        description="The member whose result stands for the batch (the first kept, else the "
        "first completed, by view and variation), for a list's picture: "
        "GET /tasks/{id}/thumbnail; null before any.",
    )
    cost: dict[str, Any] | None = Field(
        None,
        description="The members' costs added up: {amount, currency, estimated, unknown (how "
        "many cost what cannot be told), charged (net of refunds)}; null before any.",
    )
    type: str = Field(description="The app every member runs.")
    preset: str = ""
    preset_version: int | None = None
    params: dict[str, Any]
    seed: int = Field(description="Variation k of each view runs with seed + k.")
    variations: int
    views: list[ViewPublic]
    then: list[dict[str, Any]] = Field([], description="The steps run on each result.")
    archive_url: str = Field(description="A zip of every result (GET, once it has any).")
    created_at: datetime
    canceled_at: datetime | None = None
    finished_at: datetime | None = Field(None, description="When its end was recorded.")


def present_batch(
    batch: Batch, summary: Summary, *, base: str, members: bool = True
) -> BatchPublic:
    """`members` False leaves `tasks` empty: a page of 20 batches of 48 members each is
    otherwise a megabyte to a phone that shows one picture per batch."""
    return BatchPublic(
        batch_id=batch.batch_id,
        name=safe_text(batch.name),
        status=summary.status,
        progress=summary.progress,
        counts=dict(summary.counts),
        tasks=[present_task(task, base=base) for task in summary.members] if members else [],
        cover_task_id=cover_of(summary.members),
        cost=total_cost(summary.members),
        type=batch.app,
        preset=batch.preset,
        preset_version=batch.preset_version,
        params=renderable(dict(batch.params)),
        seed=batch.seed,
        variations=batch.variations,
        views=[ViewPublic(view=i, angle=safe_text(a)) for i, a in enumerate(batch.angles)],
        then=[renderable(dict(step)) for step in batch.then],
        archive_url=f"{base}/batches/{batch.batch_id}/archive",
        created_at=batch.created_at,
        canceled_at=batch.canceled_at,
        finished_at=batch.ended_at,
    )


def cover_of(members: tuple[Task, ...]) -> int | None:
    """The first kept member (the owner's own pick stands for the batch), else the first
    completed one, by view, variation and step; None before any has completed."""
    kept = next((t.task_id for t in members if t.kept_at is not None), None)
    done = next((t.task_id for t in members if t.status is TaskStatus.COMPLETED), None)
    return kept if kept is not None else done


def total_cost(members: tuple[Task, ...]) -> dict[str, Any] | None:
    """The members' costs and charges added up exactly (decimal strings): what the finished
    ones cost upstream (`unknown`: how many cost what cannot be told), and what was charged
    net of refunds. None while no member has finished or been charged."""
    spent = [t.spent for t in members if t.spent is not None]
    charged = [t.charge for t in members if t.charge is not None and not t.refunded]
    unknown = sum(t.status.is_terminal and t.spent is None for t in members)
    if not spent and not charged and not unknown:
        return None
    currency = (spent or charged)[0].currency if spent or charged else ""
    return {
        "amount": _sum(spent, currency),
        "currency": currency,
        "estimated": any(t.spent_estimated for t in members),
        "unknown": unknown,
        "charged": _sum(charged, currency),
    }


def _sum(amounts: list[Money], currency: str) -> str:
    total = Money(Decimal(0), currency) if currency else None
    for money in amounts:
        total = money if total is None else total + money
    return total.text if total is not None else "0"
