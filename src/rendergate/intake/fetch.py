"""Fetch inputs given by URL without letting a URL reach our own network (SSRF).

The address check lives in the connector's resolver, so it sees exactly the addresses aiohttp is
about to connect to: DNS rebinding and redirects to internal names cannot slip past it. aiohttp
does not consult the resolver for IP-literal hosts, so those are checked before every request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from collections.abc import Sequence

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from rendergate.domain.errors import InputTooLarge, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = frozenset({"http", "https"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOST_NAME = re.compile(r"[a-z0-9_.-]+", re.IGNORECASE)  # IDNA-encoded; no spaces, NULs, "%"


class BlockedAddress(InvalidInput):
    """A host resolved to an address we must not connect to.

    Not an OSError on purpose: aiohttp wraps those as DNS failures, and this must stay distinct.
    """

    def __init__(
        self,
        host: str,
        kind: str,
        *,
        verb: str = "fetch",
        resolved: bool = True,
        field: str | None = None,
    ) -> None:
        """`verb`: what we were to do (fetch, send to); `resolved`: the host is a name that
        resolved to the address, not the address itself."""
        how = "resolves to" if resolved else "is"
        super().__init__(f"refusing to {verb} {host}: it {how} {_a(kind)} address", field=field)
        self.host = host
        self.kind = kind


class AddressPolicy:
    """Which hosts we may connect to: public addresses, plus the operator's allow list."""

    def __init__(self, allow: Sequence[str] = ()) -> None:
        if isinstance(allow, str):
            raise TypeError("allow is a sequence of entries, not one string")
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in allow:
            text = entry.strip()
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError as exc:
                if not text or "/" in text:
                    raise ValueError(f"allow entry {entry!r} is not a host name or CIDR") from exc
                names.add(_norm_host(text))
        self._names = frozenset(names)
        self._networks = tuple(networks)

    def host_allowed(self, host: str) -> bool:
        """Whether the operator allowed this host name outright, whatever it resolves to."""
        return _norm_host(host) in self._names

    def refusal(self, address: IPAddress) -> str | None:
        """The kind of address (e.g. "loopback") if we must not connect to it, else None."""
        embedded = _embedded_ipv4(address)
        judged = address if embedded is None else embedded
        for candidate in (address, judged):
            for net in self._networks:
                if candidate.version == net.version and candidate in net:
                    return None
        return _non_public_kind(judged)


class GuardedResolver(AbstractResolver):
    """Wraps a real resolver and refuses a host if any address it resolves to is forbidden."""

    def __init__(
        self, policy: AddressPolicy, inner: AbstractResolver, *, verb: str = "fetch"
    ) -> None:
        self._policy = policy
        self._inner = inner  # owned: closed by close()
        self._verb = verb  # what a refusal says we were to do

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._policy.host_allowed(host):
            return results
        for result in results:
            try:
                address = ipaddress.ip_address(result["host"])
            except ValueError as exc:
                raise BlockedAddress(host, "unrecognised", verb=self._verb) from exc
            kind = self._policy.refusal(address)
            if kind is not None:
                raise BlockedAddress(host, kind, verb=self._verb)
        return results

    async def close(self) -> None:
        await self._inner.close()


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
    ) -> None:
        if max_bytes < 0 or timeout_s <= 0 or max_redirects < 0:
            raise ValueError("need max_bytes >= 0, timeout_s > 0 and max_redirects >= 0")
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._max_redirects = max_redirects
        self._policy = AddressPolicy(allow)
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None

    async def __aenter__(self) -> UrlFetcher:
        if self._session is not None:
            raise RuntimeError("this UrlFetcher is already open")
        self._resolver = GuardedResolver(self._policy, DefaultResolver())
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
        host = _display_host(target)
        try:
            async with asyncio.timeout(self._timeout_s):
                for _ in range(self._max_redirects + 1):
                    host = _display_host(target)
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
        if self._resolver is None or _looks_like_ip(host):
            return
        try:
            await self._resolver.resolve(host, target.port or 0)
        except BlockedAddress as exc:  # the fetcher's resolver, which says "fetch"
            said = BlockedAddress(exc.host, exc.kind, verb="send to")
            raise InvalidInput(said.message + hint, field=field) from exc
        except OSError as exc:
            msg = f"{field} host {_display_host(target)} cannot be resolved"
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


def check_url(
    url: str | URL, policy: AddressPolicy, *, field: str, subject: str, verb: str = "fetch"
) -> URL:
    """Parse and vet a URL before any connection; `subject` names it in messages, `verb`
    what we were to do with it."""
    try:
        parsed = url if isinstance(url, URL) else URL(url)
        scheme, raw_host = parsed.scheme, parsed.raw_host
        has_userinfo = parsed.raw_user is not None or parsed.raw_password is not None
        host = _display_host(parsed)  # decodes IDNA, which can fail
        _ = parsed.port  # validates it
    except Exception as exc:  # yarl fails on some garbage with IndexError: all "invalid"
        raise InvalidInput(f"{subject} is not a valid URL", field=field) from exc
    if scheme not in _SCHEMES:
        raise InvalidInput(f"{subject} must be an http or https URL", field=field)
    if not raw_host:
        raise InvalidInput(f"{subject} has no host name", field=field)
    if has_userinfo:
        msg = f"{subject} must not contain a user name or password (host {host})"
        raise InvalidInput(msg, field=field)
    if not _looks_like_ip(raw_host):
        if not _HOST_NAME.fullmatch(raw_host):
            raise InvalidInput(f"{subject} has an invalid host name", field=field)
        return parsed  # the resolver checks what a name resolves to, at connect time
    if policy.host_allowed(raw_host):
        return parsed
    address = _parse_ip(raw_host) or _parse_ip(parsed.host or "")
    if address is None:
        raise InvalidInput(f"{subject} has an invalid IP address {host}", field=field)
    kind = policy.refusal(address)
    if kind is not None:
        raise BlockedAddress(host, kind, verb=verb, resolved=False, field=field)
    return parsed


def _norm_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _looks_like_ip(raw_host: str) -> bool:
    """Mirror aiohttp's test for skipping the resolver, so nothing it skips goes unchecked."""
    return ":" in raw_host or raw_host.replace(".", "").isdigit()


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one really routes to (mapped, 6to4, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _non_public_kind(address: IPAddress) -> str | None:
    kinds = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),  # e.g. carrier-grade NAT, 100.64.0.0/10
    )
    return next((kind for kind, hit in kinds if hit), None)


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in ("a", "e", "i", "o", "u") else f"a {word}"


def _display_host(url: URL) -> str:
    host = url.host or ""
    return f"[{host}]" if ":" in host else host


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
