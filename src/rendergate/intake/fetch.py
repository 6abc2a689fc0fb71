"""Fetch inputs given by URL, never reaching our own network (the address guard, net/guard.py),
within a size and a time limit."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from yarl import URL

from rendergate.domain.errors import InputTooLarge, InvalidInput
from rendergate.net.guard import (
    AddressPolicy,
    BlockedAddress,
    GuardedResolver,
    check_url,
    display_host,
    looks_like_ip,
)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


class UrlFetcher:
    """Fetches input images by URL: http(s) only, size- and time-limited, never to private
    addresses (unless allowed). One aiohttp session per `async with`; safe for concurrent use.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout_s: float,
        allow: Sequence[str] = (),
        max_redirects: int = 3,
        resolver: Callable[[], AbstractResolver] = DefaultResolver,
    ) -> None:
        """`resolver` makes the name resolver each `async with` guards (tests give one that
        answers from a table)."""
        if max_bytes < 0 or timeout_s <= 0 or max_redirects < 0:
            raise ValueError("need max_bytes >= 0, timeout_s > 0 and max_redirects >= 0")
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._max_redirects = max_redirects
        self._policy = AddressPolicy(allow)
        self._new_resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None

    async def __aenter__(self) -> UrlFetcher:
        if self._session is not None:
            raise RuntimeError("this UrlFetcher is already open")
        self._resolver = GuardedResolver(self._policy, self._new_resolver())
        connector = aiohttp.TCPConnector(resolver=self._resolver, use_dns_cache=False)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            auto_decompress=False,  # count the bytes on the wire: no decompression bombs
            trust_env=False,  # an environment proxy would connect for us, unchecked
            cookie_jar=aiohttp.DummyCookieJar(),  # one user's cookies never reach another's URL
            headers={"Accept-Encoding": "identity", "User-Agent": "rendergate"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        session, resolver = self._session, self._resolver
        self._session = self._resolver = None
        if session is not None:
            await session.close()  # owns the connector
        if resolver is not None:
            await resolver.close()  # the connector does not own a resolver it was given

    async def fetch(self, url: str, *, role: str) -> tuple[bytes, str | None]:
        """Return (body, Content-Type or None); refusals raise InvalidInput for `{role}_url`."""
        session = self._session
        if session is None:
            raise RuntimeError("open the UrlFetcher with `async with` before fetching")
        field = f"{role}_url"
        target = self._checked(url, field, subject=field)
        host = display_host(target)
        try:
            async with asyncio.timeout(self._timeout_s):
                for _ in range(self._max_redirects + 1):
                    host = display_host(target)
                    async with session.get(target, allow_redirects=False) as resp:
                        if resp.status not in _REDIRECTS:
                            return await self._read(resp, host, field)
                        target = self._next_hop(resp, target, host, field)
                raise InvalidInput(
                    f"{host} redirected more than {self._max_redirects} times", field=field
                )
        except TimeoutError as exc:
            msg = f"timed out after {self._timeout_s:g} s fetching {host}"
            raise InvalidInput(msg, field=field) from exc
        except BlockedAddress as exc:
            raise InvalidInput(exc.message, field=field) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise InvalidInput(f"could not fetch {host}: {_reason(exc)}", field=field) from exc
        except ValueError as exc:  # e.g. libc's IDNA step refusing an empty label
            why = "its host name is not valid" if isinstance(exc, UnicodeError) else "bad request"
            raise InvalidInput(f"could not fetch {host}: {why}", field=field) from exc

    def _checked(self, url: str | URL, field: str, *, subject: str) -> URL:
        return check_url(url, self._policy, field=field, subject=subject)

    async def vet(self, url: str, *, field: str) -> None:
        """Refuses (InvalidInput) a URL we must not connect to, its host name resolved now:
        a client learns of a webhook URL into our own network at create, not at delivery.
        Delivery checks again (sender.py), since a name may resolve elsewhere later."""
        hint = " (RENDERGATE_FETCH_ALLOW lists the hosts allowed)"
        try:
            target = check_url(url, self._policy, field=field, subject=field, verb="send to")
        except BlockedAddress as exc:  # an address literal: the allow list could let it by
            raise InvalidInput(exc.message + hint, field=field) from None
        host = target.raw_host or ""
        if self._resolver is None or looks_like_ip(host):
            return
        try:
            await self._resolver.resolve(host, target.port or 0)
        except BlockedAddress as exc:  # the fetcher's resolver, which says "fetch"
            said = BlockedAddress(exc.host, exc.kind, verb="send to")
            raise InvalidInput(said.message + hint, field=field) from exc
        except OSError as exc:
            msg = f"{field} host {display_host(target)} cannot be resolved"
            raise InvalidInput(msg, field=field) from exc

    def _next_hop(self, resp: aiohttp.ClientResponse, current: URL, host: str, field: str) -> URL:
        """Where a redirect points, re-vetted like the URL we were given."""
        subject = f"the redirect from {host}"
        location = resp.headers.get("Location")
        if not location:
            raise InvalidInput(
                f"{host} answered HTTP {resp.status} without a location", field=field
            )
        try:
            target = current.join(URL(location))
        except Exception:  # as in _checked: any parse failure means an invalid URL
            raise InvalidInput(f"{subject} is not a valid URL", field=field) from None
        return self._checked(target, field, subject=subject)

    async def _read(
        self, resp: aiohttp.ClientResponse, host: str, field: str
    ) -> tuple[bytes, str | None]:
        if not 200 <= resp.status < 300:
            raise InvalidInput(f"{host} answered HTTP {resp.status}", field=field)
        encoding = resp.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            msg = f"{host} sent compressed content; only uncompressed files are accepted"
            raise InvalidInput(msg, field=field)
        limit = self._max_bytes
        length = resp.content_length
        if length is not None and length > limit:
            msg = f"the file at {host} is {length} bytes, over the {limit}-byte limit"
            raise InputTooLarge(msg, field=field)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > limit:
                resp.close()  # drop the connection now rather than drain the rest
                raise InputTooLarge(
                    f"the file at {host} is over the {limit}-byte limit", field=field
                )
        return bytes(body), resp.headers.get("Content-Type")


def _reason(exc: BaseException) -> str:
    """A short, credential-free reason for a failed connection, fit for a user."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "its host name could not be resolved"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "the TLS connection failed (is its certificate valid?)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _os_reason(exc.os_error)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the response was cut short or malformed"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "the server sent an invalid HTTP response"
    if isinstance(exc, OSError):
        return _os_reason(exc)
    return "the connection failed"


def _os_reason(exc: OSError) -> str:
    # asyncio's strerror is "Connect call failed (addr)"; the errno says what happened
    text = os.strerror(exc.errno) if isinstance(exc.errno, int) and exc.errno > 0 else ""
    return (text or "the connection failed").lower()
