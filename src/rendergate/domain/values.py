"""JSON values from outside (params, upstream replies): refused when unusable, made safe to show.

A lone surrogate ("\\ud800") parses but cannot be encoded as UTF-8; a 900-deep object parses
but is past what serializers follow; 1e999 parses as infinity, which JSON cannot hold. Each
of these once stored a task no client could read. A NUL character is stored by SQLite but
refused by PostgreSQL's text and jsonb, so it is refused on both. `check_value` and
`check_text` refuse them at the door, `renderable` shows whatever an older row holds, and
`clean_text` keeps messages short.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import Any

from rendergate.domain.errors import InvalidInput

MAX_DEPTH = 32  # params nest a few levels; nothing legitimate goes near this
MAX_VALUES = 10_000  # values in one field (params: a few dozen in practice)
MAX_SEPARATORS = 3 * MAX_VALUES  # commas and brackets in a JSON text: checked before parsing
MAX_MESSAGE_CHARS = 1000
MAX_SECONDS = 10 * 365 * 86400  # the longest duration a setting or an app may name
MAX_DAYS = 100 * 365  # the longest retention, in days
MAX_COST_FIELDS = 16
MAX_COST_CHARS = 64  # of a cost field's name or text ("10", "0.35", "2026-01-02 03:04:05")
_CUT = "…"


def check_value(
    value: Any, *, what: str, field: str | None = None, max_chars: int | None = None
) -> None:
    """Raises InvalidInput unless `value` is a JSON value every encoder here can write, of
    at most MAX_VALUES values and, given `max_chars`, that many characters of text."""
    stack: list[tuple[Any, int, str]] = [(value, 1, what)]
    values = chars = 0
    while stack:
        item, depth, path = stack.pop()
        values += 1
        if values > MAX_VALUES:
            raise InvalidInput(f"{what} holds more than {MAX_VALUES:,} values", field=field)
        if depth > MAX_DEPTH:
            raise InvalidInput(f"{what} is nested more than {MAX_DEPTH} levels deep", field=field)
        if isinstance(item, str):
            check_text(item, what=path, field=field)
            chars += len(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidInput(f"{path} is not a finite number", field=field)
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise InvalidInput(f"{path} has a key that is not text", field=field)
                check_text(key, what=path, field=field)
                chars += len(key)
                stack.append((child, depth + 1, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, f"{path}[{i}]") for i, child in enumerate(item))
        elif item is not None and not isinstance(item, bool | int | float):
            raise InvalidInput(f"{path} is not a JSON value", field=field)
    if max_chars is not None and chars > max_chars:
        raise InvalidInput(f"{what} is over the {megabytes(max_chars)} limit", field=field)


def check_separators(text: str | bytes | bytearray, *, what: str, field: str | None = None) -> None:
    """Refuses JSON text with more commas and brackets than MAX_SEPARATORS before it is
    parsed: the parser holds the interpreter (every thread) until it is done, and 3 MB of
    `[],` are a million lists. Counting is quick, and every value but the first follows a
    comma or an opening bracket (or its key, which does)."""
    if isinstance(text, str):
        count = text.count(",") + text.count("[") + text.count("{")
    else:
        count = text.count(b",") + text.count(b"[") + text.count(b"{")
    if count > MAX_SEPARATORS:
        raise InvalidInput(
            f"{what} has over {MAX_SEPARATORS:,} commas and brackets: more values than the "
            f"{MAX_VALUES:,} a field may hold",
            field=field,
        )


def check_text(text: str, *, what: str, field: str | None = None, location: str = "body") -> None:
    """Raises InvalidInput unless both databases can store the text as it is."""
    if not _encodable(text):
        raise InvalidInput(
            f"{what} holds text that is not valid Unicode (a lone surrogate)",
            field=field,
            location=location,
        )
    if "\x00" in text:
        raise InvalidInput(
            f"{what} holds a NUL character (\\u0000), which cannot be stored",
            field=field,
            location=location,
        )


def _encodable(text: str) -> bool:
    """Whether the text has no lone surrogate (ASCII, the common case, is not encoded)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_text(text: str) -> str:
    """The text with any lone surrogate replaced by U+FFFD, so it can be encoded."""
    if _encodable(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def renderable(value: Any, depth: int = 1) -> Any:
    """A copy of `value` that any JSON encoder can write: bad text mended, non-finite
    numbers as null, anything past MAX_DEPTH levels replaced by a note."""
    if depth > MAX_DEPTH:
        return f"{_CUT} (nested too deeply to show)"
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {safe_text(str(k)): renderable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [renderable(v, depth + 1) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return safe_text(str(value))


def clean_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message fit to store and show: valid Unicode, no control characters but newlines
    and tabs, at most `limit` characters (the cut is marked)."""
    text = safe_text(text)
    if not text.isprintable():
        text = "".join(
            " " if c not in "\n\t" and unicodedata.category(c) == "Cc" else c for c in text
        )
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + _CUT
    return text


def bounded_cost(cost: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A provider's cost as we keep it: at most MAX_COST_FIELDS fields, each a plain value
    (null, a boolean, a number JSON holds exactly, text of at most MAX_COST_CHARS); any
    other field is dropped. A cost is only shown: an upstream's nested or huge one must not
    bloat every read of the task, nor fail a task whose result is made."""
    if cost is None:
        return None
    kept = {
        key: value
        for key, value in cost.items()
        if isinstance(key, str) and _short_text(key) and _plain(value)
    }
    return dict(list(kept.items())[:MAX_COST_FIELDS])


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) <= 2**53
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and _short_text(value)


def _short_text(text: str) -> bool:
    return len(text) <= MAX_COST_CHARS and _encodable(text)


def megabytes(size: float) -> str:
    """Sizes in messages, one way everywhere: 1 MB = 2^20 bytes, 3 significant digits, never
    in exponent notation ("1.02e+05 MB" reads badly): GB from 1,000 MB, bytes below 1 KB."""
    if size < 1024:
        return f"{size:,.0f} bytes"
    for unit, scale in (("MB", 2**20), ("GB", 2**30)):
        value = size / scale
        if value < 1000 or unit == "GB":
            return f"{_three_digits(value)} {unit}"
    raise AssertionError("unreachable")


def _three_digits(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{float(f'{value:.3g}'):g}"  # 3 digits, then no trailing zeros
