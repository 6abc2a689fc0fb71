"""The blob storage port: where task inputs and re-hosted results are kept."""

from __future__ import annotations

from typing import Protocol


class BlobNotFound(Exception):
    """No blob under that key."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes:
        """Returns the blob's bytes; raises BlobNotFound."""
        ...

    async def delete(self, key: str) -> None:
        """Removes a blob; a missing one is not an error."""
        ...
