"""Who a request speaks for: the API key its bearer token names, or no one in open mode.

The keys are read again from the database at most every REFRESH_S, so a key created or
revoked by `rendergate keys` (in any process) takes effect within that, and a request
costs a hash and a lookup, not a query.

Open mode (every caller sees every task, with no key) is a choice its operator makes
(`serve --open`, only on a loopback address, cli/main.py), and holds only while no key has ever
been made: a created key closes it for good, and revoking keys never opens anything. An
open server serves only requests made on its own machine, so it refuses any request that
came through a proxy (which would carry it to the world).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Container
from typing import Protocol

from rendergate.domain.errors import Unauthorized
from rendergate.domain.keys import ApiKey, parse_token

REFRESH_S = 2.0
PROXY_HEADERS = (
    "forwarded",
    "x-forwarded-for",
    "x-real-ip",
    "x-forwarded-proto",
    "x-forwarded-host",
)
HOW_TO_MAKE_ONE = "create one with `rendergate keys create NAME` on the server"


class KeySource(Protocol):
    async def all(self) -> list[ApiKey]: ...


def through_proxy(headers: Container[str]) -> str | None:
    """The proxy header a request carries (lower case), or None: sent straight to us."""
    return next((name for name in PROXY_HEADERS if name in headers), None)


class KeyRing:
    def __init__(
        self,
        source: KeySource | None = None,
        *,
        open_mode: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`open_mode`: the operator asked to serve without keys while none was ever made."""
        self._source = source
        self._open_mode = open_mode
        self._clock = clock
        self._active: dict[str, ApiKey] = {}
        self._any_made = False
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
                    self._any_made = bool(keys)
                    self._read_at = self._clock()
        return self._active

    async def still_active(self, owner: str) -> bool:
        """Whether what `owner` made on its authority still stands: a key's own things
        while it is not revoked; open mode's (owner "", no key) always."""
        return not owner or owner in await self.active()

    def refresh(self) -> None:
        """The next request reads the keys again, however fresh they are: for a caller that
        knows they changed (a test that has just made or revoked one)."""
        self._read_at = None

    @property
    def _open(self) -> bool:
        """Open mode is in force: asked for, and no key (even a revoked one) existed at the
        last read of the keys (`active`)."""
        return self._open_mode and not self._any_made

    async def caller(self, token: str | None, *, proxy_header: str | None = None) -> str | None:
        """The key id the token belongs to; None in open mode. Raises Unauthorized.
        `proxy_header`: the proxy header the request came with, if any."""
        active = await self.active()
        if self._open:
            if proxy_header is not None:
                raise Unauthorized(
                    f"this server runs in open mode, for requests made on its own machine, "
                    f"and this one came through a proxy ({proxy_header}): an API key is "
                    f"needed; {HOW_TO_MAKE_ONE}"
                )
            return None
        if not active:
            raise Unauthorized(
                f"this server needs an API key and none is active: {HOW_TO_MAKE_ONE}"
            )
        if not token:
            raise Unauthorized("an API key is required: send it as Authorization: Bearer <key>")
        parsed = parse_token(token)
        key = active.get(parsed[0]) if parsed else None
        if key is None or parsed is None or not key.matches(parsed[1]):
            raise Unauthorized("the API key is not valid, or was revoked")
        return key.key_id
