"""An S3 server for the tests: moto's, in a thread on a free loopback port, with a bucket."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

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


@contextlib.contextmanager
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """The server, its bucket, and the AWS_* environment pointing at it (for this test)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, **_credentials()).create_bucket(Bucket=BUCKET)
        env = {
            "AWS_ACCESS_KEY_ID": "rendergate",
            "AWS_SECRET_ACCESS_KEY": "rendergate-secret",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ALLOW_HTTP": "true",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield S3(endpoint, env)
    finally:
        server.stop()
