"""Aliyun 智作工坊's HTTP API as the adapter uses it, for one app (one key and secret): every
call a POST of compact JSON signed with them (aliyun_signing.py), answered by an envelope
whose status 20 is an error (aliyun_errors.py maps them). The secret stays in here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import structlog

from rendergate.domain.errors import Fault, ProviderRejected, ProviderUnavailable
from rendergate.providers.aliyun_errors import gateway_error, service_error
from rendergate.providers.aliyun_signing import encode_body, sign_request
from rendergate.providers.base import InputFile
from rendergate.providers.http import call_timeout, exchange, fetch_result, json_of, refuse_outage

log = structlog.get_logger(__name__)


class AliyunApi:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        app_key: str,
        app_secret: str,
        base_url: str,
        timeout_s: float,
    ) -> None:
        self._http = http
        self._app_key = app_key
        self._app_secret = app_secret
        self._base = base_url.rstrip("/")
        self.timeout = call_timeout(timeout_s)

    async def call(self, path: str, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        """Returns `data` of a status-10 envelope; raises from the ProviderError tree."""
        body = encode_body(payload)  # hashed and sent as these very bytes
        signed = sign_request(
            app_key=self._app_key, app_secret=self._app_secret, path=path, body=body
        )
        reply = await exchange(
            self._http,
            "POST",
            self._base + path,
            who="Aliyun",
            time_limit=self.timeout,
            data=body,
            headers={**signed, **(headers or {})},
        )
        status, refusal = reply.status, reply.headers.get("X-Ca-Error-Message")
        if refusal is not None and status >= 400:
            log.warning(
                "Aliyun's API gateway refused a call",
                path=path,
                http_status=status,
                request_id=reply.headers.get("X-Ca-Request-Id", ""),
                gateway_message=refusal.replace(self._app_key, "<app key>"),
            )
            raise gateway_error(status, refusal)
        refuse_outage(reply, "Aliyun")
        envelope = json_of(reply, "Aliyun")
        if not isinstance(envelope, dict) or "status" not in envelope:
            if status >= 400:
                raise ProviderRejected(f"Aliyun answered HTTP {status}", fault=Fault.CONFIG)
            raise ProviderUnavailable("Aliyun answered without its envelope")
        if str(envelope["status"]) == "10" and status < 400:
            return envelope.get("data")
        raise service_error(
            envelope.get("errCode"),
            envelope.get("errMessage"),
            envelope.get("subErrCode"),
            envelope.get("subErrMessage"),
        )

    async def put_file(self, upload_url: str, file: InputFile) -> None:
        """The file's bytes to the storage URL an upload sign gave."""
        reply = await exchange(
            self._http,
            "PUT",
            upload_url,
            who="Aliyun's storage",
            time_limit=self.timeout,
            data=file.data,
            headers={"Content-Type": file.content_type},
        )
        status = reply.status
        if status >= 500 or status in (403, 429):  # 403: the signed URL lapsed; sign again
            raise ProviderUnavailable(f"Aliyun's storage answered HTTP {status} to the upload")
        if status >= 300:
            raise ProviderRejected(f"Aliyun's storage refused the {file.role} (HTTP {status})")

    async def get_file(self, url: str) -> bytes | None:
        return await fetch_result(self._http, url, provider="Aliyun", time_limit=self.timeout)
