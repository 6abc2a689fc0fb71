"""Who a request speaks for: the API key its bearer token names, or no one in open mode.

The active keys are read again from the database at most every REFRESH_S, so a key
created or revoked by `rendergate keys` (in any process) takes effect within that, and a
request costs a hash and a lookup, not a query. With no key at all the service is open:
every caller sees every task (allowed only on a loopback address, cli.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from rendergate.domain.errors import Unauthorized
from rendergate.domain.keys import ApiKey, parse_token

REFRESH_S = 2.0


class KeySource(Protocol):
    async def all(self) -> list[ApiKey]: ...


class KeyRing:
    def __init__(
        self,
        source: KeySource | None = None,
        *,
        required: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`required`: off a loopback address, no key at all refuses every request instead
        of opening the service (every key revoked while it runs)."""
        self._source = source
        self._required = required
        self._clock = clock
        self._active: dict[str, ApiKey] = {}
        self._read_at: float | None = None
        self._reading = asyncio.Lock()

    async def active(self) -> dict[str, ApiKey]:
        """The keys that are not revoked, by id; at most REFRESH_S old."""
        if self._source is None:
            return {}
        if self._read_at is None or self._clock() - self._read_at >= REFRESH_S:
            async with self._reading:
                if self._read_at is None or self._clock() - self._read_at >= REFRESH_S:
                    keys = await self._source.all()
                    self._active = {k.key_id: k for k in keys if k.active}
                    self._read_at = self._clock()
        return self._active

    async def caller(self, token: str | None) -> str | None:
        """The key id the token belongs to; None in open mode. Raises Unauthorized."""
        active = await self.active()
        if not active and self._required:
            raise Unauthorized(
                "this server needs an API key and none is active: create one with "
                "`rendergate keys create NAME`"
            )
        if not active:
            return None
        if not token:
            raise Unauthorized("an API key is required: send it as Authorization: Bearer <key>")
        parsed = parse_token(token)
        key = active.get(parsed[0]) if parsed else None
        if key is None or parsed is None or not key.matches(parsed[1]):
            raise Unauthorized("the API key is not valid, or was revoked")
        return key.key_id
