"""Pooled provider keys: several accounts of one provider, each with its own concurrency.

`RENDERGATE_RUNNINGHUB_API_KEYS` (and its like) is a comma-separated list of entries
`[name=]KEY[:concurrency]`. An account's id is its name, or `k-` and 8 hex digits of the
key's SHA-256: ids go into task rows, job handles, logs and metrics; the key never does.
An entry without a concurrency takes the provider's own concurrency setting. An adapter
keeps each key's calls in a ByAccount; its settings derive from PooledSettings. No I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, Self, TypeVar, runtime_checkable

import structlog
from pydantic import SecretStr, model_validator

from rendergate.config.settings import ProviderSettings
from rendergate.domain.errors import ConfigError, ProviderError

log = structlog.get_logger(__name__)
T = TypeVar("T")

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


class ByAccount(Generic[T]):
    """One thing per pooled key (its calls), found by the account id a job handle records."""

    def __init__(self, provider: str, made: Mapping[str, T]) -> None:
        self._provider, self._made = provider, dict(made)
        self._first = next(iter(self._made.values()))

    def __getitem__(self, account: object) -> T:
        """The named key's; the first key's for a job from before keys were pooled, or
        whose key is no longer listed (a key replaced by a new one of the same account)."""
        found = self._made.get(str(account))
        if found is None and account is not None:
            log.warning(
                "job's provider key no longer listed; asking the first",
                provider=self._provider,
                account=account,
            )
        return self._first if found is None else found


class PooledSettings(ProviderSettings):
    """A pooled provider's settings: its keys are read at start (a bad list is refused
    there, never showing a key), and each key is redacted on its own, as is each part of
    a `part:part` credential (Aliyun's app key and secret)."""

    def accounts(self) -> tuple[ProviderAccount, ...]:
        raise NotImplementedError

    @model_validator(mode="after")
    def _accounts_read(self) -> Self:
        self.accounts()
        return self

    def secret_values(self) -> list[str]:
        found = super().secret_values()
        for account in self.accounts():
            found += [account.secret, *account.secret.split(":")]
        return list(dict.fromkeys(found))
