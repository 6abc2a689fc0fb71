"""Which database the `rendergate` commands open: by default the user's data directory,
whatever directory they run in, and each says which one on stderr."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from rendergate.store.sql import MIGRATIONS
from support.process import child_env, run_cli, serving

pytestmark = pytest.mark.slow


def without_data_dir(tmp_path: Path, **env: str) -> dict[str, str]:
    """A child's environment with no RENDERGATE_DATA_DIR: the default applies."""
    found = child_env(tmp_path, **env)
    del found["RENDERGATE_DATA_DIR"]
    return found


def told(data: Path) -> str:
    return f"database {data / 'rendergate.db'} (data dir {data})"


@pytest.mark.parametrize("base", ["XDG_DATA_HOME", "HOME"])
def test_keys_run_anywhere_meet_in_the_users_data_dir(tmp_path: Path, base: str) -> None:
    user = tmp_path / "user"
    if base == "XDG_DATA_HOME":
        env, data = without_data_dir(tmp_path, XDG_DATA_HOME=str(user)), user / "rendergate"
    else:
        env, data = without_data_dir(tmp_path, HOME=str(user)), user / ".local/share/rendergate"
        env.pop("XDG_DATA_HOME", None)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    made = run_cli("keys", "create", "alice", cwd=one, env=env)
    listed = run_cli("keys", "list", cwd=two, env=env)
    assert made.returncode == 0 and listed.returncode == 0, made.stderr + listed.stderr
    key_id = re.search(r"key id:\s+(\S+)", made.stdout)
    assert key_id is not None and key_id[1] in listed.stdout
    assert told(data) in made.stderr.splitlines()
    assert told(data) in listed.stderr.splitlines()
    assert (data / "rendergate.db").is_file()
    assert list(one.iterdir()) == list(two.iterdir()) == []  # no ./data made here


def test_every_command_that_opens_the_database_names_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = child_env(data, COLUMNS="200")
    for args in (["migrate"], ["keys", "list"], ["prune", "--dry-run"], ["doctor"]):
        done = run_cli(*args, env=env)
        assert done.stderr.splitlines()[0] == told(data), (args, done.stderr)
    log = tmp_path / "serve.log"
    with serving(data, log):
        pass
    assert told(data) in log.read_text().splitlines()


def test_a_postgresql_database_is_named_without_its_password(
    pg_database: str, tmp_path: Path
) -> None:
    url = sa.make_url(pg_database).set(password="s3cret-pw")
    env = child_env(tmp_path, RENDERGATE_DATABASE_URL=url.render_as_string(hide_password=False))
    done = run_cli("keys", "list", env=env)
    assert done.returncode == 0, done.stderr
    shown = f"{url.drivername}://{url.username}:***@{url.host}:{url.port}/{url.database}"
    assert done.stderr.splitlines()[0] == f"database {shown} (data dir {tmp_path})"
    assert "s3cret-pw" not in done.stderr + done.stdout


def test_migrate_says_whether_it_created_upgraded_or_found_it_up_to_date(
    tmp_path: Path,
) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    fresh, older = tmp_path / "fresh", tmp_path / "older"
    created = run_cli("migrate", env=child_env(fresh))
    assert created.returncode == 0, created.stderr
    assert f"rendergate's tables: created (at {head})" in created.stderr.splitlines()
    assert re.search(r"^DBOS's tables: created \(at \d+\)$", created.stderr, re.MULTILINE)
    again = run_cli("migrate", env=child_env(fresh))
    assert f"rendergate's tables: already up to date (at {head})" in again.stderr.splitlines()
    assert re.search(r"^DBOS's tables: already up to date \(at \d+\)$", again.stderr, re.MULTILINE)

    older.mkdir()
    engine = sa.create_engine(f"sqlite:///{older / 'rendergate.db'}")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
    engine.dispose()
    upgraded = run_cli("migrate", env=child_env(older))
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"rendergate's tables: upgraded from 0005 to {head}" in upgraded.stderr.splitlines()
