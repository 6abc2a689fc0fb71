"""`rendergate doctor`: each part rendergate needs, tried for real, with what was found or
what to fix: the apps, the database and its migrations, the storage, each configured
provider (its own check: RunningHub's account status, a signed call to Aliyun, each ComfyUI
server; RunningHub's balance too), and the public URL that providers' webhooks come back to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from rendergate.blobs.setup import open_blobs
from rendergate.config.apps_file import load_apps
from rendergate.config.settings import Settings
from rendergate.domain.errors import ConfigError, ProviderError
from rendergate.providers import build_providers, registry, unavailable_reason
from rendergate.providers.base import (
    Balance,
    ReadsBalance,
    balance_capability,
    balances_of,
    self_check_capability,
)
from rendergate.providers.http import client_session
from rendergate.redaction import Redactor, bare_url
from rendergate.services.balances import describe, is_low
from rendergate.store.sql import MIGRATIONS, create_engine

PROBE_S = 10.0


@dataclass(frozen=True)
class Finding:
    part: str
    ok: bool | None  # None: not set up here, which is no fault (a provider with no key)
    detail: str


async def examine(settings: Settings) -> list[Finding]:
    """Every check, in order; one failing does not stop the others."""
    findings = [
        await _try("apps", _apps(settings)),
        await _try("database", _database(settings)),  # before the storage probe makes dirs
        await _try("storage", _storage(settings)),
    ]
    findings += await _providers(settings)
    if settings.public_url:
        findings.append(await _try("public URL", _public_url(settings.public_url)))
    secrets = Redactor(settings.secret_values())  # whatever a part's own message may echo
    return [Finding(f.part, f.ok, secrets.scrub(f.detail)) for f in findings]


async def _try(part: str, check: Awaitable[str]) -> Finding:
    try:
        return Finding(part, True, await check)
    except (ConfigError, ProviderError) as exc:
        return Finding(part, False, exc.message)
    except Exception as exc:  # whatever it is, it is the answer to "does this work?"
        return Finding(part, False, f"{type(exc).__name__}: {str(exc)[:300]}")


async def _apps(settings: Settings) -> str:
    apps = load_apps(settings)
    return f"{len(apps)} apps: {', '.join(sorted(apps))}"


async def _database(settings: Settings) -> str:
    if settings.is_single_process and not settings.data_dir.is_dir():
        raise ConfigError(
            f"{settings.data_dir} (RENDERGATE_DATA_DIR) does not exist yet: "
            "`rendergate migrate` or `serve` creates it"
        )
    engine = create_engine(settings.task_database_url)
    table = sa.table("alembic_version", sa.column("version_num"))
    try:
        async with engine.connect() as connection:
            try:
                current = (await connection.execute(sa.select(table.c.version_num))).scalar()
            except sa.exc.ProgrammingError:  # PostgreSQL without the table
                current = None
    except sa.exc.OperationalError as exc:
        if "no such table" in str(exc.orig):  # SQLite without it
            current = None
        else:
            raise ConfigError(f"cannot be opened: {exc.orig}") from None
    finally:
        await engine.dispose()
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if current != head:
        raise ConfigError(f"at migration {current or 'none'}, not {head}: run `rendergate migrate`")
    return f"reachable, at migration {head}"


async def _storage(settings: Settings) -> str:
    await open_blobs(settings)
    where = bare_url(settings.storage_url) if settings.storage_url else settings.data_dir / "blobs"
    return f"wrote, read and deleted a probe in {where}"


async def _providers(settings: Settings) -> list[Finding]:
    """The providers some app routes to; a missing setting is reported, not tried."""
    routed = {route.provider for app in load_apps(settings).values() for route in app.routes}
    findings = []
    for name in sorted(routed & set(registry(settings))):
        reason = unavailable_reason(name, settings)
        if reason is not None:
            findings.append(Finding(f"provider {name}", None, reason))
    async with client_session(connections=16) as http:
        built = build_providers(routed, settings, http)
        for name, provider in built.items():
            checker = self_check_capability(provider)
            check: Callable[[], Awaitable[str]] = checker.self_check if checker else _runs_here
            findings.append(await _try(f"provider {name}", check()))
            reader = balance_capability(provider)
            if reader is not None and findings[-1].ok:
                findings += await _balances(name, reader)
            await provider.aclose()
    return findings


async def _balances(name: str, reader: ReadsBalance) -> list[Finding]:
    """A line for the account's balance, or one for each pooled key's (by its id)."""
    try:
        keys = await balances_of(reader)
        if len(keys) < 2:  # one account: one line, as before keys were pooled
            keys = {"": keys.popitem()[1] if keys else await reader.balance()}
    except ProviderError as exc:
        return [Finding(f"balance {name}", False, exc.message)]
    return [
        await _try(f"balance {name} {account}".rstrip(), _balance(reader, its))
        for account, its in keys.items()
    ]


async def _balance(reader: ReadsBalance, balance: Balance) -> str:
    """What the account has left; to fix when used up or below the low mark."""
    if is_low(balance, reader):
        low = (
            "used up"
            if balance.has_funds is False
            else f"below the low mark of {reader.balance_low} coins"
        )
        raise ConfigError(f"{describe(balance)}: {low}; top it up")
    return describe(balance)


async def _runs_here() -> str:
    return "runs in this process (nothing to reach)"


async def _public_url(url: str) -> str:
    timeout = aiohttp.ClientTimeout(total=PROBE_S)
    health = f"{bare_url(url).rstrip('/')}/healthz"  # as providers' webhooks come back
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(f"{url.rstrip('/')}/healthz") as response,
        ):
            if response.status != 200:
                raise ConfigError(f"{health} answered HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConfigError(f"{health} cannot be reached from here ({type(exc).__name__})") from None
    return f"{health} answers from here (providers' webhooks come back to it)"
