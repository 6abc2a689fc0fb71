"""`rendergate keys`: create, list, revoke API keys, rotate their webhook secrets, and set
each key's own limits, prices and account webhook.

They work on the database directly (a running server sees a change within seconds,
services/keys.py). A key and its webhook signing secret are printed once, on stdout, and
kept only as a hash (the key) or for signing (the secret).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from rendergate.cli.common import Exit, console, with_database
from rendergate.config.settings import Settings
from rendergate.domain.errors import InvalidInput
from rendergate.domain.keys import ApiKey, new_key
from rendergate.domain.limits import (
    KeyLimits,
    check_account_webhook,
    describe,
    parse_budget,
    parse_count,
    with_price,
)

if TYPE_CHECKING:
    from rendergate.store.keys import KeyStore

T = TypeVar("T")
OVERLAP = timedelta(hours=24)  # both webhook secrets verify for this long after a rotation

keys_app = typer.Typer(
    help="API keys: who may call the API, and their webhook secrets.", rich_markup_mode="markdown"
)
out = Console(soft_wrap=True)  # a key or secret split over two lines would not paste


def with_keys(settings: Settings, use: Callable[[KeyStore], Awaitable[T]]) -> T:
    """Runs `use(store)` on the migrated database, and closes it."""
    from rendergate.store.keys import KeyStore

    return with_database(settings, lambda engine: use(KeyStore(engine)))


def _settings(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def _one(keys: list[ApiKey], name_or_id: str) -> ApiKey:
    if len(keys) != 1:
        why = "no key has" if not keys else f"{len(keys)} keys have"
        console.print(f"[red]{why} the id or name {name_or_id!r}[/red]; `rendergate keys list`")
        raise typer.Exit(Exit.NOT_FOUND)
    return keys[0]


@keys_app.command()
def create(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Who it is for")]) -> None:
    """Print a new API key and its webhook signing secret, once."""
    token, key = new_key(name[:100], now=datetime.now(UTC))
    with_keys(_settings(ctx), lambda store: store.add(key))
    out.print(f"key id:          {key.key_id}")
    out.print(f"API key:         {token}")
    out.print(f"webhook secret:  {key.webhook_secret}")
    console.print(
        "Keep both now: neither is shown again. Send the key as `Authorization: Bearer`; "
        "the rendergate commands and the SDK read it from RENDERGATE_API_KEY."
    )


@keys_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """Every key: id, name, created, revoked (never a secret); then each key's own limits,
    a line a key (`keys limits`)."""
    settings = _settings(ctx)
    keys = with_keys(settings, lambda store: store.all())
    table = Table("key id", "name", "created", "revoked")
    for key in keys:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else ""
        table.add_row(key.key_id, key.name, key.created_at.isoformat(timespec="seconds"), revoked)
    out.print(table)
    for key in keys:
        if key.active:
            out.print(f"{key.key_id} ({key.name}): {describe(key.limits, settings.currency)}")


@keys_app.command()
def revoke(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Its id or name")]) -> None:
    """Revoke a key: requests with it are refused (within seconds, in every process)."""

    async def use(store: KeyStore) -> ApiKey:
        found = _one(await store.named(key), key).revoke(now=datetime.now(UTC))
        await store.save(found)
        return found

    revoked = with_keys(_settings(ctx), use)
    console.print(f"revoked {revoked.key_id} ({revoked.name})")


@keys_app.command("rotate-secret")
def rotate_secret(
    ctx: typer.Context, key: Annotated[str, typer.Argument(help="Its id or name")]
) -> None:
    """A new webhook signing secret; the old one still verifies for 24 hours."""

    async def use(store: KeyStore) -> ApiKey:
        until = datetime.now(UTC) + OVERLAP
        found = _one(await store.named(key), key).rotate_webhook_secret(overlap_until=until)
        await store.save(found)
        return found

    rotated = with_keys(_settings(ctx), use)
    out.print(f"webhook secret:  {rotated.webhook_secret}")
    until = rotated.previous_until
    console.print(f"the previous secret of {rotated.key_id} verifies until {until}")


Count = Annotated[
    str | None, typer.Option(help='A whole number (0: no limit), or "none": the default')
]


@keys_app.command("limits")
def set_limits(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Its id or name")],
    rate_per_minute: Count = None,
    max_in_flight: Count = None,
    daily_tasks: Count = None,
    monthly_budget: Annotated[
        str | None,
        typer.Option(help='Net charges a UTC month, "50.00" in RENDERGATE_CURRENCY, or "none"'),
    ] = None,
    price: Annotated[
        list[str] | None, typer.Option(help="APP=1.50: its price for this key; APP=none: unset")
    ] = None,
    account_webhook: Annotated[
        str | None, typer.Option(help='Where usage.budget_low/_reached go, or "none"')
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Every limit back to the default first")
    ] = False,
) -> None:
    """Set a key's own limits (the settings' are the defaults); in force within 2 s."""
    given = {
        "rate_per_minute": rate_per_minute,
        "max_in_flight": max_in_flight,
        "daily_tasks": daily_tasks,
    }

    async def use(store: KeyStore) -> tuple[ApiKey, KeyLimits]:
        found = _one(await store.named(key), key)
        limits = _changed(KeyLimits() if clear else found.limits, given, monthly_budget, price)
        if account_webhook is not None:
            limits = dataclasses.replace(
                limits, account_webhook=check_account_webhook(account_webhook)
            )
        await store.set_limits(found.key_id, limits)
        return found, limits

    try:
        found, limits = with_keys(_settings(ctx), use)
    except InvalidInput as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(Exit.REFUSED) from None
    out.print(f"{found.key_id} ({found.name}): {describe(limits, _settings(ctx).currency)}")


def _changed(
    limits: KeyLimits, counts: dict[str, str | None], budget: str | None, prices: list[str] | None
) -> KeyLimits:
    """`limits` with the options given changed (InvalidInput for one that is not valid)."""
    changes: dict[str, object] = {
        name: parse_count(text, field=f"--{name.replace('_', '-')}")
        for name, text in counts.items()
        if text is not None
    }
    if budget is not None:
        changes["monthly_budget"] = parse_budget(budget)
    if prices:
        changed = dict(limits.prices)
        for each in prices:
            changed = with_price(changed, each)
        changes["prices"] = changed
    return dataclasses.replace(limits, **changes)  # type: ignore[arg-type]
