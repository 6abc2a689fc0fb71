"""The Aliyun API-gateway signer: hand-computed vectors, then the `speedpix` SDK's own signer
on the same inputs, then the emulated gateway accepting both and refusing what it should."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import time
import types
from typing import Any

import httpx
import pytest
import speedpix.client

from rendergate.providers.aliyun_signing import (
    content_md5,
    encode_body,
    http_date,
    sign_request,
    string_to_sign,
)
from rendergate_emulators.aliyun_gateway import Gateway

KEY = "203753212"
SECRET = "Ae1WyjxkUW8hXiQH5gDsm6DkoMyAWpsN"
NONCE = "c9f15cbf-f4ac-4a6c-b54d-f51abf4b5b44"
NOW = 1735788648.5  # Thu, 02 Jan 2025 03:30:48.500 UTC; exact in binary, so ms are exact
JSON = "application/json; charset=utf-8"
PROMPT = {
    "workflow_id": "wf_1",
    "alias_id": "main",
    "inputs": {"image": "https://oss.example/a.png", "提示": "温暖的灯光"},
}


def test_the_body_is_compact_utf8_json() -> None:
    body = encode_body(PROMPT)
    assert (
        body
        == (
            '{"workflow_id":"wf_1","alias_id":"main","inputs":'
            '{"image":"https://oss.example/a.png","提示":"温暖的灯光"}}'
        ).encode()
    )
    # computed with `openssl dgst -md5 -binary | base64` over those bytes
    assert content_md5(body) == "y16rmi3faNgEGUcnld3lvA=="


def test_a_post_with_a_body_matches_the_hand_computed_vector() -> None:
    body = encode_body(PROMPT)
    headers = sign_request(
        app_key=KEY, app_secret=SECRET, path="/scc/comfy_prompt", body=body, now=NOW, nonce=NONCE
    )
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    expected_text = (
        "POST\n"
        f"{JSON}\n"
        f"{md5}\n"
        f"{JSON}\n"
        "Thu, 02 Jan 2025 03:30:48 GMT+00:00\n"
        f"x-ca-key:{KEY}\n"
        f"x-ca-nonce:{NONCE}\n"
        "x-ca-signature-method:HmacSHA256\n"
        "x-ca-timestamp:1735788648500\n"
        "/scc/comfy_prompt"
    )
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), expected_text.encode(), hashlib.sha256).digest()
    ).decode()
    assert expected == "tfyTHcizIMnj4mFhLOErfo2v0dPa7HUimdNPH7vCfwo="  # openssl dgst -hmac
    assert headers == {
        "date": "Thu, 02 Jan 2025 03:30:48 GMT+00:00",
        "x-ca-timestamp": "1735788648500",
        "x-ca-key": KEY,
        "x-ca-nonce": NONCE,
        "x-ca-signature-method": "HmacSHA256",
        "x-ca-signature-headers": "x-ca-timestamp,x-ca-key,x-ca-nonce,x-ca-signature-method",
        "Content-Type": JSON,
        "Accept": JSON,
        "content-md5": md5,
        "x-ca-signature": expected,
    }


def test_an_empty_body_signs_an_empty_md5_line_and_sends_no_md5() -> None:
    headers = sign_request(
        app_key=KEY,
        app_secret=SECRET,
        path="/scc/comfy_get_progress",
        body=b"",
        now=1741503909,  # a Sunday, a one-digit day, a one-digit hour
        nonce="00000000-0000-4000-8000-000000000000",
    )
    assert "content-md5" not in headers
    assert headers["date"] == "Sun, 09 Mar 2025 07:05:09 GMT+00:00"
    # openssl dgst -sha256 -hmac over the string-to-sign with an empty third line
    assert headers["x-ca-signature"] == "4PODWywstjVVgugKhEKweo1nQF9DO61IxnW7198tSW0="


@pytest.mark.parametrize("epoch", [0, 951782400, 1709251199, 1735788648.999, 4102444800])
def test_the_date_is_rfc_1123_with_the_gmt_offset_in_english(epoch: float) -> None:
    assert http_date(epoch) == email.utils.formatdate(int(epoch), usegmt=True) + "+00:00"


def test_the_string_to_sign_lists_signed_headers_by_name() -> None:
    text = string_to_sign(
        method="post",
        accept="a",
        content_md5="",
        content_type="c",
        date="d",
        signed={"x-ca-timestamp": "1", "X-Ca-Key": "k"},
        path="/p",
    )
    assert text == "POST\na\n\nc\nd\nx-ca-key:k\nx-ca-timestamp:1\n/p"


# -- the speedpix SDK's signer on the same inputs ---------------------------------------------

PAYLOADS: list[tuple[str, dict[str, Any]]] = [
    ("/scc/comfy_prompt", PROMPT),
    ("/scc/comfy_get_progress", {"taskId": "01jgjgyaqh85f7rs23v0kbmtdb"}),
    ("/scc/comfy_get_result", {"taskId": "01jgjgyaqh85f7rs23v0kbmtdb"}),
    (
        "/scc/sp_create_temp_file_upload_sign",
        {"originalFilename": "截图 1.png", "contentType": "image/png", "size": 1234},
    ),
    ("/scc/comfy_prompt", {"workflow_id": "w", "version_id": "v2", "inputs": {"n": 1.5}}),
]


def sdk_headers(
    monkeypatch: pytest.MonkeyPatch, path: str, payload: dict[str, Any], *, now: float, nonce: str
) -> dict[str, str]:
    """speedpix.Client._generate_header with only its own clock and uuid pinned."""
    clock = types.SimpleNamespace(time=lambda: now, strftime=time.strftime, gmtime=time.gmtime)
    fixed = types.SimpleNamespace(uuid4=lambda: nonce)
    monkeypatch.setattr(speedpix.client, "time", clock)
    monkeypatch.setattr(speedpix.client, "uuid", fixed)
    client = speedpix.client.Client(app_key=KEY, app_secret=SECRET)
    return client._generate_header("POST", path, payload)


@pytest.mark.parametrize(("path", "payload"), PAYLOADS)
@pytest.mark.parametrize("now", [NOW, 1741503909.0, 1700000000.25])
def test_our_headers_equal_the_speedpix_sdks(
    monkeypatch: pytest.MonkeyPatch, path: str, payload: dict[str, Any], now: float
) -> None:
    theirs = sdk_headers(monkeypatch, path, payload, now=now, nonce=NONCE)
    ours = sign_request(
        app_key=KEY, app_secret=SECRET, path=path, body=encode_body(payload), now=now, nonce=NONCE
    )
    assert {k.lower(): v for k, v in ours.items()} == {k.lower(): v for k, v in theirs.items()}


@pytest.mark.parametrize(("path", "payload"), PAYLOADS)
def test_we_send_the_bytes_the_sdks_httpx_sends(path: str, payload: dict[str, Any]) -> None:
    # The SDK hashes compact JSON and lets httpx (>= 0.28) serialize it again: same bytes.
    sent = httpx.Request("POST", f"https://openai.edu-aliyun.com{path}", json=payload).content
    assert sent == encode_body(payload)


# -- the emulated gateway ----------------------------------------------------------------------


def check(gateway: Gateway, headers: dict[str, str], body: bytes, path: str = "/scc/x") -> Any:
    lowered = {k.lower(): v for k, v in headers.items()}
    return gateway.check("POST", path, {}, lowered, body)


def test_the_emulated_gateway_accepts_the_sdks_and_our_signatures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = time.time()
    gateway = Gateway({KEY: SECRET})
    theirs = sdk_headers(monkeypatch, "/scc/x", PROMPT, now=now, nonce="n-1")
    ours = sign_request(
        app_key=KEY, app_secret=SECRET, path="/scc/x", body=encode_body(PROMPT), nonce="n-2"
    )
    assert check(gateway, theirs, encode_body(PROMPT)) is None
    assert check(gateway, ours, encode_body(PROMPT)) is None


def test_the_emulated_gateway_refuses_as_the_real_one_does() -> None:
    gateway = Gateway({KEY: SECRET})
    body = encode_body(PROMPT)

    def signed(**extra: Any) -> dict[str, str]:
        return sign_request(
            app_key=KEY, path="/scc/x", body=body, **{"app_secret": SECRET, **extra}
        )

    wrong = check(gateway, signed(app_secret="not-the-secret", nonce="a"), body)
    assert wrong.status == 400 and wrong.message.startswith(
        "Invalid Signature, Server StringToSign:`"
    )
    assert "\n" not in wrong.message and f"#x-ca-key:{KEY}#" in wrong.message
    assert "not-the-secret" not in wrong.message and SECRET not in wrong.message
    assert check(gateway, signed(nonce="b"), body + b" ").message == "Invalid Content-MD5"
    stale = signed(nonce="c", now=time.time() - 16 * 60)
    assert check(gateway, stale, body).message == "Timestamp Expired"
    fresh = signed(nonce="d")
    assert check(gateway, fresh, body) is None
    assert check(gateway, fresh, body).message == "Nonce Used"  # a replay
    unknown = sign_request(app_key="someone", app_secret=SECRET, path="/scc/x", body=body)
    assert check(gateway, unknown, body).message == "Invalid AppKey"
    assert check(gateway, signed(nonce="e"), body, path="/scc/y").kind == "Invalid Signature"
