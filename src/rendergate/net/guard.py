"""The address guard every outbound connection to a user's URL goes through: image URLs
(intake/fetch.py) and client webhooks (delivery/sender.py). It refuses loopback, private,
link-local and other non-public addresses, unless the operator allows them.

The check lives in the connector's resolver, so it sees exactly the addresses aiohttp is
about to connect to: DNS rebinding and redirects to internal names cannot slip past it. aiohttp
does not consult the resolver for IP-literal hosts, so `check_url` checks those before every
request.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from rendergate.domain.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = frozenset({"http", "https"})
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


def check_url(
    url: str | URL, policy: AddressPolicy, *, field: str, subject: str, verb: str = "fetch"
) -> URL:
    """Parse and vet a URL before any connection; `subject` names it in messages, `verb`
    what we were to do with it."""
    try:
        parsed = url if isinstance(url, URL) else URL(url)
        scheme, raw_host = parsed.scheme, parsed.raw_host
        has_userinfo = parsed.raw_user is not None or parsed.raw_password is not None
        host = display_host(parsed)  # decodes IDNA, which can fail
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
    if not looks_like_ip(raw_host):
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


def looks_like_ip(raw_host: str) -> bool:
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


def display_host(url: URL) -> str:
    host = url.host or ""
    return f"[{host}]" if ":" in host else host
