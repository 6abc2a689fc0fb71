"""One aiohttp session to one server, and the retry policy every call goes through.

A call is tried again, after a growing, jittered pause, when no answer came (connection
refused or reset, a timeout) or the answer was 5xx or 429, and after its Retry-After on a 409
that has one (a create whose Idempotency-Key is still in flight; another 409, such as
canceling a finished task, has none and is raised). A 429, 503 or 409 waits out its
Retry-After, unless that is longer than MAX_RETRY_AFTER_S: then the error is raised at once,
for the caller to decide."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from multidict import CIMultiDictProxy

from rendergate import __version__
from rendergate.client.errors import ApiError, Conflict, RateLimited, Unreachable, error_from

S = TypeVar("S")
MAX_RETRY_AFTER_S = 10.0
FIRST_BACKOFF_S = 0.25
MAX_BACKOFF_S = 8.0
# No answer at all: worth another try. Other client errors (a malformed URL, too many
# redirects) would fail the same way again.
NO_ANSWER = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)


def backoff(attempt: int) -> float:
    """The pause before retry `attempt` (0-based): doubling, capped, with jitter."""
    return min(FIRST_BACKOFF_S * 2.0**attempt, MAX_BACKOFF_S) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def data(self) -> Any:
        """The envelope's `data`."""
        try:
            return json.loads(self.body)["data"]
        except (ValueError, KeyError, TypeError):
            text = self.body[:200].decode("utf-8", "replace")
            raise ApiError(self.status, f"not an API answer: {text!r}") from None


@dataclass
class Request:
    """One HTTP request; `body` builds a fresh aiohttp body for each try (a form is
    consumed once sent)."""

    method: str
    path: str
    query: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    body: Callable[[], Any] | None = None
    json: Any = None
    timeout: aiohttp.ClientTimeout | None = None


class Transport:
    def __init__(self, base_url: str, api_key: str | None, timeout: float, retries: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._headers = {"User-Agent": f"rendergate-sdk/{__version__}"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """Made on first use, so that it belongs to the loop the calls run on."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=timeout)
        return self._session

    def stream_timeout(self) -> aiohttp.ClientTimeout:
        """An event stream's: no total, a read bounded well past the server's 10 s
        heartbeat."""
        read_s = max(self.timeout, 30.0)
        return aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=read_s)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, request: Request) -> Reply:
        """The request's whole answer, once it is a success."""
        return await self._retrying(request, self._try_read)

    async def pages(self, path: str, query: dict[str, str], key: str) -> AsyncIterator[Any]:
        """Each item of a paged list (its page's `key`), fetching the next page through
        `next_cursor` only when the iteration gets there."""
        query = dict(query)
        while True:
            page = (await self.call(Request("GET", path, query=query))).data()
            for item in page[key]:
                yield item
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    @contextlib.asynccontextmanager
    async def open(self, request: Request) -> AsyncIterator[aiohttp.ClientResponse]:
        """The response of the first try that succeeds, its body not read yet (a stream)."""
        response = await self._retrying(request, self._try_open)
        try:
            yield response
        finally:
            response.release()

    async def _retrying(
        self, request: Request, once: Callable[[Request], Awaitable[S | ApiError | Unreachable]]
    ) -> S:
        attempt = 0
        while True:
            outcome = await once(request)
            if not isinstance(outcome, ApiError | Unreachable):
                return outcome
            pause = self._pause(outcome, attempt)
            if pause is None:
                raise outcome
            attempt += 1
            await asyncio.sleep(pause)

    def _send(self, request: Request) -> Any:
        options: dict[str, Any] = {"timeout": request.timeout} if request.timeout else {}
        return self.session().request(
            request.method,
            self.base_url + request.path,
            params=request.query,
            headers=request.headers,
            data=request.body() if request.body else None,
            json=request.json,
            **options,
        )

    async def _try_read(self, request: Request) -> Reply | ApiError | Unreachable:
        """One try, its body read (a body cut off midway is tried again, whole)."""
        try:
            async with self._send(request) as response:
                reply = Reply(response.status, response.headers, await response.read())
        except NO_ANSWER as exc:
            return Unreachable(self.base_url, _reason(exc))
        except aiohttp.ClientError as exc:
            raise Unreachable(self.base_url, _reason(exc)) from exc
        if reply.status < 400:
            return reply
        return error_from(reply.status, reply.body, reply.headers)

    async def _try_open(self, request: Request) -> aiohttp.ClientResponse | ApiError | Unreachable:
        """One try, its body left to the caller when it succeeded."""
        try:
            response: aiohttp.ClientResponse = await self._send(request)
            if response.status < 400:
                return response
            async with response:
                body = await response.read()
        except NO_ANSWER as exc:
            return Unreachable(self.base_url, _reason(exc))
        except aiohttp.ClientError as exc:
            raise Unreachable(self.base_url, _reason(exc)) from exc
        return error_from(response.status, body, response.headers)

    def _pause(self, error: ApiError | Unreachable, attempt: int) -> float | None:
        """How long to wait before trying again, or None to raise `error` now."""
        if attempt >= self.retries:
            return None
        if isinstance(error, Unreachable):
            return backoff(attempt)
        if isinstance(error, RateLimited) or error.status == 503:
            wait = error.retry_after if error.retry_after is not None else backoff(attempt)
            return wait if wait <= MAX_RETRY_AFTER_S else None
        if isinstance(error, Conflict) and error.retry_after is not None:  # still in progress
            return error.retry_after if error.retry_after <= MAX_RETRY_AFTER_S else None
        if error.status >= 500:
            return backoff(attempt)
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientSSLError):
        return str(exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error  # the system's words, not aiohttp's "Cannot connect ... ssl:default"
        code = error.errno or 0  # a resolver's error is negative, and only its strerror says
        return os.strerror(code) if code > 0 else str(error.strerror or error)
    return str(exc) or type(exc).__name__
