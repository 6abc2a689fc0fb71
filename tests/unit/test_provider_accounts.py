"""Pooled provider keys: the list's format, the ids that stand for keys, the cap they add up
to, and the set-aside of a key refused for its account."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rendergate.config.settings import load_settings
from rendergate.domain.errors import ConfigError, OutOfFunds, ProviderRejected
from rendergate.domain.task import Task, TaskStatus
from rendergate.providers import registry
from rendergate.providers.accounts import ProviderAccount, account_id, parse_accounts
from rendergate.providers.runninghub_errors import error_for
from rendergate.store.memory import MemoryTaskStore
from rendergate.workflow.accounts import SetAside

A, B = "a" * 32, "b" * 32
T0 = datetime(2026, 12, 6, tzinfo=UTC)


def test_entries_name_their_key_and_concurrency_or_take_the_defaults() -> None:
    found = parse_accounts(f"studio={A}:50, {B}", 3, setting="X")
    assert found == (ProviderAccount("studio", A, 50), ProviderAccount(account_id(B), B, 3))
    assert account_id(B) == "k-" + account_id(B)[2:] and len(account_id(B)) == 10
    assert A not in repr(found) and B not in repr(found)


@pytest.mark.parametrize(
    ("listed", "said"),
    [
        (f"{A},,{B}", "entry 2 of X is empty"),
        (f"{A}:0", "entry 1 of X: its concurrency must be at least 1"),
        (f"{A},{A}:2", "X lists one key twice"),
        (f"n={A},n={B}", "X gives two keys the name n"),
    ],
)
def test_a_bad_list_is_refused_without_showing_a_key(listed: str, said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_accounts(listed, 1, setting="X")
    assert refused.value.message == said
    assert A not in str(refused.value) and B not in str(refused.value)


def test_the_queue_cap_is_the_keys_sum_and_each_key_is_redacted(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        runninghub_api_key=A,
        runninghub_api_keys=f"big={B}:50",
        runninghub_concurrency=1,
    )
    assert registry(settings)["runninghub"].concurrency(settings) == 51
    assert {A, B} <= set(settings.secret_values())
    alone = load_settings(data_dir=tmp_path / "2", runninghub_api_keys=f"{A}:2,{B}:3")
    assert registry(alone)["runninghub"].missing_settings(alone) == []
    assert registry(alone)["runninghub"].concurrency(alone) == 5


def test_a_bad_list_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="entry 2 of RENDERGATE_RUNNINGHUB_API_KEYS is empty"):
        load_settings(data_dir=tmp_path, runninghub_api_keys=f"{A},")


class Pool:
    accounts = (ProviderAccount("one", A, 1), ProviderAccount("two", B, 2))

    def refuses_account(self, error: object) -> bool:
        return isinstance(error, OutOfFunds) or getattr(error, "code", "") == "802"


def test_a_refused_key_is_set_aside_for_the_open_time_then_tried_again() -> None:
    aside, pool = SetAside(open_s=30), Pool()
    assert aside.room("runninghub", pool, T0) == {"one": 1, "two": 2}
    app_refused = ProviderRejected("no such app", code="901")
    assert not aside.refused("runninghub", "one", pool, app_refused, T0)  # not the key's fault
    assert aside.refused("runninghub", "one", pool, error_for(812), T0)  # "two" takes it
    assert aside.room("runninghub", pool, T0 + timedelta(seconds=29)) == {"two": 2}
    assert aside.room("runninghub", pool, T0 + timedelta(seconds=30)) == {"one": 1, "two": 2}
    # the last key refused too: no other to try; every key is tried again as a whole
    assert not aside.refused("runninghub", "two", pool, error_for(802), T0)
    assert aside.room("runninghub", pool, T0 + timedelta(seconds=1)) == {"one": 1, "two": 2}


async def test_the_memory_store_claims_keys_as_the_sql_one_does() -> None:
    """The most room first; a finished task or another provider's holds no place."""
    store = MemoryTaskStore()
    for task_id, provider in ((1, "runninghub"), (2, "runninghub"), (3, "runninghub"), (4, "x")):
        await store.add(
            Task(task_id=task_id, app="fake", provider=provider, created_at=T0, updated_at=T0)
        )
    room = {"a": 1, "b": 2}
    assert await store.claim_account(4, "x", {"a": 1}) == "a"
    assert [await store.claim_account(t, "runninghub", room) for t in (1, 2, 3)] == [
        "b",
        "a",
        "b",
    ]
    holder = await store.get(2)
    await store.save(holder, dataclasses.replace(holder, status=TaskStatus.CANCELED))
    assert await store.claim_account(3, "runninghub", room) == "a"  # its own place counts not
