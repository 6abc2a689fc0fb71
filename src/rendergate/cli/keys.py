"""`rendergate keys`: create, list, revoke API keys and rotate their webhook secrets.

They work on the database directly (a running server sees a change within seconds,
services/keys.py). A key and its webhook signing secret are printed once, on stdout, and
kept only as a hash (the key) or for signing (the secret).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from rendergate.cli.common import Exit, console, with_database
from rendergate.config.settings import Settings
from rendergate.domain.keys import ApiKey, new_key

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
    """Every key: id, name, created, revoked (never a secret)."""
    keys = with_keys(_settings(ctx), lambda store: store.all())
    table = Table("key id", "name", "created", "revoked")
    for key in keys:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else ""
        table.add_row(key.key_id, key.name, key.created_at.isoformat(timespec="seconds"), revoked)
    out.print(table)


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
