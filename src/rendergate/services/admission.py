"""What a create must pass, beyond its inputs, before anything is stored: its API key's
limits, and where its webhooks may go.

The rate limit counts creates in this API process (a sliding minute per key): behind N
API processes a key gets up to N times it. A create refused after the limits are checked
(its images are read last, so that a key over its limits costs no decoding) is not
counted. The in-flight and daily limits count the key's tasks in the database, so they
hold across processes; creates racing each other can pass them by as many as race.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable
from datetime import datetime, time, timedelta

from pydantic import SecretStr

from rendergate.config.settings import Settings
from rendergate.domain.errors import InvalidInput, LimitReached
from rendergate.services.ports import Fetcher
from rendergate.services.rates import CreateRates
from rendergate.store.base import TaskStore

IN_FLIGHT_RETRY_S = 10  # when a task in flight may have finished: a guess, said as one


@contextlib.asynccontextmanager
async def within_limits(
    owner: str,
    *,
    settings: Settings,
    store: TaskStore,
    rates: CreateRates,
    clock: Callable[[], datetime],
    count: int = 1,
) -> AsyncIterator[None]:
    """Checks the key's limits for `count` new tasks (a batch's members) and counts them
    against its rate; creates that fail inside the block (refused for their input, say)
    are given back."""
    await _check_counts(owner, settings=settings, store=store, clock=clock, count=count)
    per_minute = settings.rate_limit_per_minute
    stamp = rates.take(owner, per_minute, count) if per_minute else None
    try:
        yield
    except BaseException:
        if stamp is not None:
            rates.give_back(owner, stamp, count)
        raise


async def _check_counts(
    owner: str,
    *,
    settings: Settings,
    store: TaskStore,
    clock: Callable[[], datetime],
    count: int,
) -> None:
    """The limits counted in the database: tasks in flight, and created today."""
    if settings.max_in_flight_per_key:
        cap = settings.max_in_flight_per_key
        unfinished = await store.count_owned(owner, unfinished=True)
        if unfinished + count > cap:
            more = f"; these {count} tasks do not fit" if count > 1 else ""
            raise LimitReached(
                f"this key has {unfinished} unfinished tasks, its limit of tasks in flight "
                f"is {cap}{more}; wait for one to finish",
                retry_after_s=IN_FLIGHT_RETRY_S,
            )
    if settings.daily_tasks_per_key:
        quota, now = settings.daily_tasks_per_key, clock()
        midnight = datetime.combine(now.date(), time(), tzinfo=now.tzinfo)
        created = await store.count_owned(owner, since=midnight)
        if created + count > quota:
            tomorrow = midnight + timedelta(days=1)
            raise LimitReached(
                f"this key has created {created} tasks today, its daily limit (UTC days) "
                f"is {quota}" + (f"; these {count} tasks do not fit" if count > 1 else ""),
                retry_after_s=math.ceil((tomorrow - now).total_seconds()),
            )


async def check_push(
    url: str, *, fetcher: Fetcher, webhook_secret: SecretStr | None, owner: str
) -> None:
    """A webhook URL must be one we may connect to, and its webhooks need a secret (the
    key's, or in open mode RENDERGATE_WEBHOOK_SECRET)."""
    if not url:
        return
    if len(url) > 2048:
        raise InvalidInput("webhook_url is over 2048 characters", field="webhook_url")
    await fetcher.vet(url, field="webhook_url")
    if not owner and webhook_secret is None:
        raise InvalidInput(
            "webhooks need a signing secret: create an API key (`rendergate keys create "
            "NAME`) or set RENDERGATE_WEBHOOK_SECRET",
            field="webhook_url",
        )
