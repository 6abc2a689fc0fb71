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

    async def link(self, key: str, expires_s: int) -> str | None:
        """A URL that fetches the blob directly for `expires_s`, where the store can sign
        one (S3, GCS, Azure); None where it cannot (local files, memory)."""
        ...
