"""UrlFetcher refuses addresses it must not reach: before any connection, after DNS,
and along redirects; an allow list opens some."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from aiohttp import web

from rendergate.domain.errors import RendergateError
from rendergate.intake.fetch import UrlFetcher
from rendergate.net.guard import AddressPolicy
from support.fetching import PNG, FakeDns, fetcher, png, refused, serve


async def test_loopback_refused_by_default(release: asyncio.Event, connects: list[str]) -> None:
    async with serve({"/": png}, release) as srv, fetcher() as f:
        msg = await refused(f, srv.url + "/")
    assert msg == "refusing to fetch 127.0.0.1: it is a loopback address"
    assert srv.hits == []
    assert connects == []


@pytest.mark.parametrize("allow", [["127.0.0.1"], ["127.0.0.0/8"], ["10.0.0.0/8", "127.0.0.1/32"]])
async def test_loopback_fetched_when_allowed(
    allow: list[str], release: asyncio.Event, connects: list[str]
) -> None:
    async with serve({"/img": png}, release) as srv, fetcher(allow) as f:
        body, ctype = await f.fetch(srv.url + "/img", role="image")
    assert (body, ctype) == (PNG, "image/png")
    assert srv.hits == ["/img"]
    assert connects == ["127.0.0.1"]


async def test_ip_literals_skip_the_resolver(release: asyncio.Event, dns: FakeDns) -> None:
    """Why fetch.py checks literals itself: aiohttp never hands them to the resolver."""
    async with serve({"/": png}, release) as srv, fetcher(["127.0.0.1"]) as f:
        assert (await f.fetch(srv.url + "/", role="image"))[0] == PNG
    assert dns.asked == []


async def test_localhost_refused_unless_allowed(release: asyncio.Event) -> None:
    async with serve({"/": png}, release) as srv:
        url = srv.url.replace("127.0.0.1", "localhost") + "/"
        async with fetcher() as f:
            msg = await refused(f, url)
        assert msg == "refusing to fetch localhost: it resolves to a loopback address"
        assert srv.hits == []
        async with fetcher(["LOCALHOST"]) as f:
            assert await f.fetch(url, role="image") == (PNG, "image/png")
        assert srv.hits == ["/"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254: it is a link-local"),
        ("http://10.0.0.1/", "10.0.0.1: it is a private address"),
        ("https://192.168.1.1/", "192.168.1.1: it is a private address"),
        ("http://[::1]/", "[::1]: it is a loopback address"),
        ("http://0.0.0.0:8080/", "0.0.0.0: it is an unspecified address"),
        ("http://100.64.0.1/", "100.64.0.1: it is a non-public address"),
        ("http://224.0.0.1/", "224.0.0.1: it is a multicast address"),
        ("http://[fe80::1]/", "[fe80::1]: it is a link-local address"),
        ("http://[fd00::1]/", "[fd00::1]: it is a private address"),
        ("http://[::ffff:169.254.169.254]/", "it is a link-local address"),
        ("http://[::ffff:127.0.0.1]/", "it is a loopback address"),
        ("http://[2002:7f00:1::]/", "it is a loopback address"),  # 6to4 wrapping 127.0.0.1
        ("http://[64:ff9b::a00:1]/", "it is a private address"),  # NAT64 wrapping 10.0.0.1
        ("http://127.1/", "image_url has an invalid IP address 127.1"),
        ("http://2130706433/", "image_url has an invalid IP address 2130706433"),
        ("ftp://example.com/a.png", "image_url must be an http or https URL"),
        ("file:///etc/passwd", "image_url must be an http or https URL"),
        ("example.com/a.png", "image_url must be an http or https URL"),
        ("http:///a.png", "image_url has no host name"),
        ("http://example.com:99999/", "image_url is not a valid URL"),
        ("http://user:pw@example.com/a.png", "must not contain a user name or password"),
        ("https://admin:hunter2@10.0.0.1/", "must not contain a user name or password"),
        ("http://token@example.com/", "must not contain a user name or password"),
    ],
)
async def test_refused_without_any_connection_attempt(
    url: str, expected: str, dns: FakeDns, connects: list[str]
) -> None:
    async with fetcher() as f:
        msg = await refused(f, url)
    assert expected in msg
    for secret in ("pw", "hunter2", "admin", "token"):
        assert secret not in msg
    assert connects == []
    assert dns.asked == []


async def test_credentials_message_names_host(dns: FakeDns) -> None:
    async with fetcher() as f:
        msg = await refused(f, "http://user:pw@images.example.com/a.png")
    assert msg == ("image_url must not contain a user name or password (host images.example.com)")


async def test_name_with_any_blocked_address_is_refused(
    release: asyncio.Event, dns: FakeDns
) -> None:
    async with serve({"/": png}, release) as srv, fetcher(["127.0.0.1/32"]) as f:
        dns.table["mixed.test"] = ["127.0.0.1", "10.0.0.1"]
        dns.table["numeric.test"] = ["127.0.0.1"]
        port = srv.url.rsplit(":", 1)[1]
        msg = await refused(f, f"http://mixed.test:{port}/")
        assert msg == "refusing to fetch mixed.test: it resolves to a private address"
        assert srv.hits == []
        # a name the operator allowed by address is fetched
        assert (await f.fetch(f"http://numeric.test:{port}/", role="image"))[0] == PNG
        assert srv.hits == ["/"]


async def test_allowed_name_skips_the_address_check(release: asyncio.Event, dns: FakeDns) -> None:
    async with serve({"/": png}, release) as srv, fetcher(["Images.Internal."]) as f:
        dns.table["images.internal"] = ["127.0.0.1"]
        port = srv.url.rsplit(":", 1)[1]
        assert await f.fetch(f"http://images.internal:{port}/", role="ref") == (PNG, "image/png")


async def test_legacy_numeric_host_resolved_by_libc_is_still_checked(dns: FakeDns) -> None:
    dns.table["0x7f.1"] = ["127.0.0.1"]  # what glibc's inet_aton makes of it
    async with fetcher() as f:
        msg = await refused(f, "http://0x7f.1/")
    assert msg == "refusing to fetch 0x7f.1: it resolves to a loopback address"


async def test_redirect_to_unallowed_address_is_refused(release: asyncio.Event) -> None:
    async with serve({"/": png}, release, host="127.0.0.2") as inner:

        async def hop(_: web.Request) -> web.Response:
            raise web.HTTPFound(inner.url + "/")

        async with serve({"/go": hop}, release) as outer, fetcher(["127.0.0.1/32"]) as f:
            msg = await refused(f, outer.url + "/go")
    assert msg == "refusing to fetch 127.0.0.2: it is a loopback address"
    assert outer.hits == ["/go"]
    assert inner.hits == []


async def test_redirect_to_name_of_unallowed_address_is_refused_at_connect(
    release: asyncio.Event, dns: FakeDns
) -> None:
    async with serve({"/": png}, release, host="127.0.0.2") as inner:
        dns.table["inside.test"] = ["127.0.0.2"]
        port = inner.url.rsplit(":", 1)[1]

        async def hop(_: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(f"http://inside.test:{port}/")

        async with serve({"/go": hop}, release) as outer, fetcher(["127.0.0.1/32"]) as f:
            msg = await refused(f, outer.url + "/go")
    assert msg == "refusing to fetch inside.test: it resolves to a loopback address"
    assert dns.asked == ["inside.test"]
    assert inner.hits == []


async def test_redirect_to_other_scheme_is_refused(release: asyncio.Event) -> None:
    async def hop(_: web.Request) -> web.Response:
        raise web.HTTPFound("file:///etc/passwd")

    async with serve({"/go": hop}, release) as srv, fetcher(["127.0.0.1"]) as f:
        msg = await refused(f, srv.url + "/go")
    assert msg == "the redirect from 127.0.0.1 must be an http or https URL"


async def redirect_down(request: web.Request) -> web.StreamResponse:
    left = int(request.match_info["n"])
    if left == 0:
        return await png(request)
    raise web.HTTPMovedPermanently(f"/r/{left - 1}")  # relative: joined onto the current URL


async def test_redirects_up_to_the_limit_are_followed(release: asyncio.Event) -> None:
    async with serve({"/r/{n}": redirect_down}, release) as srv:
        async with fetcher(["127.0.0.1"], max_redirects=3) as f:
            assert await f.fetch(srv.url + "/r/3", role="image") == (PNG, "image/png")
        assert srv.hits == ["/r/3", "/r/2", "/r/1", "/r/0"]


async def test_too_many_redirects_are_refused(release: asyncio.Event) -> None:
    async def forever(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/loop/{int(request.match_info['n']) + 1}")

    async with serve({"/loop/{n}": forever}, release) as srv:
        async with fetcher(["127.0.0.1"], max_redirects=3) as f:
            msg = await refused(f, srv.url + "/loop/0")
        assert msg == "127.0.0.1 redirected more than 3 times"
        assert srv.hits == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]


@pytest.mark.parametrize(
    "url",
    [
        "",
        " ",
        "http://",
        "http://[::1",
        "http://[]/",
        "http://exa mple.com/",
        "http://xn--/",
        "http://a\x00b/",
        "http://" + "a" * 70 + ".test/",
        "javascript:alert(1)",
        "//example.com/x",
        "http://1.2.3.4.5/",
        "http://127.0.0.1./",
        "http://[fe80::1%25eth0]/",
        "http://[::ffff:10.0.0.1]:80/",
        "HTTP://EXAMPLE.TEST/",
        "http://example.test:0/",
        "http://\u2024.test/",
        "http://%31%32%37.0.0.1/",
        "http://\uff11\uff12\uff17.0.0.1/",
    ],
)
async def test_any_url_string_raises_only_our_errors(url: str, dns: FakeDns) -> None:
    async with fetcher() as f:
        with pytest.raises(RendergateError):
            await f.fetch(url, role="image")


@pytest.mark.parametrize(
    ("address", "allow", "kind"),
    [
        ("8.8.8.8", [], None),
        ("::ffff:8.8.8.8", [], None),
        ("2002:808:808::", [], None),
        ("::ffff:0.0.0.0", [], "unspecified"),
        ("198.51.100.7", [], "private"),  # documentation range
        ("::ffff:10.1.2.3", ["10.1.2.3/32"], None),
        ("10.1.2.4", ["10.1.2.3/32"], "private"),
        ("0.0.0.1", ["::/96"], "private"),  # an IPv6 CIDR never matches IPv4
    ],
)
def test_address_policy(address: str, allow: list[str], kind: str | None) -> None:
    assert AddressPolicy(allow).refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("entry", ["", "10.0.0.0/33", "host/path"])
def test_bad_allow_entries_fail_loudly(entry: str) -> None:
    with pytest.raises(ValueError, match="allow entry"):
        UrlFetcher(max_bytes=1, timeout_s=1, allow=[entry])
