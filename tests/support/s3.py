"""S3 servers for the tests: moto's, in a thread on a free loopback port, with a bucket; and
a stand-in whose writes can hang."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import boto3
import pytest
from aiohttp import web
from moto.server import ThreadedMotoServer

from support.proxy import http_app

BUCKET = "rendergate-test"


@dataclass(frozen=True)
class S3:
    endpoint: str
    env: dict[str, str]  # what a rendergate process needs to reach it

    def keys(self) -> list[str]:
        client = boto3.client("s3", endpoint_url=self.endpoint, **_credentials())
        listed = client.list_objects_v2(Bucket=BUCKET)
        return sorted(item["Key"] for item in listed.get("Contents", []))


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": "rendergate",
        "aws_secret_access_key": "rendergate-secret",
        "region_name": "us-east-1",
    }


def _aws_env(endpoint: str) -> dict[str, str]:
    """The environment that points obstore (and boto3) at a server on `endpoint`."""
    return {
        "AWS_ACCESS_KEY_ID": "rendergate",
        "AWS_SECRET_ACCESS_KEY": "rendergate-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }


@contextlib.contextmanager
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """The server, its bucket, and the AWS_* environment pointing at it (for this test)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, **_credentials()).create_bucket(Bucket=BUCKET)
        env = _aws_env(endpoint)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield S3(endpoint, env)
    finally:
        server.stop()


@dataclass
class HangingS3:
    """An S3 stand-in (PUT, GET, DELETE, in memory) whose PUTs under `hold` get no answer
    until `release` is set: storage that hangs in the middle of a create. `held` is set when
    such a PUT arrives, so a test acts on that moment instead of guessing a duration."""

    hold: str
    objects: dict[str, bytes] = field(default_factory=dict)
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    @property
    def env(self) -> dict[str, str]:
        """What a rendergate process needs to store in it (RENDERGATE_STORAGE_URL too)."""
        return {**_aws_env(self.url), "RENDERGATE_STORAGE_URL": f"s3://{BUCKET}/renders"}

    async def handle(self, request: web.Request) -> web.Response:
        key = request.path.removeprefix(f"/{BUCKET}/")
        if request.method == "PUT":
            data = await request.read()
            if key.startswith(self.hold) and not self.release.is_set():
                self.held.set()
                await self.release.wait()
            self.objects[key] = data
            return web.Response(headers={"ETag": _etag(data)})
        if request.method == "DELETE":
            self.objects.pop(key, None)
            return web.Response(status=204)
        if key not in self.objects:
            return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
        data = self.objects[key]
        modified = email.utils.formatdate(usegmt=True)
        return web.Response(body=data, headers={"ETag": _etag(data), "Last-Modified": modified})


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


@contextlib.asynccontextmanager
async def hanging_s3(hold: str) -> AsyncIterator[HangingS3]:
    """The stand-in on a free loopback port; whatever it still holds is let go at the end."""
    s3 = HangingS3(hold)
    async with http_app(lambda app: app.router.add_route("*", "/{key:.*}", s3.handle)) as url:
        s3.url = url
        try:
            yield s3
        finally:
            s3.release.set()
