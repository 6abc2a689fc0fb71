"""Pooled provider keys: several accounts of one provider, each with its own concurrency.

`RENDERGATE_RUNNINGHUB_API_KEYS` (and its like) is a comma-separated list of entries
`[name=]KEY[:concurrency]`. An account's id is its name, or `k-` and 8 hex digits of the
key's SHA-256: ids go into task rows, job handles, logs and metrics; the key never does.
An entry without a concurrency takes the provider's own concurrency setting. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from rendergate.domain.errors import ConfigError, ProviderError

NAMED = re.compile(r"([A-Za-z][A-Za-z0-9_.-]{0,31})=(.+)")
CAPPED = re.compile(r"(.+):(\d{1,6})")


@dataclass(frozen=True)
class ProviderAccount:
    id: str  # shown anywhere: a name or a digest, never the key
    secret: str = field(repr=False)
    concurrency: int


def account_id(secret: str) -> str:
    """A short id of a key that does not give the key away."""
    return "k-" + hashlib.sha256(secret.encode()).hexdigest()[:8]


def parse_accounts(
    listed: str, default_concurrency: int, *, setting: str
) -> tuple[ProviderAccount, ...]:
    """The entries of a key list; ConfigError naming the entry (by position, never its key:
    a pydantic ValueError would print the value it refused)."""
    found: list[ProviderAccount] = []
    for position, raw in enumerate(listed.split(","), start=1):
        entry = raw.strip()
        if not entry:
            raise ConfigError(f"entry {position} of {setting} is empty")
        named = NAMED.fullmatch(entry)
        name, entry = named.groups() if named else (None, entry)
        capped = CAPPED.fullmatch(entry)
        secret, concurrency = (
            (capped.group(1), int(capped.group(2))) if capped else (entry, default_concurrency)
        )
        if concurrency < 1:
            raise ConfigError(f"entry {position} of {setting}: its concurrency must be at least 1")
        found.append(ProviderAccount(name or account_id(secret), secret, concurrency))
    return found_once(found, setting)


def pooled_keys(
    single: SecretStr | None, listed: SecretStr | None, concurrency: int, *, setting: str
) -> tuple[ProviderAccount, ...]:
    """A provider's keys: its single-key setting's first, when set, then its list's."""
    first = [] if single is None else [single.get_secret_value()]
    accounts = [ProviderAccount(account_id(key), key, concurrency) for key in first]
    if listed is not None:
        accounts += parse_accounts(listed.get_secret_value(), concurrency, setting=setting)
    return found_once(accounts, setting)


def found_once(accounts: Sequence[ProviderAccount], setting: str) -> tuple[ProviderAccount, ...]:
    """The accounts, refused when two share a key or an id."""
    if len({a.secret for a in accounts}) < len(accounts):
        raise ConfigError(f"{setting} lists one key twice")
    ids = [a.id for a in accounts]
    if len(set(ids)) < len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ConfigError(f"{setting} gives two keys the name {twice[0]}")
    return tuple(accounts)


@runtime_checkable
class PooledAccounts(Protocol):
    """An adapter running several accounts: the submit step chooses one per task (kept in
    JobRequest.account, and by the adapter in its JobHandle), and sets aside one whose
    refusal is about that account (`refuses_account`: its key, balance or membership)."""

    accounts: tuple[ProviderAccount, ...]

    def refuses_account(self, error: ProviderError) -> bool: ...


def pool_capability(provider: object) -> PooledAccounts | None:
    return provider if isinstance(provider, PooledAccounts) else None
