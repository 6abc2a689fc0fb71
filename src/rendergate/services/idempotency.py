"""Idempotent create (Stripe's semantics): a client that retries `POST /tasks` with the
same Idempotency-Key gets the task its first try created, never a second render.

The key is claimed before the task is made (a concurrent duplicate then finds the claim
and gets 409), and tied to the task in the transaction that writes the task's row, so a
crash leaves either both or an unfinished claim, which lapses after ABANDONED_S. A claim
is scoped to the API key and kept for KEPT_FOR; a request refused as invalid releases it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from rendergate.domain.errors import InvalidInput, RequestInProgress
from rendergate.domain.task import Task
from rendergate.services.context import Services
from rendergate.services.tasks import NewTask, create_task, get_task
from rendergate.store.base import Claim

KEPT_FOR = timedelta(hours=24)
ABANDONED_S = 300.0  # a claim its create never completed (the process died) lapses after this
MAX_KEY_CHARS = 255


def fingerprint(request: NewTask) -> str:
    """What makes two requests the same: everything the task will do (the app, angle,
    params, each image's bytes, its webhook and its deadline)."""
    described = {
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
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


async def create_once(
    request: NewTask, *, services: Services, owner: str, key: str
) -> tuple[Task, bool]:
    """The task this key created (True: a replay), or a new one made under it."""
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters",
            field="Idempotency-Key",
            location="header",
        )
    claims = services.claims
    if claims is None:
        raise InvalidInput(
            "Idempotency-Key needs the SQL store", field="Idempotency-Key", location="header"
        )
    now = services.clock()
    mine = Claim(owner, key, fingerprint(request), now)
    held = await claims.claim(
        mine, stale_before=now - KEPT_FOR, abandoned_before=now - timedelta(seconds=ABANDONED_S)
    )
    if held is not None:
        return await _replay(held, mine, services=services), True
    try:
        task = await create_task(
            request, services=services, owner=owner, along=lambda t: claims.completing(mine, t)
        )
    except BaseException:
        await claims.release(mine)
        raise
    return task, False


async def _replay(held: Claim, mine: Claim, *, services: Services) -> Task:
    if held.fingerprint != mine.fingerprint:
        raise InvalidInput(
            "this Idempotency-Key was used with a different request in the last 24 hours: "
            "use a new key for a new task",
            field="Idempotency-Key",
            location="header",
        )
    if held.task_id is None:
        raise RequestInProgress(
            "a request with this Idempotency-Key is still being processed; retry shortly"
        )
    return await get_task(held.task_id, services=services, caller=mine.owner or None)
