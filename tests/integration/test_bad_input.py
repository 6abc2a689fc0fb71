"""Bad input of every kind: a 4xx that says what was wrong, never a 500, and nothing stored;
on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rendergate.config.settings import Settings, load_settings
from support.images import make_bomb_png, make_jpeg, make_png
from support.pg import DATABASES, on_database
from support.refusals import Form, form_of, nothing_stored, refused, url
from support.server import RunningServer, serve

APPS = Path(__file__).parents[1] / "support" / "apps.toml"
PNG = make_png()
JPEG = make_jpeg(640, 480)
B64 = base64.b64encode(PNG).decode()
REF = {"image_base64": B64, "reference_base64": B64}
NOON = "2020-01-01T12:00:00+00:00"


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


DEEP = "[" * 20_000 + "]" * 20_000  # nesting json.loads cannot follow (RecursionError)


IMAGE: Form = [("image", PNG, "image/png")]


@pytest.mark.parametrize(
    ("fields", "status", "field", "says"),
    [
        ([("image", b"just text", "text/plain")], 415, None, "sent as 'text/plain'"),
        ([("image", b"%PDF-1.4 x", "application/octet-stream")], 415, None, "not an image"),
        ([("image", b"", "image/png")], 422, "image", "image is empty"),
        ([("image", PNG[: len(PNG) // 2], "image/png")], 422, "image", "truncated or corrupt"),
        ([("image", JPEG[: len(JPEG) // 2], "image/jpeg")], 422, "image", "truncated or corrupt"),
        ([*IMAGE, ("reference", JPEG[:999], "image/jpeg")], 422, "reference", "reference is trunc"),
        ([("image", "not a file", None)], 422, "image", "image must be a file upload"),
        ([("type", "preview", None)], 422, "image", "an image is required"),
        ([*IMAGE, ("params", "{strength: 1", None)], 422, "params", "params is not valid JSON"),
        ([*IMAGE, ("params", "[1, 2]", None)], 422, "params", "params must be a JSON object"),
        ([*IMAGE, ("params", '"x"', None)], 422, "params", "params must be a JSON object"),
        ([*IMAGE, ("params", "{x", "text/plain")], 422, "params", "params must be a text field"),
        ([*IMAGE, ("colour", "red", None)], 422, "colour", "unknown form field(s): colour"),
        ([*IMAGE, ("type", "nope", None)], 422, "type", "unknown type 'nope'"),
        ([*IMAGE, ("type", "x" * 65, None)], 422, "type", "at most 64 characters"),
        ([*IMAGE, ("params", '{"strength": -1}', None)], 422, "params.strength", "0 to 1"),
        ([*IMAGE, ("type", "fake_ref", None), ("angle", "top", None)], 422, "reference", "needs a"),
        ([*IMAGE, ("params", DEEP, None)], 422, "params", "params is nested too deeply"),
        ([*IMAGE, ("params", '{"x": NaN}', None)], 422, "params", "NaN is not valid JSON"),
        ([*IMAGE, ("seed", "-1", None)], 422, "seed", "seed must be an integer from 0 to"),
        ([*IMAGE, ("seed", "1.5", None)], 422, "seed", "seed must be an integer from 0 to"),
        ([*IMAGE, ("seed", "true", None)], 422, "seed", "seed must be an integer from 0 to"),
        ([*IMAGE, ("seed", str(2**53), None)], 422, "seed", "not 9007199254740992"),
    ],
)
async def test_bad_multipart_isrefused(
    server: RunningServer, fields: Form, status: int, field: str | None, says: str
) -> None:
    # a fresh connection each time: the server may close one after a 500
    async with aiohttp.ClientSession() as http, http.post(url(server), data=form_of(fields)) as r:
        loc = await refused(r, status, says)
    assert loc[1:] == ([field] if field else [])
    await nothing_stored(server)


@pytest.mark.parametrize(
    ("body", "status", "field", "says"),
    [
        ({"type": 5, "image_base64": B64}, 422, "type", "type: Input should be a valid string"),
        ({"params": "x", "image_base64": B64}, 422, "params", "params: Input should be a valid"),
        ({"image_base64": 12}, 422, "image_base64", "image_base64: Input should be a valid"),
        ({"angle": ["front"], "image_base64": B64}, 422, "angle", "angle: Input should be"),
        ({"image_base64": "@@@ not base64"}, 422, "image_base64", "is not valid base64"),
        ({"image_base64": "data:image/png;base64,iVBO!"}, 422, "image_base64", "not valid base64"),
        ({"colour": "red", "image_base64": B64}, 422, "colour", "Extra inputs are not permitted"),
        ({"image_base64": B64, "image_url": "http://127.0.0.1/a.png"}, 422, None, "not both"),
        ({}, 422, "image", "an image is required"),
        ({"type": "preview", "image_base64": ""}, 422, "image", "an image is required"),
        ({"type": "su_render", "image_base64": B64}, 422, "type", "RENDERGATE_RUNNINGHUB_API_KEY"),
        ({"image_url": "http://127.0.0.1:9/a.png"}, 422, "image_url", "a loopback address"),
        ({"image_url": "http://localhost:9/a.png"}, 422, "image_url", "a loopback address"),
        ({"image_url": "http://[::1]:9/a.png"}, 422, "image_url", "a loopback address"),
        ({"image_url": "http://10.0.0.1/a.png"}, 422, "image_url", "a private address"),
        ({"image_url": "file:///etc/passwd"}, 422, "image_url", "must be an http or https URL"),
        ({"reference_url": "ftp://127.0.0.1/r.png"}, 422, "reference_url", "http or https"),
        ({"params": {"strength": 5}, "image_base64": B64}, 422, "params.strength", "0 to 1"),
        ({"params": {"smoothing": "hi"}, "image_base64": B64}, 422, "params.smoothing", "0 to 1"),
        (
            {"params": {"strenght": 0.5}, "image_base64": B64},
            422,
            "params.strenght",
            "app 'preview' takes no param 'strenght'; its params: smoothing, strength",
        ),
        ({"type": "fake_ref", "image_base64": B64}, 422, "reference", "needs a reference image"),
        ({"type": "fake_ref", "angle": "side", **REF}, 422, "angle", "not one of front, top"),
        ({"image_base64": base64.b64encode(b"GIF89a?").decode()}, 415, None, "not an image"),
        ({"seed": -1, "image_base64": B64}, 422, "seed", "seed must be an integer from 0 to"),
        ({"seed": 2**53, "image_base64": B64}, 422, "seed", "(2^53-1), not 9007199254740992"),
        ({"seed": True, "image_base64": B64}, 422, "seed", "(2^53-1), not True"),
        ({"seed": 1.5, "image_base64": B64}, 422, "seed", "(2^53-1), not 1.5"),
        ({"seed": "7", "image_base64": B64}, 422, "seed", "(2^53-1), not '7'"),
    ],
)
async def test_bad_json_isrefused(
    server: RunningServer, body: dict[str, Any], status: int, field: str | None, says: str
) -> None:
    async with server.http.post(url(server), json=body) as response:
        loc = await refused(response, status, says)
    if field is not None:
        assert loc[-1] == field
    await nothing_stored(server)


async def test_an_unknown_type_lists_the_known_ones(server: RunningServer) -> None:
    async with server.http.post(url(server), json={"type": "x", "image_base64": B64}) as r:
        await refused(r, 422, f"known types: {', '.join(sorted(server.services.apps))}")
    assert {"preview", "su_render", "fake", "fake_ref"} <= set(server.services.apps)
    await nothing_stored(server)


@pytest.mark.parametrize(
    ("data", "content_type", "status", "says"),
    [
        (b"image=x", "text/plain", 415, "content type 'text/plain' is not accepted"),
        (b"image=x", "application/x-www-form-urlencoded", 415, "send multipart/form-data"),
        (b"image=x", None, 415, "content type 'missing' is not accepted"),
        (b'{"type": "preview",', "application/json", 422, "body is not valid JSON"),
        (b'{"type": "\xff"}', "application/json", 422, "body is not valid JSON"),
        (b"[]", "application/json", 422, "valid dictionary"),
        (b"--x\r\nbroken", "multipart/form-data", 422, "malformed multipart body"),
        (DEEP.encode(), "application/json", 422, "body is nested too deeply"),
        (b"[" * 40_000, "application/json", 422, "body has over 30,000 commas and brackets"),
        (b'{"type": "fake", "params": {"x": Infinity}}', "application/json", 422, "Infinity"),
    ],
)
async def test_bad_bodies_arerefused(
    server: RunningServer, data: bytes, content_type: str | None, status: int, says: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    skip = () if content_type else ("Content-Type",)
    # a fresh connection each time: the server may close one after a 500
    async with (
        aiohttp.ClientSession() as http,
        http.post(url(server), data=data, headers=headers, skip_auto_headers=skip) as response,
    ):
        await refused(response, status, says)
    await nothing_stored(server)


@pytest.mark.parametrize(
    ("size", "says"),
    [
        ((20_000, 20_000), "image declares 400,000,000 pixels; the limit is 40,000,000"),
        ((8_000, 8_000), "image is 8000x8000 pixels (64,000,000); the limit is 40,000,000"),
    ],
)
async def test_pixel_bombs_arerefused(
    server: RunningServer, size: tuple[int, int], says: str
) -> None:
    bomb = make_bomb_png(*size)
    assert len(bomb) < server.services.settings.max_upload_bytes
    async with server.http.post(url(server), data=form_of([("image", bomb, "image/png")])) as r:
        await refused(r, 413, says)
    await nothing_stored(server)


@pytest.fixture
async def small_server(settings: Settings) -> AsyncIterator[RunningServer]:
    """Uploads limited to 0.05 MB; URLs on 127.0.0.1 may be fetched."""
    small = load_settings(
        data_dir=settings.data_dir,
        apps_file=APPS,
        database_url=settings.database_url,
        max_upload_mb=0.05,
        fetch_allow=["127.0.0.1"],
    )
    async with serve(small) as running:
        yield running


async def test_files_over_the_size_limit_arerefused(small_server: RunningServer) -> None:
    server = small_server
    big = PNG + b"\0" * 60_000  # a readable PNG with trailing bytes: only its size is wrong
    async with server.http.post(url(server), data=form_of([("image", big, "image/png")])) as r:
        await refused(r, 413, "image is over the 0.05 MB limit")  # reading stopped there
    body = {"image_base64": base64.b64encode(big).decode()}
    async with server.http.post(url(server), json=body) as response:
        await refused(response, 413, "image is 0.0574 MB; the limit is 0.05 MB")
    huge = {"image_base64": "A" * 1_300_000}
    # refused before the body is read, so a fresh connection
    async with aiohttp.ClientSession() as http, http.post(url(server), json=huge) as response:
        await refused(response, 413, "request body is 1.24 MB; the limit is 1.13 MB")
    await nothing_stored(server)


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/tasks?status=bogus", 422, "'submitted', 'processing', 'completed', 'failed' or"),
        ("/tasks?limit=0", 422, "greater than or equal to 1"),
        ("/tasks?limit=1000", 422, "less than or equal to 100"),
        ("/tasks?limit=ten", 422, "valid integer"),
        ("/tasks?type=a%00", 422, "type holds a NUL character"),
        ("/tasks?cursor=garbage!!", 422, "cursor is not one this API returned"),
        ("/tasks?cursor=" + _cursor('["x", 1]'), 422, "cursor is not one this API returned"),
        ("/tasks?cursor=" + _cursor('{"a": 1}'), 422, "cursor is not one this API returned"),
        (f"/tasks?cursor={'A' * 201}", 422, "at most 200 characters"),
        ("/tasks?cursor=" + _cursor('["2020-01-01", 1]'), 422, "cursor is not one"),  # naive
        ("/tasks?cursor=" + _cursor(f'["{NOON}", 1e400]'), 422, "cursor is not one"),
        ("/tasks?cursor=" + _cursor(f'["{NOON}", {"9" * 20}]'), 422, "cursor is not one"),
        ("/tasks?cursor=" + _cursor(f'["{NOON}", true]'), 422, "cursor is not one"),
        ("/tasks?cursor=" + _cursor('["9999-12-31T23:59:59-14:00", 1]'), 422, "cursor is not"),
        ("/tasks?cursor=" + _cursor('["0001-01-01T00:00:00+14:00", 1]'), 422, "cursor is not"),
        ("/tasks/99999999999999999999", 422, "less than or equal to 9007199254740991"),
        ("/tasks/-1", 422, "greater than or equal to 0"),
        ("/tasks/1/image?index=64", 422, "less than or equal to 63"),
        ("/tasks/1234567890123/image", 404, "task 1234567890123 not found"),
        ("POST /tasks/1234567890123/cancel", 404, "task 1234567890123 not found"),
        ("/nowhere", 404, "Not Found"),
    ],
)
async def test_bad_queries_arerefused(
    server: RunningServer, path: str, status: int, says: str
) -> None:
    method, _, path = path.rpartition(" ")
    # a fresh connection each time: the server may close one after a 500
    async with (
        aiohttp.ClientSession() as http,
        http.request(method or "GET", f"{server.url}{path}") as response,
    ):
        loc = await refused(response, status, says)
    if "cursor=" in path:  # a query parameter, and the error says so
        assert loc == ["query", "cursor"]
    await nothing_stored(server)


@pytest.mark.parametrize("zero", [0xFF10, 0x0660], ids=["full-width", "arabic-indic"])
async def test_a_task_id_in_other_digits_is_refused_alike_cached_or_not(
    server: RunningServer, zero: int
) -> None:
    """The finished-task cache reads the path itself; it must answer as the route does."""
    async with server.http.post(url(server), json={"type": "fake", "image_base64": B64}) as r:
        assert r.status == 201, await r.text()
        task_id = (await r.json())["data"]["task_id"]
    await server.wait_finished(task_id)  # its last poll leaves the body in the cache
    assert len(server.app.state.finished_bodies) == 1
    other = str(task_id).translate({ord("0") + i: zero + i for i in range(10)})
    for query in ("?include_base64=false", ""):
        async with server.http.get(f"{server.url}/tasks/{other}{query}") as response:
            loc = await refused(response, 422, "valid integer")
        assert loc == ["path", "task_id"]


async def _raw_get(server: RunningServer, path: str, header: bytes) -> tuple[int, bytes]:
    """A GET with one header sent as raw bytes (a client library would encode it as UTF-8)."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode() + header + b"\r\n\r\n"
    )
    raw = await asyncio.wait_for(reader.read(-1), 20)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize(
    ("last_id", "status"),
    [
        (b"\xb2", 422),  # latin-1 "²": a digit to str.isdigit, not to int()
        ("٣".encode(), 422),  # Arabic-Indic three, which int() would take
        (b"abc", 422),
        (b"-1", 422),
        (b"2147483648", 422),  # past the version columns (PostgreSQL's integer)
        (b"9" * 20, 422),  # past SQLite's 64-bit integers
        (b"2147483647", 200),  # the largest version: nothing after it, the stream just ends
    ],
)
async def test_a_last_event_id_this_stream_never_sent_is_refused(
    server: RunningServer, last_id: bytes, status: int
) -> None:
    async with server.http.post(url(server), json={"type": "fake", "image_base64": B64}) as r:
        assert r.status == 201, await r.text()
        task_id = (await r.json())["data"]["task_id"]
    await server.wait_finished(task_id)
    header = b"Last-Event-ID: " + last_id
    answered, body = await _raw_get(server, f"/tasks/{task_id}/events", header)
    assert answered == status, body
    if status == 422:
        assert b"Last-Event-ID must be an event id of this stream" in body, body
    else:  # a chunked stream that ends at once, with no event
        assert body == b"0\r\n\r\n", body


