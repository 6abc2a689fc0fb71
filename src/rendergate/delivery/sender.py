"""Sends one webhook try: a POST to the client's URL, never into our own network.

The same guard as image URLs (net/guard.py): IP literals are checked before the
request, names in the connector's resolver at connect time, so a name that resolved to a
public address at create and to a private one now is refused now. Redirects are not
followed (a receiver answering 3xx has not taken the event), and of the answer only the
status is kept.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from aiohttp.resolver import DefaultResolver

from rendergate.domain.errors import InvalidInput
from rendergate.net.guard import AddressPolicy, GuardedResolver, check_url

MAX_READ = 64 * 1024  # of a receiver's answer, read and dropped (to reuse the connection)


@dataclass(frozen=True)
class Sent:
    status_code: int | None  # None: no HTTP answer
    error: str = ""


class WebhookSender:
    """One aiohttp session for every try; opened and closed with `async with`."""

    def __init__(self, *, allow: list[str], timeout_s: float) -> None:
        self._policy = AddressPolicy(allow)
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookSender:
        resolver = GuardedResolver(self._policy, DefaultResolver(), verb="send to")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit=0),
            timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": "rendergate-webhooks"},
        )
        self._resolver = resolver
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            await self._resolver.close()
            self._session = None

    async def send(self, url: str, headers: dict[str, str], body: str) -> Sent:
        if self._session is None:
            raise RuntimeError("open the WebhookSender with `async with` first")
        try:
            target = check_url(
                url, self._policy, field="webhook_url", subject="webhook_url", verb="send to"
            )
            async with (
                asyncio.timeout(self._timeout_s),
                self._session.post(
                    target, data=body.encode(), headers=headers, allow_redirects=False
                ) as response,
            ):
                await response.content.read(MAX_READ)
                if 300 <= response.status < 400:
                    return Sent(response.status, "redirects are not followed")
                return Sent(response.status)
        except InvalidInput as exc:  # BlockedAddress too: refused before connecting
            return Sent(None, exc.message)
        except TimeoutError:
            return Sent(None, f"no answer within {self._timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return Sent(None, f"could not connect: {type(exc).__name__}")
