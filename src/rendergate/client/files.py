"""A file the API answers (a result, an input, a thumbnail), as bytes or written to a path:
one place for download() and its siblings to name and write it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from rendergate.client.transport import Reply


async def bytes_or_file(
    reply: Reply, path: str | os.PathLike[str] | None, name: str
) -> bytes | Path:
    """The answer's bytes, or, given a `path`, the file written there: into a directory
    under the server's name for it (its Content-Disposition), else `name`."""
    if path is None:
        return reply.body
    target = Path(path)
    if await asyncio.to_thread(target.is_dir):
        target = target / (_filename(reply.headers.get("Content-Disposition", "")) or name)
    await asyncio.to_thread(target.write_bytes, reply.body)
    return target


def _filename(disposition: str) -> str | None:
    """The file name of a Content-Disposition, without any directory part."""
    for part in disposition.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "filename" and value:
            return Path(value.strip('"')).name or None
    return None
