"""Opens the storage the settings name, and tries it before anything relies on it."""

from __future__ import annotations

import uuid

from rendergate.blobs.base import BlobStore
from rendergate.blobs.objects import ObjectBlobStore
from rendergate.config.settings import Settings
from rendergate.domain.errors import ConfigError
from rendergate.redaction import bare_url


async def open_blobs(settings: Settings) -> BlobStore:
    """The storage every process shares, tried once (write, read, delete) before anything
    is accepted: a wrong bucket or key fails the start, not the first task."""
    if settings.storage_url is None:
        return ObjectBlobStore.local(settings.data_dir / "blobs")
    blobs = ObjectBlobStore.from_url(settings.storage_url)
    probe = f"rendergate-probe/{uuid.uuid4().hex}"
    try:
        await blobs.put(probe, b"probe")
        if await blobs.get(probe) != b"probe":
            raise ConfigError("it gave back other bytes than were written")
        await blobs.delete(probe)
    except Exception as exc:
        raise ConfigError(
            f"RENDERGATE_STORAGE_URL {bare_url(settings.storage_url)} cannot be used: "
            f"{type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
    return blobs
