"""DBOS's configuration, its database (SQLite's pragmas, the migration of its tables) and
its logging: what the orchestrator needs before a workflow runs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from dbos import DBOS

from rendergate import __version__
from rendergate.config.settings import Settings
from rendergate.store.base import SchemaChange
from rendergate.store.sql import use_sqlite_pragmas


def dbos_config(
    settings: Settings, executor_id: str, engine: sa.Engine | None = None
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "rendergate",
        "system_database_url": settings.system_database_url,
        "application_version": __version__,
        "executor_id": executor_id,
        "log_level": "WARNING",
        "run_migrations": True,
    }
    if engine is not None:
        config["system_database_engine"] = engine
    return config


def migrate_system_database(url: str) -> SchemaChange:
    """Creates or upgrades DBOS's own tables (DBOS takes its own lock for that), and says
    what that took, by DBOS's version of them."""
    before = _system_version(url)
    DBOS.migrate(url)
    return SchemaChange(before, _system_version(url))


def has_system_tables(url: str) -> bool:
    """Whether DBOS's tables exist (a DBOSClient never creates them, and would answer
    every enqueue with an error)."""
    with _system_connection(url) as (connection, schema):
        return sa.inspect(connection).has_table("workflow_status", schema=schema)


def _system_version(url: str) -> str | None:
    """The version DBOS records of its tables; None when it has none."""
    with _system_connection(url) as (connection, schema):
        if not sa.inspect(connection).has_table("dbos_migrations", schema=schema):
            return None
        table = sa.table("dbos_migrations", sa.column("version"), schema=schema)
        version = connection.execute(sa.select(table.c.version)).scalar()
        return None if version is None else str(version)


def system_engine(url: str) -> sa.Engine:
    """An engine on DBOS's database: SQLite's with our pragmas (DBOS is given it too)."""
    if url.startswith("sqlite"):
        return sqlite_engine(url)
    return sa.create_engine(
        sa.make_url(url).set(drivername="postgresql+psycopg"),
        pool_size=2,
        pool_pre_ping=True,
        hide_parameters=True,
    )


@contextlib.contextmanager
def _system_connection(url: str) -> Iterator[tuple[sa.Connection, str | None]]:
    """A connection to DBOS's database, and the schema its tables are in."""
    driver = "sqlite" if url.startswith("sqlite") else "postgresql+psycopg"
    engine = sa.create_engine(sa.make_url(url).set(drivername=driver))
    try:
        with engine.connect() as connection:
            yield connection, None if driver == "sqlite" else "dbos"
    finally:
        engine.dispose()


def sqlite_engine(url: str) -> sa.Engine:
    """DBOS's SQLite with our pragmas (store/sql.py): DBOS leaves SQLite's rollback journal
    and a full sync on every commit, and it commits several times per task."""
    engine = sa.create_engine(
        url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
    )

    use_sqlite_pragmas(engine)
    return engine


def log_through_root(logger: logging.Logger) -> None:
    """DBOS installs its own log handler at launch; where the application has set up
    logging (runtime/logs.py), DBOS's records go through that instead, in one format."""
    if logging.getLogger().handlers:
        logger.handlers.clear()
        logger.propagate = True
