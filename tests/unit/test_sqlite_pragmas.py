"""Our task database and DBOS's SQLite file are opened with the same pragmas
(store/sql.py: SQLITE_PRAGMAS), written once."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from rendergate.runtime.dbos_setup import sqlite_engine
from rendergate.store.sql import SQLITE_PRAGMAS, create_engine

EXPECTED = {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 30000, "foreign_keys": 1}


def read_pragmas(connection: sa.Connection) -> dict[str, object]:
    return {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in EXPECTED}


def test_the_pragmas_are_the_ones_named() -> None:
    assert {entry.split("=")[0] for entry in SQLITE_PRAGMAS} == set(EXPECTED)


async def test_the_task_database_and_dboss_have_the_same_pragmas(tmp_path: Path) -> None:
    tasks = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}")
    try:
        async with tasks.connect() as connection:
            ours = await connection.run_sync(read_pragmas)
    finally:
        await tasks.dispose()
    system = sqlite_engine(f"sqlite:///{tmp_path / 'dbos.sqlite'}")
    try:
        with system.connect() as connection:
            theirs = read_pragmas(connection)
    finally:
        system.dispose()
    assert ours == theirs == EXPECTED