async def test_the_image_of_an_unfinished_task_is_404(server: RunningServer) -> None:
    body = {"type": "fake", "image_base64": B64, "params": {"fake": {"outcome": "hang"}}}
    async with server.http.post(url(server), json=body) as response:
        assert response.status == 201
        task_id = (await response.json())["data"]["task_id"]
    await server.wait_for(task_id, lambda t: t["status"] == "processing")
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        await refused(response, 404, f"task {task_id} has no result (it is processing)")
    async with server.http.post(f"{server.url}/tasks/{task_id}/cancel") as response:
        assert response.status == 200
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        await refused(response, 404, "(it is canceled)")


async def test_an_allowed_url_is_fetched(small_server: RunningServer) -> None:
    server = small_server
    hits: list[str] = []

    async def files(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path == "/shot.png":
            return web.Response(body=make_png(48, 32), content_type="image/png")
        if request.path == "/big.png":
            return web.Response(body=PNG + b"\0" * 60_000, content_type="image/png")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{name}", files)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        for path, status, says in [
            ("/big.png", 413, "over the 52428-byte limit"),
            ("/gone.png", 422, "answered HTTP 404"),
        ]:
            async with server.http.post(url(server), json={"image_url": base + path}) as r:
                await refused(r, status, says)
        await nothing_stored(server)

        async with server.http.post(url(server), json={"image_url": f"{base}/shot.png"}) as r:
            assert r.status == 201, await r.text()
            task_id = (await r.json())["data"]["task_id"]
        task = await server.wait_finished(task_id)
        assert task["status"] == "completed", task
        assert hits == ["/big.png", "/gone.png", "/shot.png"]
    finally:
        await runner.cleanup()
