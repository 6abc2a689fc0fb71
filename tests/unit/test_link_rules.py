"""The link policy's rules that need no server (services/links.py): a task with no
recorded base is linked on loopback, never at a wildcard address; an absurd Host is not
recorded; callbacks exist only on the public URL. tests/integration/test_links.py shows the
policy end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rendergate.config.settings import load_settings
from rendergate.domain.task import Task
from rendergate.services.links import (
    MAX_BASE_CHARS,
    callback_url,
    outbound_base,
    recorded_base,
    request_base,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def task(**fields: Any) -> Task:
    return Task(task_id=7, app="fake", provider="fake", created_at=NOW, updated_at=NOW, **fields)


def scope(host: bytes | None, **extra: Any) -> dict[str, Any]:
    headers = [(b"host", host)] if host is not None else []
    return {"scheme": "http", "headers": headers, "server": ("127.0.0.1", 8000), **extra}


@pytest.mark.parametrize(
    ("host", "base"),
    [
        ("0.0.0.0", "http://127.0.0.1:9000"),
        ("::", "http://[::1]:9000"),
        ("::1", "http://[::1]:9000"),
        ("10.0.0.5", "http://10.0.0.5:9000"),
        ("render.internal", "http://render.internal:9000"),
    ],
)
def test_a_task_with_no_recorded_base_is_linked_where_we_listen_never_at_a_wildcard(
    tmp_path: Path, host: str, base: str
) -> None:
    settings = load_settings(data_dir=tmp_path, host=host, port=9000)
    assert outbound_base(settings, task()) == base
    assert outbound_base(settings, task(link_base="https://a.example")) == "https://a.example"


def test_the_public_url_wins_everywhere(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, public_url="https://render.example.com/")
    recorded = task(link_base="https://a.example", callback_token="tok")
    assert outbound_base(settings, recorded) == "https://render.example.com"
    assert callback_url(settings, recorded) == "https://render.example.com/webhooks/fake/7/tok"
    assert callback_url(load_settings(data_dir=tmp_path), recorded) is None


def test_a_request_base_comes_from_host_scheme_and_root_path() -> None:
    assert request_base(scope(b"a.example:8443", root_path="/rg")) == "http://a.example:8443/rg"
    assert request_base(scope(None)) == "http://127.0.0.1:8000"
    assert recorded_base(scope(b"a.example")) == "http://a.example"
    assert recorded_base(scope(b"a" * MAX_BASE_CHARS)) == ""  # over the cap: not recorded
