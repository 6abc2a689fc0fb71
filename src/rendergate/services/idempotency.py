"""Idempotent create (Stripe's semantics): a client that retries `POST /tasks` with the
same Idempotency-Key gets the task its first try created, never a second render.

The key is claimed before the task is made (a concurrent duplicate then finds the claim
and gets 409 with Retry-After), and tied to the task in the transaction that writes the
task's row, so a crash leaves either both or an unfinished claim. The claim holds a lease
its request renews while the create runs: once the process dies the lease lapses within
`lease_s` (a heartbeat of the cluster, a sixth of RENDERGATE_WORKER_DEAD_AFTER_S), or at
once on SQLite, and a retry takes the key over. A claim is scoped to the API key and kept
for KEPT_FOR; a request refused as invalid releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import structlog

from rendergate.config.settings import Settings
from rendergate.domain.errors import InvalidInput, RequestInProgress
from rendergate.domain.task import Task
from rendergate.services.cache import FinishedTasks
from rendergate.services.creating import Creating, NewTask, create_task
from rendergate.services.tasks import get_task
from rendergate.store.base import AlongWrite, Claim, ClaimLost, ClaimStore

log = structlog.get_logger(__name__)

T = TypeVar("T")
KEPT_FOR = timedelta(hours=24)
MAX_KEY_CHARS = 255


def lease_s(settings: Settings) -> float:
    """How long a claim outlives its holder's last renewal: one heartbeat of the cluster,
    so a dead create frees its key well within the dead-worker interval."""
    return settings.worker_dead_after_s / 6


def fingerprint(request: NewTask) -> str:
    """What makes two requests the same: everything the task will do (the app, angle,
    params, each image's bytes or the task result it takes, its webhook, its deadline, its
    seed and the task it runs again). Fields left unset are left out, so a request that
    names none of the newer ones keeps the fingerprint it had before they existed."""
    described: dict[str, object] = {
        "app": request.app,
        "angle": request.angle,
        "params": request.params,
        "webhook_url": request.webhook_url,
        "webhook_events": sorted(request.webhook_events),
        "deadline_s": request.deadline_s,
        "uploads": sorted(
            (u.role, hashlib.sha256(u.data).hexdigest(), u.content_type or "")
            for u in request.uploads
        ),
    }
    for name in ("seed", "rerun_of", "preset"):
        if (value := getattr(request, name)) not in (None, ""):
            described[name] = value
    if request.parent is not None:
        described["parent"] = [request.parent.task_id, request.parent.index]
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class CreatingOnce:
    """What an idempotent create uses: the create itself, the claims on keys, and the
    finished tasks' cache a replay reads through."""

    creating: Creating
    claims: ClaimStore
    finished: FinishedTasks


async def create_once(
    request: NewTask, once: CreatingOnce, *, owner: str, key: str
) -> tuple[Task, bool]:
    """The task this key created (True: a replay), or a new one made under it."""
    creating = once.creating
    store, caller = creating.store, owner or None

    async def make(along: Callable[[int], AlongWrite]) -> Task:
        return await create_task(request, creating, owner=owner, along=along)

    async def replay(task_id: int) -> Task:
        return await get_task(task_id, store=store, finished=once.finished, caller=caller)

    mine = claim_of(owner, key, fingerprint(request), creating.clock())
    return await claimed(mine, once.claims, creating.settings, make=make, replay=replay)


def claim_of(owner: str, key: str, print_: str, now: datetime) -> Claim:
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters",
            field="Idempotency-Key",
            location="header",
        )
    return Claim(owner, key, print_, now, holder=secrets.token_hex(16))


async def claimed(
    mine: Claim,
    claims: ClaimStore,
    settings: Settings,
    *,
    make: Callable[[Callable[[int], AlongWrite]], Awaitable[T]],
    replay: Callable[[int], Awaitable[T]],
) -> tuple[T, bool]:
    """What `mine`'s key made before (`replay` of the id it names; True), or what `make`
    makes under it, tying the key to the new id in the row's transaction (its `along`)."""
    lease = lease_s(settings)
    held = await claims.claim(mine, stale_before=mine.created_at - KEPT_FOR, lease_s=lease)
    if held is not None:
        if held.fingerprint != mine.fingerprint:
            raise InvalidInput(
                "this Idempotency-Key was used with a different request in the last 24 "
                "hours: use a new key for a new request",
                field="Idempotency-Key",
                location="header",
            )
        if held.task_id is None:
            raise _in_progress(lease)
        return await replay(held.task_id), True
    try:
        async with _renewing(claims, mine, lease):
            made = await make(lambda made_id: claims.completing(mine, made_id))
    except ClaimLost:  # another request has the key now: its answer is the one to give
        raise _in_progress(lease) from None
    except BaseException:
        await claims.release(mine)
        raise
    return made, False


@contextlib.asynccontextmanager
async def _renewing(claims: ClaimStore, claim: Claim, lease: float) -> AsyncIterator[None]:
    """Renews the claim's lease every third of it while the block runs."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await claims.renew(claim, lease_s=lease)
            except Exception as exc:  # the next turn tries again; completing checks the claim
                log.warning("renewing an Idempotency-Key claim failed", error=type(exc).__name__)

    renewing = asyncio.create_task(renew(), name="renew claim")
    try:
        yield
    finally:
        renewing.cancel()
        await asyncio.wait({renewing})


def _in_progress(lease: float) -> RequestInProgress:
    """Retry-After a lease: by then the first request has finished, or is known to be gone."""
    return RequestInProgress(
        "a request with this Idempotency-Key is still being processed; retry shortly",
        retry_after_s=max(1, math.ceil(lease)),
    )
