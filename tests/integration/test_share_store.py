"""The share links' two stores keep one contract: the SQL table (SQLite here; PostgreSQL in
test_shares.py, over HTTP) and its in-memory twin, which Services holds by default. A
share is found by its token's hash alone, listed by owner and batch, and revoked once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from rendergate.domain.errors import ShareExpired, ShareNotFound
from rendergate.domain.shares import Share, hash_token, new_token
from rendergate.store.base import ShareStore
from rendergate.store.shares import MemoryShareStore, SqlShareStore
from rendergate.store.sql import create_engine, migrate
from rendergate.testing import T0


@pytest.fixture(params=["memory", "sqlite"])
async def shares(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ShareStore]:
    if request.param == "memory":
        yield MemoryShareStore()
        return
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}")
    await migrate(engine)
    yield SqlShareStore(engine)
    await engine.dispose()


def share(share_id: int, token: str, *, owner: str = "k1", batch_id: int = 7) -> Share:
    return Share(
        share_id=share_id,
        owner=owner,
        batch_id=batch_id,
        token_hash=hash_token(token),
        created_at=T0 + timedelta(seconds=share_id),
        expires_at=T0 + timedelta(days=7),
    )


async def test_a_share_is_found_by_its_hash_listed_and_revoked_once(shares: ShareStore) -> None:
    tokens = [new_token() for _ in range(3)]
    first, second = share(2, tokens[0]), share(1, tokens[1])
    for each in (first, second, share(3, tokens[2], owner="k2"), share(4, new_token(), batch_id=8)):
        await shares.add(each)
    assert await shares.by_hash(hash_token(tokens[0])) == first
    assert await shares.by_hash(tokens[0]) is None  # the token itself finds nothing
    assert await shares.of_batch("k1", 7) == [second, first]  # oldest first
    assert await shares.revoke(2, "k2", T0) is None  # another owner's
    revoked = await shares.revoke(2, "k1", T0 + timedelta(hours=1))
    assert revoked == first.revoke(now=T0 + timedelta(hours=1))
    assert await shares.revoke(2, "k1", T0 + timedelta(hours=2)) == revoked  # the first stands
    assert await shares.by_hash(hash_token(tokens[0])) == revoked


def test_a_share_opens_until_its_expiry_and_never_once_revoked() -> None:
    made = share(1, new_token())
    assert made.open_at(made.expires_at - timedelta(microseconds=1)) == made
    with pytest.raises(ShareExpired, match=r"^this link expired on 2025-06-08; ask for a new one$"):
        made.open_at(made.expires_at)
    with pytest.raises(ShareNotFound):
        made.revoke(now=T0).open_at(T0)
