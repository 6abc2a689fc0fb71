"""Downloading a provider's result file from its (signed, expiring) URL, one way for all."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from rendergate.domain.errors import ProviderRejected, ProviderUnavailable

MAX_RESULT_BYTES = 512 * 1024 * 1024


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
            if (response.content_length or 0) > MAX_RESULT_BYTES:
                raise ProviderRejected("a result file is over 512 MB")
            return await response.content.read(MAX_RESULT_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ProviderUnavailable(f"result download failed: {type(exc).__name__}") from None
