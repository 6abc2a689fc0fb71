"""The key ring reads the keys again every REFRESH_S, or on the next request once refreshed."""

from __future__ import annotations

from datetime import UTC, datetime

from rendergate.domain.keys import new_key
from rendergate.services.keys import REFRESH_S, KeyRing
from rendergate.testing import KeyList

NOW = datetime(2026, 12, 1, tzinfo=UTC)


async def test_a_new_key_is_seen_after_refresh_s_or_at_once_when_refreshed() -> None:
    now = [0.0]
    source = KeyList()
    ring = KeyRing(source, clock=lambda: now[0])
    assert await ring.active() == {}
    _, shop = new_key("shop", now=NOW)
    source.keys.append(shop)
    now[0] += REFRESH_S / 2
    assert await ring.active() == {}  # read a moment ago: not read again yet
    now[0] += REFRESH_S / 2
    assert list(await ring.active()) == [shop.key_id]
    _, other = new_key("other", now=NOW)
    source.keys[:] = [shop.revoke(now=NOW), other]
    ring.refresh()
    assert list(await ring.active()) == [other.key_id]  # the same instant: read again
