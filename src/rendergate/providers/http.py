"""HTTP plumbing shared by the adapters: their client session, and result downloads."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from rendergate.domain.errors import Fault, ProviderRejected, ProviderUnavailable
from rendergate.domain.values import megabytes

MAX_RESULT_BYTES = 512 * 1024 * 1024


def encode_json(payload: Any, *, compact: bool = False) -> bytes:
    """A request body as UTF-8 JSON. A value that cannot be encoded (a lone surrogate in an
    older task's params) is the inputs' fault, raised without the payload: the exception
    Python raises holds the whole body, API key included."""
    separators = (",", ":") if compact else None
    try:
        return json.dumps(payload, ensure_ascii=False, separators=separators).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        raise ProviderRejected(
            "the request holds text that is not valid Unicode or nests too deeply",
            fault=Fault.USER,
        ) from None


class LazySession:
    """An adapter's one aiohttp session: opened on first use, inside the running loop
    (constructors do no I/O), and closed by the adapter's aclose()."""

    def __init__(self, *, timeout: aiohttp.ClientTimeout, connections: int) -> None:
        self._timeout = timeout
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def __call__(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._connections),
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def fetch_result(session: aiohttp.ClientSession, url: str, *, provider: str) -> bytes | None:
    """The file's bytes; None when its signed URL no longer works (403/404/410)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ProviderRejected(f"{provider} gave a result URL that is not http(s)")
    try:
        async with session.get(url) as response:
            if response.status in (403, 404, 410):
                return None
            if response.status != 200:
                raise ProviderUnavailable(f"result download answered HTTP {response.status}")
            return await read_capped(response, MAX_RESULT_BYTES)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ProviderUnavailable(f"result download failed: {type(exc).__name__}") from exc


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, refused past `limit` bytes. (`content.read(n)` is no substitute: it
    returns whatever is buffered, about 128 KB, not n bytes.)"""
    if (response.content_length or 0) > limit:
        raise ProviderRejected(f"a result file is over {megabytes(limit)}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise ProviderRejected(f"a result file is over {megabytes(limit)}")
        chunks.append(chunk)
    return b"".join(chunks)
