"""RunningHub's error codes (providers.md §1.3), each mapped to what we do about it.

RunningHub answers errors as HTTP 200 with a non-zero `code`. Each code is one of:
retry (back off, then call again), busy (a retry, but the account's concurrency is used up,
so an app with a fallback route moves on), poll (the task is still going), lost (RunningHub
no longer knows the task) or terminal (the task fails with a plain message).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rendergate.domain.errors import (
    Fault,
    JobLost,
    ProviderBusy,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)


class Action(StrEnum):
    RETRY = "retry"
    BUSY = "busy"  # retry later, or another provider now
    POLL = "poll"
    LOST = "lost"
    TERMINAL = "terminal"


@dataclass(frozen=True)
class CodeInfo:
    action: Action
    fault: Fault
    message: str


_R, _T, _U, _P, _C = Action.RETRY, Action.TERMINAL, Fault.USER, Fault.PROVIDER, Fault.CONFIG
_B = Action.BUSY

CODES: dict[int, CodeInfo] = {
    # Our account is at its limit: back off and resubmit (or fall back to another provider).
    421: CodeInfo(_B, _P, "the account's concurrent task limit is reached (421)"),
    415: CodeInfo(_B, _P, "no free exclusive machine (415)"),
    814: CodeInfo(_B, _P, "the personal queue is full (814)"),
    1520: CodeInfo(_B, _P, "the per-user concurrency limit is reached (1520)"),
    # RunningHub is busy: back off and resubmit; the task waits instead of failing.
    1003: CodeInfo(_R, _P, "rate limited (1003)"),
    1005: CodeInfo(_R, _P, "RunningHub is busy (1005)"),
    1010: CodeInfo(_R, _P, "RunningHub is busy (1010)"),
    1011: CodeInfo(_R, _P, "RunningHub's upstream is busy (1011)"),
    1012: CodeInfo(_R, _P, "RunningHub's upstream is busy (1012)"),
    500: CodeInfo(_R, _P, "RunningHub reported an unknown error (500)"),
    # Still going: keep polling.
    804: CodeInfo(Action.POLL, _P, "the task is running"),
    813: CodeInfo(Action.POLL, _P, "the task is queued"),
    # Gone.
    807: CodeInfo(Action.LOST, _P, "RunningHub does not know this task (807)"),
    423: CodeInfo(Action.LOST, _P, "RunningHub does not know this task (423)"),
    1004: CodeInfo(Action.LOST, _P, "the task is missing or expired (1004)"),
    # The inputs or the app's bindings: retrying the same task cannot help.
    301: CodeInfo(_T, _U, "RunningHub refused the parameters (301)"),
    433: CodeInfo(_T, _U, "the workflow failed validation (433)"),
    803: CodeInfo(_T, _U, "a node or field in the app's bindings does not exist (803)"),
    805: CodeInfo(_T, _U, "the task failed (805)"),
    809: CodeInfo(_T, _U, "the file is over RunningHub's 30 MB limit (809)"),
    1007: CodeInfo(_T, _U, "RunningHub refused the parameters (1007)"),
    1008: CodeInfo(_T, _U, "a file is too big (1008)"),
    1015: CodeInfo(_T, _U, "generation failed (1015)"),
    1501: CodeInfo(_T, _U, "the content was refused by moderation (1501)"),
    1504: CodeInfo(_T, _P, "the model timed out (1504)"),
    1505: CodeInfo(_T, _U, "images of real people are not allowed (1505)"),
    # Our configuration: the key, the account or the app ids.
    380: CodeInfo(_T, _C, "the workflow does not exist (380)"),
    412: CodeInfo(_T, _C, "RunningHub refused the request's token or path (412)"),
    416: CodeInfo(_T, _C, "the wallet balance is too low (416)"),
    435: CodeInfo(_T, _C, "no exclusive 48G instance on this account (435)"),
    436: CodeInfo(_T, _C, "the exclusive membership has expired (436)"),
    801: CodeInfo(_T, _C, "free accounts cannot use the API (801)"),
    802: CodeInfo(_T, _C, "the API key was refused (802)"),
    806: CodeInfo(_T, _C, "the API key's user does not exist (806)"),
    808: CodeInfo(_R, _P, "the upload failed (808)"),
    810: CodeInfo(_T, _C, "the workflow was never saved and run on the website (810)"),
    811: CodeInfo(_T, _C, "the enterprise API key is invalid (811)"),
    812: CodeInfo(_T, _C, "the enterprise account has insufficient funds (812)"),
    817: CodeInfo(_T, _P, "the task already finished and cannot be canceled (817)"),
    901: CodeInfo(_T, _C, "the AI app does not exist (901)"),
    1002: CodeInfo(_T, _C, "the API key was refused (1002)"),
    1014: CodeInfo(_T, _C, "this needs an enterprise shared key (1014)"),
}


def info(code: int) -> CodeInfo:
    return CODES.get(code, CodeInfo(_T, _P, f"RunningHub answered code {code}"))


def error_for(code: int, msg: str = "") -> ProviderError:
    """The exception for a non-zero code; RunningHub's own `msg` is kept when it adds words."""
    known = info(code)
    text = known.message if not msg or msg in known.message else f"{known.message}: {msg}"
    if known.action is Action.BUSY:
        return ProviderBusy(text, fault=known.fault, code=str(code))
    if known.action is Action.RETRY:
        return ProviderUnavailable(text, fault=known.fault, code=str(code))
    if known.action is Action.LOST:
        return JobLost(text, fault=known.fault, code=str(code))
    return ProviderRejected(text, fault=known.fault, code=str(code))
