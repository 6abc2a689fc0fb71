"""BlobStore over obstore: local files by default, S3 and others by URL."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import obstore
from obstore.store import AzureStore, GCSStore, LocalStore, S3Store, from_url

from rendergate.blobs.base import BlobNotFound

SIGNABLE = (S3Store, GCSStore, AzureStore)


class ObjectBlobStore:
    """Wraps any obstore store; keys are relative paths like `results/123/0.png`."""

    def __init__(self, store: Any) -> None:
        self._store = store

    @classmethod
    def local(cls, root: Path) -> ObjectBlobStore:
        root.mkdir(parents=True, exist_ok=True)
        return cls(LocalStore(str(root.resolve()), mkdir=True))

    @classmethod
    def from_url(cls, url: str) -> ObjectBlobStore:
        """`s3://bucket/prefix`, `gs://…`, `az://…`, `file:///…`; credentials and endpoints
        come from each cloud's usual environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, …)."""
        return cls(from_url(url))

    async def put(self, key: str, data: bytes) -> None:
        await obstore.put_async(self._store, key, data)

    async def get(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, key)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        return bytes(await result.bytes_async())

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await obstore.delete_async(self._store, key)

    async def link(self, key: str, expires_s: int) -> str | None:
        if not isinstance(self._store, SIGNABLE):
            return None
        return await obstore.sign_async(self._store, "GET", key, timedelta(seconds=expires_s))
