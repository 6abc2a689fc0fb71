"""The emulated Aliyun API gateway's digest check, written from API Gateway's documents.

It recomputes the signature from what arrived (the headers named in
x-ca-signature-headers, sorted; Accept, Content-MD5, Content-Type, Date; the path and its
sorted query) and refuses as the real gateway does: HTTP 400 (404 for a missing signature),
an empty body, the reason in `X-Ca-Error-Message` (for a bad signature, the gateway's own
StringToSign with its newlines turned into `#`) and `X-Ca-Request-Id`. Stale timestamps
(over 15 minutes off), reused nonces and a Content-MD5 that does not match the body are
refused too. Deliberately independent of rendergate.providers.aliyun_signing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

MAX_SKEW_S = 15 * 60
# Headers that are part of the string-to-sign already or cannot sign themselves.
_NOT_SIGNABLE = frozenset(
    {"x-ca-signature", "x-ca-signature-headers", "accept", "content-md5", "content-type", "date"}
)
_HASHES = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}


@dataclass(frozen=True)
class GatewayRefusal:
    status: int
    message: str

    @property
    def kind(self) -> str:
        """ "Invalid Signature" for "Invalid Signature, Server StringToSign:`…`"."""
        return self.message.split(",", 1)[0]


class Gateway:
    def __init__(
        self,
        apps: Mapping[str, str],
        *,
        max_skew_s: float = MAX_SKEW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.apps = dict(apps)  # app key -> app secret
        self.max_skew_s = max_skew_s
        self._clock = clock
        self._nonces: dict[str, float] = {}  # nonce -> when it was used (epoch s)

    def check(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> GatewayRefusal | None:
        """None when the request is correctly signed; else how the gateway refuses it.

        `headers` must look names up case-insensitively (aiohttp's request.headers does).
        """
        key = headers.get("x-ca-key", "")
        if not key:
            return GatewayRefusal(400, "Empty AppKey")
        secret = self.apps.get(key)
        if secret is None:
            return GatewayRefusal(400, "Invalid AppKey")
        provided = headers.get("x-ca-signature", "")
        if not provided:
            return GatewayRefusal(404, "Empty Signature")
        digest = _HASHES.get(headers.get("x-ca-signature-method", "HmacSHA256"))
        if digest is None:
            return GatewayRefusal(400, "Invalid Signature Method")
        now = self._clock()
        refusal = self._check_time(headers.get("x-ca-timestamp"), now)
        if refusal is not None:
            return refusal
        md5 = headers.get("content-md5", "")
        if md5 and (not body or md5 != _md5(body)):
            return GatewayRefusal(400, "Invalid Content-MD5")
        text = string_to_sign(method, path, query, headers)
        expected = base64.b64encode(hmac.new(secret.encode(), text.encode(), digest).digest())
        if not hmac.compare_digest(expected.decode(), provided):
            return GatewayRefusal(
                400, f"Invalid Signature, Server StringToSign:`{text.replace(chr(10), '#')}`"
            )
        nonce = headers.get("x-ca-nonce", "")
        if nonce:
            self._forget_before(now - self.max_skew_s)
            if nonce in self._nonces:
                return GatewayRefusal(400, "Nonce Used")
            self._nonces[nonce] = now
        return None

    def _check_time(self, raw: str | None, now: float) -> GatewayRefusal | None:
        if raw is None:
            return None  # optional for the gateway; the SDKs always send it
        try:
            stamp_s = int(raw) / 1000
        except ValueError:
            return GatewayRefusal(400, "Invalid Timestamp")
        if abs(now - stamp_s) > self.max_skew_s:
            return GatewayRefusal(400, "Timestamp Expired")
        return None

    def _forget_before(self, cutoff: float) -> None:
        for nonce in [n for n, at in self._nonces.items() if at < cutoff]:
            del self._nonces[nonce]


def string_to_sign(
    method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> str:
    names = {
        name.strip().lower()
        for name in headers.get("x-ca-signature-headers", "").split(",")
        if name.strip() and name.strip().lower() not in _NOT_SIGNABLE
    }
    lines = [
        method.upper(),
        headers.get("accept", ""),
        headers.get("content-md5", ""),
        headers.get("content-type", ""),
        headers.get("date", ""),
    ]
    lines += [f"{name}:{headers.get(name, '')}" for name in sorted(names)]
    if query:
        pairs = [f"{k}={v}" if v else k for k, v in sorted(query.items())]
        path = f"{path}?{'&'.join(pairs)}"
    lines.append(path)
    return "\n".join(lines)


def _md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - the protocol's


def request_id() -> str:
    return str(uuid.uuid4()).upper()


def refuse(refusal: GatewayRefusal) -> web.Response:
    """The gateway's answer: status, empty body, the reason in headers."""
    return web.Response(
        status=refusal.status,
        headers={"X-Ca-Error-Message": refusal.message, "X-Ca-Request-Id": request_id()},
    )
