"""DBOS's configuration, its database (SQLite's pragmas, the migration of its tables) and
its logging: what the orchestrator needs before a workflow runs."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from dbos import DBOS

from rendergate import __version__
from rendergate.config import Settings


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


def migrate_system_database(url: str) -> None:
    """Creates or upgrades DBOS's own tables (DBOS takes its own lock for that)."""
    DBOS.migrate(url)


def has_system_tables(url: str) -> bool:
    """Whether DBOS's tables exist (a DBOSClient never creates them, and would answer
    every enqueue with an error)."""
    driver = "sqlite" if url.startswith("sqlite") else "postgresql+psycopg"
    engine = sa.create_engine(sa.make_url(url).set(drivername=driver))
    try:
        with engine.connect() as connection:
            schema = None if driver == "sqlite" else "dbos"
            return sa.inspect(connection).has_table("workflow_status", schema=schema)
    finally:
        engine.dispose()


def sqlite_engine(url: str) -> sa.Engine:
    """DBOS's SQLite with a write-ahead log: DBOS leaves SQLite's rollback journal and a
    full sync on every commit, and it commits several times per task."""
    engine = sa.create_engine(
        url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        for pragma in (
            "busy_timeout=30000",
            "foreign_keys=ON",
            "journal_mode=WAL",
            "synchronous=NORMAL",
        ):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    return engine


def log_through_root(logger: logging.Logger) -> None:
    """DBOS installs its own log handler at launch; where the application has set up
    logging (logging_setup.py), DBOS's records go through that instead, in one format."""
    if logging.getLogger().handlers:
        logger.handlers.clear()
        logger.propagate = True
