"""Aliyun 智作工坊's refusals, mapped to our taxonomy with plain messages.

Two layers answer errors:

- **The API gateway** (AK/SK check) answers HTTP 4xx with an empty body and the reason in
  the `X-Ca-Error-Message` header (API Gateway's error table: "Invalid Signature, Server
  StringToSign:`…`", "Invalid AppKey", "Timestamp Expired", "Nonce Used", "Throttled by …"
  and so on). That header echoes the app key, so it is never copied into a message.
- **The service** answers an envelope `{status: 10|20, errCode, errMessage, subErrCode,
  subErrMessage, data}`; sub* names the real cause and wins over the top-level pair (as in
  the SDK). Documented codes: B_COMPUTING_CanNotFindTask (the task id is unknown: lost, so
  the task is submitted again) and P_Request_ContentSafe (content safety: the user's
  inputs). Other codes are read by their prefix, Aliyun's convention in its sibling
  platforms' tables (B_ business, P_ parameter, S_ system): P_ is the inputs' fault, S_
  may pass, B_ and anything else fails the task as the provider's fault. A code naming
  `Arrearage` (Aliyun's word for an account in arrears on its other platforms; none is
  published for 智作工坊) is a used-up balance.

A refusal of the app itself (its key, its secret, its authorization: ACCOUNT_REFUSALS, by
the code gateway_error gives them) or of its balance lets another pooled app run the task.
"""

from __future__ import annotations

from rendergate.domain.errors import Fault, ProviderError, ProviderRejected, ProviderUnavailable
from rendergate.providers.kit import Action, CodeInfo, error_from

KEY_SETTING = "RENDERGATE_ALIYUN_APP_KEY"
SECRET_SETTING = "RENDERGATE_ALIYUN_APP_SECRET"  # noqa: S105 - a setting's name
KEYS_SETTING = "RENDERGATE_ALIYUN_APP_KEYS"
MAX_DETAIL = 200  # characters of Aliyun's own text kept in a message


CODES: dict[str, CodeInfo] = {
    "B_COMPUTING_CanNotFindTask": CodeInfo(
        Action.LOST, Fault.PROVIDER, "Aliyun does not know this task"
    ),
    "P_Request_ContentSafe": CodeInfo(
        Action.TERMINAL, Fault.USER, "Aliyun's content safety check refused the input or result"
    ),
}

# API Gateway's X-Ca-Error-Message values (the start of them), most specific first.
GATEWAY: tuple[tuple[str, CodeInfo], ...] = (
    (
        "Invalid Signature",
        CodeInfo(
            Action.TERMINAL,
            Fault.CONFIG,
            f"Aliyun's API gateway refused the request signature: check {SECRET_SETTING} "
            f"and that it belongs to {KEY_SETTING}",
        ),
    ),
    (
        "Invalid AppSecret",
        CodeInfo(Action.TERMINAL, Fault.CONFIG, f"Aliyun's API gateway refused {SECRET_SETTING}"),
    ),
    (
        "Invalid AppKey",
        CodeInfo(
            Action.TERMINAL,
            Fault.CONFIG,
            f"Aliyun's API gateway does not know the app key: check {KEY_SETTING}",
        ),
    ),
    (
        "Empty Signature",
        CodeInfo(Action.TERMINAL, Fault.CONFIG, "Aliyun's API gateway got no signature"),
    ),
    (
        "Unauthorized",
        CodeInfo(
            Action.TERMINAL,
            Fault.CONFIG,
            "the Aliyun app is not authorized for this API (create it as a ComfyUI app)",
        ),
    ),
    (
        "Timestamp Expired",
        CodeInfo(
            Action.TERMINAL,
            Fault.CONFIG,
            "Aliyun's API gateway refused our timestamp: this machine's clock is off by "
            "more than 15 minutes",
        ),
    ),
    (
        "Invalid Timestamp",
        CodeInfo(Action.TERMINAL, Fault.CONFIG, "Aliyun's API gateway refused our timestamp"),
    ),
    (
        "Nonce Used",
        CodeInfo(Action.RETRY, Fault.PROVIDER, "Aliyun's API gateway saw a nonce twice"),
    ),
    (
        "Invalid Content-MD5",
        CodeInfo(
            Action.TERMINAL, Fault.PROVIDER, "Aliyun's API gateway refused the body's Content-MD5"
        ),
    ),
    ("Throttled", CodeInfo(Action.RETRY, Fault.PROVIDER, "Aliyun's API gateway throttled us")),
    (
        "API Not Found",
        CodeInfo(
            Action.TERMINAL,
            Fault.CONFIG,
            "Aliyun's API gateway has no such API: check RENDERGATE_ALIYUN_BASE_URL",
        ),
    ),
)


ACCOUNT_REFUSALS = frozenset(
    {"Invalid Signature", "Invalid AppSecret", "Invalid AppKey", "Unauthorized"}
)
ARREARS = CodeInfo(
    Action.FUNDS, Fault.CONFIG, "the Aliyun account is in arrears: top it up to run tasks"
)


def info(code: str) -> CodeInfo:
    known = CODES.get(code)
    if known is not None:
        return known
    if "arrearage" in code.lower():
        return ARREARS
    if code.upper().startswith("S_"):
        return CodeInfo(Action.RETRY, Fault.PROVIDER, f"Aliyun had a system error ({code})")
    if code.upper().startswith("P_"):
        return CodeInfo(Action.TERMINAL, Fault.USER, f"Aliyun refused the request ({code})")
    return CodeInfo(Action.TERMINAL, Fault.PROVIDER, f"Aliyun answered {code}")


def service_error(
    err_code: str | None,
    err_message: str | None = None,
    sub_err_code: str | None = None,
    sub_err_message: str | None = None,
) -> ProviderError:
    """The exception for an envelope with status 20 (sub* first, as the SDK reads it)."""
    code = sub_err_code or err_code or ""
    detail = " ".join(str(sub_err_message or err_message or "").split())[:MAX_DETAIL]
    if not code:
        text = "Aliyun reported a failure" + (f": {detail}" if detail else "")
        return ProviderRejected(text, code="20")
    known = info(code)
    text = known.message
    if code in CODES:
        text = f"{text} ({code})"
    elif detail and detail not in text:
        text = f"{text}: {detail}"
    return error_from(known, text, code)


def gateway_error(http_status: int, error_message: str) -> ProviderError:
    """The exception for a refusal by the API gateway (`X-Ca-Error-Message`).

    The header's text is matched, never quoted: it carries the app key.
    """
    for prefix, known in GATEWAY:
        if error_message.strip().startswith(prefix):
            return error_from(known, known.message, prefix)  # its kind: ACCOUNT_REFUSALS
    if http_status >= 500 or http_status == 429:
        return ProviderUnavailable(
            f"Aliyun's API gateway answered HTTP {http_status}", code=f"http{http_status}"
        )
    return ProviderRejected(
        f"Aliyun's API gateway refused the request (HTTP {http_status})",
        fault=Fault.CONFIG,
        code=f"http{http_status}",
    )
