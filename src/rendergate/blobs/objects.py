"""BlobStore over obstore: local files by default, S3 and others by URL."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import obstore
from obstore.store import LocalStore

from rendergate.blobs.base import BlobNotFound


class ObjectBlobStore:
    """Wraps any obstore store; keys are relative paths like `results/123/0.png`."""

    def __init__(self, store: Any) -> None:
        self._store = store

    @classmethod
    def local(cls, root: Path) -> ObjectBlobStore:
        root.mkdir(parents=True, exist_ok=True)
        return cls(LocalStore(str(root.resolve()), mkdir=True))

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
