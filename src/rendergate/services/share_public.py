"""The public shapes of share links: what their owner sees of them (never the token, but
once, in the link made), and what a link's holder sees of the batch: its name, views and
shared results, with no price, params, seed, provider or key, since those are the owner's
business, not the client's."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from rendergate.domain.batches import archive_name
from rendergate.domain.media import extension_of
from rendergate.domain.shares import Share
from rendergate.domain.task import Task
from rendergate.domain.values import safe_text
from rendergate.services.batch_public import ViewPublic
from rendergate.services.shares import Shared


class SharePublic(BaseModel):
    share_id: int
    batch_id: int
    kept_only: bool = Field(description="Shows only the kept results (and steps made from them).")
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    url: str | None = Field(
        None, description="The link, with its token: only in the answer that made it."
    )


def present_share(share: Share, *, now: datetime, url: str | None = None) -> SharePublic:
    state: Literal["active", "expired", "revoked"] = "active"
    if share.revoked_at is not None:
        state = "revoked"
    elif now >= share.expires_at:
        state = "expired"
    return SharePublic(
        share_id=share.share_id,
        batch_id=share.batch_id,
        kept_only=share.kept_only,
        state=state,
        created_at=share.created_at,
        expires_at=share.expires_at,
        revoked_at=share.revoked_at,
        url=url,
    )


class SharedResult(BaseModel):
    task_id: int
    view: int = Field(description="Which view of the batch, from 0.")
    angle: str
    variation: int = Field(description="Which variation of the view, from 0.")
    step: bool = Field(description="Made from another result (an upscale of it).")
    name: str = Field(description="Its file name, as in the zip.")
    image_urls: list[str] = Field(description="Each of its images; empty once removed.")
    files_removed: bool = Field(description="Its files were removed for their age.")


class SharedBatchPublic(BaseModel):
    name: str
    kept_only: bool
    expires_at: datetime
    views: list[ViewPublic]
    results: list[SharedResult]
    archive_url: str | None = Field(description="A zip of the results; null with none.")


def present_shared(shared: Shared, *, base: str) -> SharedBatchPublic:
    """`base`: the link's own URL (…/s/{token}), under which every file is."""
    batch = shared.batch
    angles = tuple(safe_text(angle) for angle in batch.angles)
    results = [_result(task, shared, angles, base) for task in shared.results]
    return SharedBatchPublic(
        name=safe_text(batch.name),
        kept_only=shared.share.kept_only,
        expires_at=shared.share.expires_at,
        views=[ViewPublic(view=i, angle=angle) for i, angle in enumerate(angles)],
        results=results,
        archive_url=f"{base}/archive" if any(r.image_urls for r in results) else None,
    )


def file_name(task: Task, shared: Shared, index: int = 0) -> str:
    """The result's name in the link's zip, and as a download of its own."""
    step = task.parent is not None and task.parent.task_id in shared.member_ids
    output = task.outputs[index] if index < len(task.outputs) else None
    kind = extension_of(output.content_type) if output else "png"
    return archive_name(task, shared.batch.angles, index, kind, step=step)


def _result(task: Task, shared: Shared, angles: tuple[str, ...], base: str) -> SharedResult:
    view = task.member.view if task.member else 0
    removed = task.files_expired_at is not None
    return SharedResult(
        task_id=task.task_id,
        view=view,
        angle=angles[view] if view < len(angles) else "",
        variation=task.member.variation if task.member else 0,
        step=task.parent is not None and task.parent.task_id in shared.member_ids,
        name=file_name(task, shared),
        image_urls=[]
        if removed
        else [f"{base}/tasks/{task.task_id}/image?index={i}" for i in range(len(task.outputs))],
        files_removed=removed,
    )
