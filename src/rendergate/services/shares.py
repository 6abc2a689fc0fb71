"""Share links (domain/shares.py): made, listed and revoked by the batch's owner; opened by
anyone holding the token, who sees the batch's shared results and nothing of its key.

A link is looked up by its token's hash, a unique index: an unknown token and a revoked
one take the same path and answer the same 404, so neither timing nor message tells them
apart, and the token itself is never compared or kept. A link speaks for the key that made
it, so revoking the key closes its links too (the same 404): a key revoked because it
leaked, or because its customer left, leaves nothing of theirs open to whoever holds a link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rendergate.domain.batches import Batch, summarize
from rendergate.domain.errors import ShareNotFound, TaskNotFound
from rendergate.domain.shares import Share, hash_token, new_token
from rendergate.domain.task import Task, TaskStatus
from rendergate.services.creating import new_task_id
from rendergate.services.keys import KeyRing
from rendergate.services.picks import picks_of
from rendergate.store.base import BatchStore, ShareStore


@dataclass(frozen=True)
class Sharing:
    """What share links use: their rows, the batches they show, the keys that made them,
    and the clock."""

    shares: ShareStore
    batches: BatchStore
    keys: KeyRing
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class Shared:
    """A batch as its link shows it: the results it shares, in the batch's order, and the
    ids of the batch's current members (a result whose parent is one is a step)."""

    share: Share
    batch: Batch
    results: tuple[Task, ...]
    member_ids: frozenset[int]


async def make_share(
    batch_id: int, sharing: Sharing, *, caller: str | None, days: int, kept_only: bool
) -> tuple[Share, str]:
    """A new link to the caller's batch (another key's is BatchNotFound), with its token:
    the one time the token is known."""
    batch = await sharing.batches.get(batch_id, owner=caller)
    token, now = new_token(), sharing.clock()
    share = Share(
        share_id=new_task_id(),
        owner=batch.owner,
        batch_id=batch_id,
        token_hash=hash_token(token),
        kept_only=kept_only,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    await sharing.shares.add(share)
    return share, token


async def shares_of(batch_id: int, sharing: Sharing, *, caller: str | None) -> list[Share]:
    """The links made for the caller's batch, revoked and expired ones too, oldest first."""
    batch = await sharing.batches.get(batch_id, owner=caller)
    return await sharing.shares.of_batch(batch.owner, batch_id)


async def revoke_share(
    batch_id: int, share_id: int, sharing: Sharing, *, caller: str | None
) -> Share:
    """The link revoked from now on (again: as it was); ShareNotFound when the caller's
    batch has no link of that id."""
    batch = await sharing.batches.get(batch_id, owner=caller)
    if share_id not in {s.share_id for s in await sharing.shares.of_batch(batch.owner, batch_id)}:
        raise ShareNotFound(f"batch {batch_id} has no share {share_id}")
    revoked = await sharing.shares.revoke(share_id, batch.owner, sharing.clock())
    if revoked is None:  # pragma: no cover - listed just above, and never deleted
        raise ShareNotFound(f"batch {batch_id} has no share {share_id}")
    return revoked


async def open_share(token: str, sharing: Sharing) -> Shared:
    """What the link shows now: ShareNotFound for an unknown or revoked token, or one whose
    key was revoked; ShareExpired past its expiry. Only completed results, and only picks if
    it says so."""
    share = await sharing.shares.by_hash(hash_token(token))
    if share is None or not await sharing.keys.still_active(share.owner):
        raise ShareNotFound()
    share.open_at(sharing.clock())
    batch = await sharing.batches.get(share.batch_id, owner=share.owner)
    members = summarize(batch, await sharing.batches.members(batch.batch_id)).members
    shown = picks_of(members) if share.kept_only else {task.task_id for task in members}
    results = tuple(
        task for task in members if task.task_id in shown and task.status is TaskStatus.COMPLETED
    )
    return Shared(share, batch, results, frozenset(task.task_id for task in members))


def shared_result(shared: Shared, task_id: int) -> Task:
    """One result the link shows; any other task, of this batch or another, is not found."""
    for task in shared.results:
        if task.task_id == task_id:
            return task
    raise TaskNotFound(task_id)
