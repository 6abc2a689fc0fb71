"""Aliyun API-Gateway digest signing (AppKey/AppSecret, HmacSHA256), as 智作工坊 wants it.

docs/providers.md (Aliyun, "AK/SK signing"), step by step:

1. Headers: `date` (`EEE, dd MMM yyyy HH:mm:ss GMT+00:00`, UTC), `x-ca-key`, `x-ca-timestamp`
   (ms), `x-ca-nonce` (UUID4), `x-ca-signature-method: HmacSHA256`, `x-ca-signature-headers`,
   `Content-Type` and `Accept` (`application/json; charset=utf-8`), and `content-md5` =
   Base64(MD5(body)) when there is a body.
2. String-to-sign, joined by "\\n": method, Accept, Content-MD5 (or ""), Content-Type, date,
   then `name:value` for each signed header in name order, then the path.
3. `x-ca-signature` = Base64(HMAC-SHA256(AppSecret, string-to-sign)).

The body is serialized once (`encode_body`) and those exact bytes are hashed and sent: the
gateway checks Content-MD5 against what arrives. Pure functions; `now` and `nonce` are
parameters so tests can pin them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from typing import Any

from rendergate.providers.http import encode_json

JSON_TYPE = "application/json; charset=utf-8"
SIGNATURE_METHOD = "HmacSHA256"
# The order the SDKs send them in; the string-to-sign lists them sorted by name.
SIGNED_HEADERS = ("x-ca-timestamp", "x-ca-key", "x-ca-nonce", "x-ca-signature-method")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def encode_body(payload: Any) -> bytes:
    """The one serialization of a JSON body: compact, UTF-8, as the SDK hashes it."""
    return encode_json(payload, compact=True)


def content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode("ascii")  # noqa: S324 - the protocol's


def http_date(epoch_s: float) -> str:
    """`Thu, 02 Jan 2025 03:04:05 GMT+00:00`: English names whatever the locale."""
    t = time.gmtime(epoch_s)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT+00:00"
    )


def string_to_sign(
    *,
    method: str,
    accept: str,
    content_md5: str,
    content_type: str,
    date: str,
    signed: Mapping[str, str],
    path: str,
) -> str:
    """Step 2: `signed` maps each header named in x-ca-signature-headers to its value."""
    lines = [method.upper(), accept, content_md5, content_type, date]
    lines += [f"{name.lower()}:{signed[name]}" for name in sorted(signed, key=str.lower)]
    lines.append(path)
    return "\n".join(lines)


def signature(app_secret: str, text: str) -> str:
    """Step 3."""
    digest = hmac.new(app_secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_request(
    *,
    app_key: str,
    app_secret: str,
    path: str,
    body: bytes,
    method: str = "POST",
    now: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Every header the gateway needs for `body` (send exactly these bytes) at `path`."""
    epoch_s = time.time() if now is None else now
    date = http_date(epoch_s)
    signed = {
        "x-ca-timestamp": str(int(epoch_s * 1000)),
        "x-ca-key": app_key,
        "x-ca-nonce": str(uuid.uuid4()) if nonce is None else nonce,
        "x-ca-signature-method": SIGNATURE_METHOD,
    }
    md5 = content_md5(body) if body else ""
    headers = {
        "date": date,
        **signed,
        "x-ca-signature-headers": ",".join(SIGNED_HEADERS),
        "Content-Type": JSON_TYPE,
        "Accept": JSON_TYPE,
    }
    if md5:
        headers["content-md5"] = md5
    text = string_to_sign(
        method=method,
        accept=JSON_TYPE,
        content_md5=md5,
        content_type=JSON_TYPE,
        date=date,
        signed=signed,
        path=path,
    )
    headers["x-ca-signature"] = signature(app_secret, text)
    return headers
