"""What a create must pass, beyond its inputs, before anything is stored: its API key's
limits, and where its webhooks may go.

A key's limits are its own where it has them (`rendergate keys limits`), else the
settings'; read from the key ring (services/keys.py), so a change is in force within its
REFRESH_S (2 s) in every API process. They are checked twice: quickly before the images
are decoded (a key over its limits costs no decoding), and for good in the transaction
that adds the task rows (store/limits.py), where creates racing each other are counted one
after another, in one process or many. A refused create stores nothing. A create refused
for the key's budget tells its account webhook once a month (usage.budget_reached).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Protocol

import structlog
from pydantic import SecretStr

from rendergate.config.settings import Settings
from rendergate.domain.errors import BudgetReached, InvalidInput
from rendergate.domain.limits import Adding, KeyLimits, Usage, refusal
from rendergate.services.keys import KeyRing
from rendergate.services.ports import Fetcher
from rendergate.store.base import AlongWrite

log = structlog.get_logger(__name__)


class KeyAdmission(Protocol):
    """Where a key's usage is counted (store/limits.py's SqlAdmission)."""

    async def measure(
        self, owner: str, limits: KeyLimits, adding: Adding, *, now: datetime, currency: str
    ) -> Usage: ...

    def admitting(
        self,
        owner: str,
        limits: KeyLimits,
        adding: Adding,
        *,
        clock: Callable[[], datetime],
        currency: str,
    ) -> AlongWrite | None: ...

    async def tell_reached(
        self, owner: str, limits: KeyLimits, *, now: datetime, currency: str
    ) -> bool: ...


class NoAdmission:
    """A store that counts nothing (the memory store of tests): every create fits."""

    async def measure(
        self, owner: str, limits: KeyLimits, adding: Adding, *, now: datetime, currency: str
    ) -> Usage:
        return Usage(in_flight=0, today=0, last_minute=0)

    def admitting(
        self,
        owner: str,
        limits: KeyLimits,
        adding: Adding,
        *,
        clock: Callable[[], datetime],
        currency: str,
    ) -> AlongWrite | None:
        return None

    async def tell_reached(
        self, owner: str, limits: KeyLimits, *, now: datetime, currency: str
    ) -> bool:
        return False


async def key_limits(owner: str, keys: KeyRing, settings: Settings) -> KeyLimits:
    """The key's own limits over the settings' defaults (open mode: the defaults)."""
    defaults = KeyLimits(
        rate_per_minute=settings.rate_limit_per_minute,
        max_in_flight=settings.max_in_flight_per_key,
        daily_tasks=settings.daily_tasks_per_key,
    )
    key = (await keys.active()).get(owner) if owner else None
    return (key.limits if key is not None else KeyLimits()).over(defaults)


@contextlib.asynccontextmanager
async def within_limits(
    owner: str,
    limits: KeyLimits,
    adding: Adding,
    *,
    admission: KeyAdmission,
    settings: Settings,
    clock: Callable[[], datetime],
) -> AsyncIterator[AlongWrite | None]:
    """Refuses the create (LimitReached) if its `adding` would pass the key's limits now;
    inside, gives the check to run again in the transaction adding its rows."""
    currency, now = settings.currency, clock()
    try:
        if limits.limiting:
            usage = await admission.measure(owner, limits, adding, now=now, currency=currency)
            refused = refusal(limits, usage, adding, now=now, currency=currency)
            if refused is not None:
                raise refused
        yield admission.admitting(owner, limits, adding, clock=clock, currency=currency)
    except BudgetReached:
        if limits.account_webhook:
            try:
                await admission.tell_reached(owner, limits, now=now, currency=currency)
            except Exception:  # the refusal stands; the alert is a courtesy
                log.exception("telling usage.budget_reached failed", key_id=owner)
        raise


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
