"""RunningHub's error codes (docs/providers.md), each mapped to what we do about it.

RunningHub answers errors as HTTP 200 with a non-zero `code`. Each code is one of:
retry (back off, then call again), busy (a retry, but the account's concurrency is used up,
so an app with a fallback route moves on), poll (the task is still going), lost (RunningHub
no longer knows the task), terminal (the task fails with a plain message) or funds (terminal,
and the provider's next tasks wait for a top-up or fall back).
"""

from __future__ import annotations

from rendergate.domain.errors import Fault, ProviderError
from rendergate.providers.kit import Action, CodeInfo, error_from

# Short names, so the table below reads as a table, row by row.
BUSY, RETRY, POLL = Action.BUSY, Action.RETRY, Action.POLL
LOST, TERMINAL, FUNDS = Action.LOST, Action.TERMINAL, Action.FUNDS
USER, PROVIDER, CONFIG = Fault.USER, Fault.PROVIDER, Fault.CONFIG

USED_UP = "the account's balance is used up; top it up on RunningHub"

CODES: dict[int, CodeInfo] = {
    # Our account is at its limit: back off and resubmit (or fall back to another provider).
    421: CodeInfo(BUSY, PROVIDER, "the account's concurrent task limit is reached (421)"),
    415: CodeInfo(BUSY, PROVIDER, "no free exclusive machine (415)"),
    814: CodeInfo(BUSY, PROVIDER, "the personal queue is full (814)"),
    1520: CodeInfo(BUSY, PROVIDER, "the per-user concurrency limit is reached (1520)"),
    # RunningHub is busy: back off and resubmit; the task waits instead of failing.
    1003: CodeInfo(RETRY, PROVIDER, "rate limited (1003)"),
    1005: CodeInfo(RETRY, PROVIDER, "RunningHub is busy (1005)"),
    1010: CodeInfo(RETRY, PROVIDER, "RunningHub is busy (1010)"),
    1011: CodeInfo(RETRY, PROVIDER, "RunningHub's upstream is busy (1011)"),
    1012: CodeInfo(RETRY, PROVIDER, "RunningHub's upstream is busy (1012)"),
    500: CodeInfo(RETRY, PROVIDER, "RunningHub reported an unknown error (500)"),
    # Still going: keep polling.
    804: CodeInfo(POLL, PROVIDER, "the task is running"),
    813: CodeInfo(POLL, PROVIDER, "the task is queued"),
    # Gone.
    807: CodeInfo(LOST, PROVIDER, "RunningHub does not know this task (807)"),
    423: CodeInfo(LOST, PROVIDER, "RunningHub does not know this task (423)"),
    1004: CodeInfo(LOST, PROVIDER, "the task is missing or expired (1004)"),
    # The balance is used up: this task fails, the next ones wait for a top-up (or fall back).
    812: CodeInfo(FUNDS, CONFIG, f"{USED_UP} (812)"),
    416: CodeInfo(FUNDS, CONFIG, f"{USED_UP} (416)"),
    # The inputs or the app's bindings: retrying the same task cannot help.
    301: CodeInfo(TERMINAL, USER, "RunningHub refused the parameters (301)"),
    433: CodeInfo(TERMINAL, USER, "the workflow failed validation (433)"),
    803: CodeInfo(TERMINAL, USER, "a node or field in the app's bindings does not exist (803)"),
    805: CodeInfo(TERMINAL, USER, "the task failed (805)"),
    809: CodeInfo(TERMINAL, USER, "the file is over RunningHub's 30 MB limit (809)"),
    1007: CodeInfo(TERMINAL, USER, "RunningHub refused the parameters (1007)"),
    1008: CodeInfo(TERMINAL, USER, "a file is too big (1008)"),
    1015: CodeInfo(TERMINAL, USER, "generation failed (1015)"),
    1501: CodeInfo(TERMINAL, USER, "the content was refused by moderation (1501)"),
    1504: CodeInfo(TERMINAL, PROVIDER, "the model timed out (1504)"),
    1505: CodeInfo(TERMINAL, USER, "images of real people are not allowed (1505)"),
    # Our configuration: the key, the account or the app ids.
    380: CodeInfo(TERMINAL, CONFIG, "the workflow does not exist (380)"),
    412: CodeInfo(TERMINAL, CONFIG, "RunningHub refused the request's token or path (412)"),
    435: CodeInfo(TERMINAL, CONFIG, "no exclusive 48G instance on this account (435)"),
    436: CodeInfo(TERMINAL, CONFIG, "the exclusive membership has expired (436)"),
    801: CodeInfo(TERMINAL, CONFIG, "free accounts cannot use the API (801)"),
    802: CodeInfo(TERMINAL, CONFIG, "the API key was refused (802)"),
    806: CodeInfo(TERMINAL, CONFIG, "the API key's user does not exist (806)"),
    808: CodeInfo(RETRY, PROVIDER, "the upload failed (808)"),
    810: CodeInfo(TERMINAL, CONFIG, "the workflow was never saved and run on the website (810)"),
    811: CodeInfo(TERMINAL, CONFIG, "the enterprise API key is invalid (811)"),
    817: CodeInfo(TERMINAL, PROVIDER, "the task already finished and cannot be canceled (817)"),
    901: CodeInfo(TERMINAL, CONFIG, "the AI app does not exist (901)"),
    1002: CodeInfo(TERMINAL, CONFIG, "the API key was refused (1002)"),
    1014: CodeInfo(TERMINAL, CONFIG, "this needs an enterprise shared key (1014)"),
}


ACCOUNT_CODES = frozenset(
    ("401", "403", "416", "435", "436", "801", "802", "806", "811", "812", "1002", "1014")
)
"""Refusals about the key's account (its key, balance or membership), not the task or the
app: with pooled keys, another key may run the task (providers/accounts.py)."""


def info(code: int) -> CodeInfo:
    return CODES.get(code, CodeInfo(TERMINAL, PROVIDER, f"RunningHub answered code {code}"))


def error_for(code: int, msg: str = "") -> ProviderError:
    """The exception for a non-zero code; RunningHub's own `msg` is kept when it adds words."""
    known = info(code)
    text = known.message if not msg or msg in known.message else f"{known.message}: {msg}"
    return error_from(known, text, str(code))
