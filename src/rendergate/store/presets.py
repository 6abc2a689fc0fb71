"""The presets table: rows of domain/presets.py's Preset, one per version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.domain.presets import Preset
from rendergate.domain.task import InputRef
from rendergate.store.base import PresetVersionTaken
from rendergate.store.tables import presets

_LIVE = presets.c.deleted_at.is_(None)


def _row(preset: Preset) -> dict[str, Any]:
    reference = preset.reference
    return {
        "owner": preset.owner,
        "name": preset.name,
        "version": preset.version,
        "app": preset.app,
        "params": dict(preset.params),
        "reference": None
        if reference is None
        else {"key": reference.key, "content_type": reference.content_type},
        "description": preset.description,
        "label": preset.label,
        "created_at": preset.created_at,
    }


def _preset(row: Any) -> Preset:
    reference = row["reference"]
    return Preset(
        owner=row["owner"],
        name=row["name"],
        version=row["version"],
        app=row["app"],
        params=row["params"],
        reference=None if reference is None else InputRef(**reference),
        description=row["description"],
        label=row["label"],
        created_at=row["created_at"],
    )


class SqlPresetStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, preset: Preset) -> None:
        try:
            async with self._engine.begin() as connection:
                await connection.execute(presets.insert().values(**_row(preset)))
        except IntegrityError as exc:
            raise PresetVersionTaken(preset.name, preset.version) from exc

    async def latest(self, owner: str, name: str) -> Preset | None:
        query = (
            sa.select(presets)
            .where(presets.c.owner == owner, presets.c.name == name, _LIVE)
            .order_by(presets.c.version.desc())
            .limit(1)
        )
        return await self._one(query)

    async def version(self, owner: str, name: str, version: int) -> Preset | None:
        query = sa.select(presets).where(
            presets.c.owner == owner, presets.c.name == name, presets.c.version == version
        )
        return await self._one(query)

    async def all(self, owner: str) -> list[Preset]:
        newest = (
            sa.select(presets.c.name, sa.func.max(presets.c.version).label("version"))
            .where(presets.c.owner == owner, _LIVE)
            .group_by(presets.c.name)
            .subquery()
        )
        query = (
            sa.select(presets)
            .join(
                newest,
                sa.and_(presets.c.name == newest.c.name, presets.c.version == newest.c.version),
            )
            .where(presets.c.owner == owner)
            .order_by(presets.c.name)
        )
        async with self._engine.connect() as connection:
            return [_preset(row) for row in (await connection.execute(query)).mappings()]

    async def delete(self, owner: str, name: str, at: datetime) -> bool:
        update = (
            presets.update()
            .where(presets.c.owner == owner, presets.c.name == name, _LIVE)
            .values(deleted_at=at)
        )
        async with self._engine.begin() as connection:
            return (await connection.execute(update)).rowcount > 0

    async def _one(self, query: Any) -> Preset | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _preset(row)


class MemoryPresetStore:
    """The same, in a dict: for a process without the SQL store (tests, demos)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, int], tuple[Preset, datetime | None]] = {}

    async def add(self, preset: Preset) -> None:
        key = (preset.owner, preset.name, preset.version)
        if key in self.rows:
            raise PresetVersionTaken(preset.name, preset.version)
        self.rows[key] = (preset, None)

    async def latest(self, owner: str, name: str) -> Preset | None:
        live = [
            p for (o, n, _), (p, gone) in self.rows.items() if (o, n) == (owner, name) and not gone
        ]
        return max(live, key=lambda p: p.version, default=None)

    async def version(self, owner: str, name: str, version: int) -> Preset | None:
        found = self.rows.get((owner, name, version))
        return None if found is None else found[0]

    async def all(self, owner: str) -> list[Preset]:
        names = sorted({n for (o, n, _), (_, gone) in self.rows.items() if o == owner and not gone})
        return [p for n in names if (p := await self.latest(owner, n)) is not None]

    async def delete(self, owner: str, name: str, at: datetime) -> bool:
        hit = [k for k, (p, gone) in self.rows.items() if k[:2] == (owner, name) and not gone]
        for key in hit:
            self.rows[key] = (self.rows[key][0], at)
        return bool(hit)
