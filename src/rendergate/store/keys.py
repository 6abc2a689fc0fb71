"""The api_keys table: rows of domain/keys.py's ApiKey (secrets hashed, never the key), and
each key's own limits (domain/limits.py), written only by `set_limits`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.domain.keys import ApiKey
from rendergate.domain.limits import KeyLimits
from rendergate.store.tables import api_keys

_FIELDS = (
    "key_id",
    "name",
    "secret_hash",
    "webhook_secret",
    "previous_webhook_secret",
    "previous_until",
    "created_at",
    "revoked_at",
)


COUNTS = ("rate_per_minute", "max_in_flight", "daily_tasks")


def _row(key: ApiKey) -> dict[str, Any]:
    return {name: getattr(key, name) for name in _FIELDS}


def limits_row(limits: KeyLimits) -> dict[str, Any]:
    return {name: getattr(limits, name) for name in COUNTS} | {
        "monthly_budget": limits.monthly_budget,
        "prices": {app: str(price) for app, price in limits.prices.items()},
        "account_webhook": limits.account_webhook,
    }


def limits_of(row: Any) -> KeyLimits:
    return KeyLimits(
        **{name: row[name] for name in COUNTS},
        monthly_budget=row["monthly_budget"],
        prices={app: Decimal(price) for app, price in (row["prices"] or {}).items()},
        account_webhook=row["account_webhook"],
    )


def _key(row: Any) -> ApiKey:
    return ApiKey(**{name: row[name] for name in _FIELDS}, limits=limits_of(row))


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, key: ApiKey) -> None:
        async with self._engine.begin() as connection:
            values = _row(key) | limits_row(key.limits)
            await connection.execute(api_keys.insert().values(**values))

    async def all(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        query = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)
        async with self._engine.connect() as connection:
            return [_key(row) for row in (await connection.execute(query)).mappings()]

    async def named(self, name_or_id: str) -> list[ApiKey]:
        """The keys with this id or name (names need not be unique)."""
        query = sa.select(api_keys).where(
            sa.or_(api_keys.c.key_id == name_or_id, api_keys.c.name == name_or_id)
        )
        async with self._engine.connect() as connection:
            return [_key(row) for row in (await connection.execute(query)).mappings()]

    async def set_limits(self, key_id: str, limits: KeyLimits) -> None:
        """Writes the key's own limits, and nothing else of it."""
        async with self._engine.begin() as connection:
            await connection.execute(
                api_keys.update().where(api_keys.c.key_id == key_id).values(**limits_row(limits))
            )

    async def save(self, key: ApiKey) -> None:
        """Writes the key, but not its limits (`set_limits`)."""
        values = _row(key)
        del values["key_id"]
        async with self._engine.begin() as connection:
            await connection.execute(
                api_keys.update().where(api_keys.c.key_id == key.key_id).values(**values)
            )
