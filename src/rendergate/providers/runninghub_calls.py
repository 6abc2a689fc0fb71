"""RunningHub's HTTP API as the adapter uses it: every call a POST carrying the key and the
`Host` header the docs require, answered by an envelope whose non-zero `code` is an error
(runninghub_errors.py maps them). The key stays in here."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp

from rendergate.domain.errors import Fault, ProviderError, ProviderRejected, ProviderUnavailable
from rendergate.providers.base import InputFile
from rendergate.providers.http import (
    call_timeout,
    encode_json,
    exchange,
    fetch_result,
    json_of,
    refuse_outage,
)
from rendergate.providers.runninghub_errors import error_for


def envelope_error(envelope: dict[str, Any]) -> ProviderError:
    """What a non-zero code means, with RunningHub's own message."""
    return error_for(int(envelope["code"]), str(envelope.get("msg") or ""))


class RunningHubApi:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        api_key: str,
        base_url: str,
        host: str | None,
        timeout_s: float,
    ) -> None:
        self._http = http
        self._api_key = api_key
        self._base = base_url.rstrip("/")
        self._host = host or urlsplit(self._base).netloc
        self._timeout = call_timeout(timeout_s)

    async def envelope(
        self, path: str, body: dict[str, Any], *, key_field: str = "apiKey"
    ) -> dict[str, Any]:
        """The envelope of a JSON call with the key in its body, whatever its code."""
        return await self._post(path, data=encode_json({key_field: self._api_key, **body}))

    async def data(self, path: str, body: dict[str, Any], *, key_field: str = "apiKey") -> Any:
        """The data of a call whose only good answer is code 0."""
        envelope = await self.envelope(path, body, key_field=key_field)
        if envelope["code"] != 0:
            raise envelope_error(envelope)
        return envelope.get("data")

    async def account(self) -> dict[str, Any]:
        """accountStatus's data: coins, money, currency and running tasks, all strings."""
        data = await self.data("/uc/openapi/accountStatus", {}, key_field="apikey")
        return data if isinstance(data, dict) else {}

    async def upload(self, file: InputFile) -> str:
        """The file as a multipart form; RunningHub's name for it."""
        form = aiohttp.FormData()
        form.add_field("apiKey", self._api_key)
        form.add_field("fileType", "image")
        form.add_field(
            "file",
            file.data,
            filename=f"{file.role}.{file.extension}",
            content_type=file.content_type,
        )
        envelope = await self._post("/task/openapi/upload", form=form)
        if envelope["code"] != 0:
            raise envelope_error(envelope)
        try:
            return str(envelope["data"]["fileName"])
        except (KeyError, TypeError) as exc:
            raise ProviderUnavailable("RunningHub's upload answer had no fileName") from exc

    async def get_file(self, url: str) -> bytes | None:
        return await fetch_result(self._http, url, provider="RunningHub", time_limit=self._timeout)

    async def _post(
        self, path: str, *, data: bytes | None = None, form: aiohttp.FormData | None = None
    ) -> dict[str, Any]:
        """Returns the envelope; raises ProviderUnavailable for every transport-level failure."""
        headers = {"Host": self._host}
        if data is not None:
            headers["Content-Type"] = "application/json"
        reply = await exchange(
            self._http,
            "POST",
            self._base + path,
            who="RunningHub",
            time_limit=self._timeout,
            data=data if data is not None else form,
            headers=headers,
        )
        refuse_outage(reply, "RunningHub")
        if reply.status in (401, 403):
            raise ProviderRejected(
                f"RunningHub refused us (HTTP {reply.status})",
                fault=Fault.CONFIG,
                code=str(reply.status),
            )
        envelope = json_of(reply, "RunningHub")
        if reply.status >= 400 or not isinstance(envelope, dict) or "code" not in envelope:
            raise ProviderUnavailable(
                f"RunningHub answered HTTP {reply.status} without its envelope"
            )
        return envelope
