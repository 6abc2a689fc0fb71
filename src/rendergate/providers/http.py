"""HTTP plumbing shared by the adapters: their session, one call and its status and JSON
checks, and result downloads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from rendergate.domain.errors import (
    Fault,
    ProviderRejected,
    ProviderUnanswered,
    ProviderUnavailable,
)
from rendergate.domain.values import megabytes

MAX_RESULT_BYTES = 512 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0


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


def client_session(connections: int) -> aiohttp.ClientSession:
    """The adapters' one HTTP session, opened by the composition root inside the running
    loop and closed by it after them. Each adapter passes its own time limit per call."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT_S, sock_connect=10),
        connector=aiohttp.TCPConnector(limit=connections),
        trust_env=False,
    )


def call_timeout(total_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total_s, sock_connect=min(total_s, 10.0))


@dataclass(frozen=True)
class Reply:
    """One answer, read whole: what the adapters' status and envelope checks look at."""

    status: int
    content_type: str
    headers: Mapping[str, str]
    body: bytes


async def exchange(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    who: str,
    time_limit: aiohttp.ClientTimeout,
    **kwargs: Any,
) -> Reply:
    """One request; a provider that does not answer raises ProviderUnavailable naming
    `who`: ProviderUnanswered when the request may have reached it (a reset or a timeout
    after connecting), so that a call creating paid work is not blindly sent again."""
    try:
        async with http.request(method, url, timeout=time_limit, **kwargs) as response:
            body = await read_capped(response, MAX_RESULT_BYTES)
            return Reply(response.status, response.content_type, response.headers, body)
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        raise ProviderUnavailable(f"{who} did not answer ({type(exc).__name__})") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:  # it may have arrived
        raise ProviderUnanswered(f"{who} did not answer ({type(exc).__name__})") from exc


def refuse_outage(reply: Reply, who: str) -> None:
    """The shared status preamble: 5xx and 429 mean "try again later", with the status."""
    if reply.status >= 500 or reply.status == 429:
        raise ProviderUnavailable(f"{who} answered HTTP {reply.status}", code=f"http{reply.status}")


def json_of(reply: Reply, who: str) -> Any:
    """The reply's JSON; an HTML error page or a cut body is an outage, not our bug."""
    try:
        return json.loads(reply.body)
    except (ValueError, RecursionError) as exc:
        raise ProviderUnavailable(
            f"{who} answered HTTP {reply.status} with {reply.content_type or 'a body'} "
            "instead of JSON"
        ) from exc


async def fetch_result(
    session: aiohttp.ClientSession, url: str, *, provider: str, time_limit: aiohttp.ClientTimeout
) -> bytes | None:
    """The file's bytes; None when its signed URL no longer works (403/404/410)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ProviderRejected(f"{provider} gave a result URL that is not http(s)")
    try:
        async with session.get(url, timeout=time_limit) as response:
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
