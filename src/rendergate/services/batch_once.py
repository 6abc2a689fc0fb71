"""An idempotent batch create: an Idempotency-Key covers the whole batch, as it covers a
task (services/idempotency.py): a retry gets the batch its first try made, never a second."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from rendergate.domain.batches import Batch
from rendergate.services.batching import Batching, NewBatch, create_batch
from rendergate.services.idempotency import CreatingOnce, claim_of, claimed
from rendergate.store.base import AlongWrite


def batch_fingerprint(request: NewBatch) -> str:
    """What makes two batch requests the same: every field, each image by its bytes or the
    task result it takes. Marked as a batch's, so a task's key is never a batch's."""
    views = [
        [
            view.angle,
            hashlib.sha256(view.image.data).hexdigest() if view.image else "",
            [view.parent.task_id, view.parent.index] if view.parent else None,
        ]
        for view in request.views
    ]
    reference = request.reference
    described = {
        "kind": "batch",
        "views": views,
        "reference": hashlib.sha256(reference.data).hexdigest() if reference else "",
        "app": request.app,
        "preset": request.preset,
        "params": request.params,
        "variations": request.variations,
        "seed": request.seed,
        "name": request.name,
        "then": [step.as_json() for step in request.then],
        "webhook_url": request.webhook_url,
        "webhook_events": sorted(request.webhook_events),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


async def create_batch_once(
    request: NewBatch,
    batching: Batching,
    *,
    owner: str,
    key: str | None,
    once: CreatingOnce | None,
) -> tuple[Batch, bool]:
    """The batch this key made (True: a replay), or a new one; without a key, a new one."""
    if key is None or once is None:
        batch, _ = await create_batch(request, batching, owner=owner)
        return batch, False

    async def make(along: Callable[[int], AlongWrite]) -> Batch:
        batch, _ = await create_batch(request, batching, owner=owner, along=along)
        return batch

    async def replay(batch_id: int) -> Batch:
        return await batching.batches.get(batch_id, owner=owner or None)

    settings, clock = batching.creating.settings, batching.creating.clock
    mine = claim_of(owner, key, batch_fingerprint(request), clock())
    return await claimed(mine, once.claims, settings, make=make, replay=replay)
