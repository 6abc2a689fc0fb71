"""A key's creates admitted against its limits inside the transaction that adds their rows
(domain/limits.py), and its account events told once a budget period.

The check runs as the insert's `along` write, after the rows (and their charges in
usage_daily) are written, so its counts include them. On PostgreSQL a key's creates take
turns there: each takes a transaction-scoped advisory lock on its key, then counts; the
next one gets the lock once the one before has committed or rolled back, and its counts
(READ COMMITTED reads afresh at each statement) see that one's rows. On SQLite the insert
took the database's one write lock already: no other create can commit until this one
ends, in this process or another. A create over a limit raises, and its transaction
writes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.domain.events import Delivery, EventType
from rendergate.domain.limits import (
    WINDOW_S,
    Adding,
    KeyLimits,
    Usage,
    budget_low,
    month_start,
    period,
    refusal,
)
from rendergate.domain.money import Money
from rendergate.domain.task import TERMINAL_STATUSES
from rendergate.store.base import AlongWrite
from rendergate.store.codec import delivery_to_row
from rendergate.store.events import message_delivery
from rendergate.store.tables import account_alerts, deliveries, tasks, usage_daily

WriteTurn = Any  # an asyncio.Lock on SQLite (SqlTaskStore.write_turn), else a no-op


def key_lock(owner: str) -> int:
    """The advisory lock id of a key's creates: 64 bits of a hash of its id."""
    digest = hashlib.sha256(f"rendergate.key-limits:{owner}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _count(connection: sa.Connection, *where: Any) -> int:
    return int(connection.execute(sa.select(sa.func.count()).where(*where)).scalar_one())


def measure(
    connection: sa.Connection,
    owner: str,
    limits: KeyLimits,
    pending: Adding,
    *,
    now: datetime,
    currency: str,
) -> Usage:
    """The key's counts now, plus `pending` (what is not written yet): only those its
    limits need."""
    mine = tasks.c.owner == owner
    in_flight = today = last_minute = 0
    frees_at = None
    if limits.max_in_flight:
        unfinished = tasks.c.status.not_in([s.value for s in TERMINAL_STATUSES])
        in_flight = _count(connection, mine, unfinished) + pending.count
    if limits.daily_tasks:
        midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=now.tzinfo)
        today = _count(connection, mine, tasks.c.created_at >= midnight) + pending.count
    if limits.rate_per_minute:
        window = tasks.c.created_at > now - timedelta(seconds=WINDOW_S)
        last_minute = _count(connection, mine, window) + pending.count
        leaving = last_minute - limits.rate_per_minute  # the oldest that must leave the window
        if leaving > 0:
            oldest = sa.select(tasks.c.created_at).where(mine, window)
            query = oldest.order_by(tasks.c.created_at).offset(leaving - 1).limit(1)
            stamp = connection.execute(query).scalar()
            frees_at = stamp + timedelta(seconds=WINDOW_S) if stamp is not None else None
    net = None
    if limits.monthly_budget is not None:
        net = _month_net(connection, owner, now, currency) + pending.charge
    return Usage(in_flight, today, last_minute, net, frees_at)


def _month_net(connection: sa.Connection, owner: str, now: datetime, currency: str) -> Decimal:
    """The key's charges less refunds this UTC month, from the usage rollup (summed here, in
    Decimal: SQLite has no exact sum)."""
    query = sa.select(usage_daily.c.charged, usage_daily.c.refunded).where(
        usage_daily.c.owner == owner,
        usage_daily.c.currency == currency,
        usage_daily.c.day >= month_start(now).date(),
    )
    rows = connection.execute(query).all()
    return sum((Decimal(charged) - Decimal(refunded) for charged, refunded in rows), Decimal(0))


def admitting(
    owner: str,
    limits: KeyLimits,
    adding: Adding,
    *,
    clock: Callable[[], datetime],
    currency: str,
) -> AlongWrite:
    """The check to run in the insert's transaction: takes the key's turn, counts (the new
    rows among them), raises LimitReached over a limit; tells budget_low once a period."""

    def admit(connection: sa.Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key_lock(owner))))
        now = clock()
        usage = measure(connection, owner, limits, Adding(0), now=now, currency=currency)
        refused = refusal(limits, usage, adding, now=now, currency=currency)
        if refused is not None:
            raise refused
        if limits.account_webhook and budget_low(limits, usage):
            tell_once(connection, owner, EventType.BUDGET_LOW, limits, usage, now, currency)

    return admit


def tell_once(
    connection: sa.Connection,
    owner: str,
    event: EventType,
    limits: KeyLimits,
    usage: Usage,
    now: datetime,
    currency: str,
) -> bool:
    """Queues the account event to the key's account webhook, unless it was told this
    period already (its row in account_alerts, written here); True: queued."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    told = dialect.insert(account_alerts).values(
        owner=owner, event=event.value, period=period(now), created_at=now
    )
    first = told.on_conflict_do_nothing().returning(account_alerts.c.owner)
    if connection.execute(first).first() is None:  # told already (rowcount: -1 on psycopg)
        return False
    delivery = _delivery(owner, event, limits, usage, now, currency)
    connection.execute(deliveries.insert().values(**delivery_to_row(delivery)))
    return True


def _delivery(
    owner: str, event: EventType, limits: KeyLimits, usage: Usage, now: datetime, currency: str
) -> Delivery:
    """The event's whole message, kept with its delivery (no task to render it from): the
    budget and the month's net charges, as the API writes money."""

    def money(amount: Decimal | None) -> dict[str, str]:
        return {"amount": Money(amount or Decimal(0), currency).text, "currency": currency}

    data = {
        "key_id": owner,
        "period": period(now),
        "monthly_budget": money(limits.monthly_budget),
        "charged": money(usage.month_net),
    }
    url = limits.account_webhook
    return message_delivery(subject=0, owner=owner, event=event, url=url, data=data, now=now)


class SqlAdmission:
    """The checks of services/admission.py on the SQL store's database."""

    def __init__(self, engine: AsyncEngine, write_turn: WriteTurn) -> None:
        self._engine = engine
        self._write_turn = write_turn

    async def measure(
        self, owner: str, limits: KeyLimits, adding: Adding, *, now: datetime, currency: str
    ) -> Usage:
        """The quick check's counts, read before the create decodes its images."""
        async with self._engine.connect() as connection:
            return await connection.run_sync(
                measure, owner, limits, adding, now=now, currency=currency
            )

    def admitting(
        self,
        owner: str,
        limits: KeyLimits,
        adding: Adding,
        *,
        clock: Callable[[], datetime],
        currency: str,
    ) -> AlongWrite | None:
        if not limits.limiting:
            return None
        return admitting(owner, limits, adding, clock=clock, currency=currency)

    async def tell_reached(
        self, owner: str, limits: KeyLimits, *, now: datetime, currency: str
    ) -> bool:
        """usage.budget_reached, once a period: a create was refused for the budget."""

        def tell(connection: sa.Connection) -> bool:
            usage = measure(connection, owner, limits, Adding(0), now=now, currency=currency)
            event = EventType.BUDGET_REACHED
            return tell_once(connection, owner, event, limits, usage, now, currency)

        async with self._write_turn, self._engine.begin() as connection:
            return await connection.run_sync(tell)
