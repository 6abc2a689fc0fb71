"""A fresh PostgreSQL database per test, on the server RENDERGATE_TEST_PG_URL points at."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from rendergate.config.settings import Settings


def pg_url_or_skip() -> str:
    """The server's URL; or a skip that says why there is none (scripts/test.sh sets
    RENDERGATE_TEST_PG_SKIP when PostgreSQL's server binaries are not installed)."""
    url = os.environ.get("RENDERGATE_TEST_PG_URL")
    if not url:
        pytest.skip(
            os.environ.get("RENDERGATE_TEST_PG_SKIP")
            or "RENDERGATE_TEST_PG_URL is not set: run the suite with scripts/test.sh (make "
            "test), which starts a throwaway PostgreSQL, or set it to a server's URL"
        )
    return url


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Creates an empty database and yields its SQLAlchemy URL; drops it afterwards."""
    name = f"rg_test_{secrets.token_hex(4)}"
    admin = server_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@dataclass(frozen=True)
class OwnServer:
    """A PostgreSQL server of one test's own (scripts/pg-start.sh's, in `folder`)."""

    url: str
    folder: Path

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Stops the server for the block, then starts it again on the same port, as a
        restart or a failover does."""
        state = dict(
            line.split("=", 1) for line in (self.folder / "rendergate-pg.state").read_text().split()
        )
        as_pg = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        pg_ctl = [*as_pg, f"{state['pgbin']}/pg_ctl", "-D", f"{self.folder}/data", "-w", "-t", "60"]
        options = (
            f"-p {state['port']} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        subprocess.run([*pg_ctl, "-m", "fast", "stop"], check=True, capture_output=True, timeout=90)
        try:
            yield
        finally:
            start = [*pg_ctl, "-l", f"{self.folder}/log", "-o", options, "start"]
            subprocess.run(start, check=True, capture_output=True, timeout=90)


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnServer]:
    """A throwaway server for a test that stops it (OwnServer.down): the suite's own serves
    the tests that run beside it, in other workers. Skips where the pg tests skip."""
    pg_url_or_skip()
    folder = Path(tempfile.mkdtemp(prefix="rendergate-pg-own.", dir="/tmp"))  # postgres reaches it
    env = {**os.environ, "RENDERGATE_TEST_PG_DIR": str(folder)}
    started = subprocess.run(
        [str(SCRIPTS / "pg-start.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    try:
        if started.returncode == 3:
            pytest.skip("PostgreSQL's server binaries are not installed: no server of its own")
        assert started.returncode == 0, started.stderr
        yield OwnServer(started.stdout.strip(), folder)
    finally:
        subprocess.run([str(SCRIPTS / "pg-stop.sh")], env=env, capture_output=True, timeout=120)


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)]
"""Params of a `settings` fixture that runs each test on both task databases."""


def on_database(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """`settings` on the database `request.param` names: SQLite as given, or a fresh
    PostgreSQL database (the `pg_database` fixture, which skips without a server)."""
    if request.param == "sqlite":
        return settings
    url: str = request.getfixturevalue("pg_database")
    return settings.model_copy(update={"database_url": url})
