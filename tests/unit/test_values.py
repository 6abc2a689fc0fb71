"""The pure checks on outside values and text (domain/values.py) and size messages."""

from __future__ import annotations

from typing import Any

import pytest

from rendergate.domain.errors import InvalidInput
from rendergate.domain.media import safe_extension
from rendergate.domain.values import (
    MAX_COST_FIELDS,
    MAX_DEPTH,
    MAX_SEPARATORS,
    MAX_VALUES,
    bounded_cost,
    check_separators,
    check_value,
    clean_text,
    megabytes,
    renderable,
    safe_text,
)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"a": "\ud800"}, "params.a holds text that is not valid Unicode"),
        ({"\udc00": 1}, "params holds text that is not valid Unicode"),
        ({"a": ["x\x00y"]}, "params.a[0] holds a NUL character"),
        ({"\x00": 1}, "params holds a NUL character"),
        ({"a": [1, {"b": float("nan")}]}, "params.a[1].b is not a finite number"),
        ({"a": float("-inf")}, "params.a is not a finite number"),
        (nested(MAX_DEPTH + 1), f"nested more than {MAX_DEPTH} levels deep"),
        ({"a": object()}, "params.a is not a JSON value"),
        ({1: "x"}, "params has a key that is not text"),
    ],
)
def test_values_no_encoder_can_write_are_refused(value: Any, says: str) -> None:
    with pytest.raises(InvalidInput, match=says.replace("[", r"\[").replace("]", r"\]")):
        check_value(value, what="params", field="params")


def test_ordinary_values_pass() -> None:
    check_value(nested(MAX_DEPTH), what="params")
    check_value({"note": "效果图 😀", "n": [1, 2.5, True, None]}, what="params")


def test_values_are_bounded_in_number_and_text() -> None:
    check_value({"a": [0] * (MAX_VALUES - 2)}, what="params")  # with the object and the list
    with pytest.raises(InvalidInput, match="params holds more than 10,000 values"):
        check_value({"a": [0] * (MAX_VALUES - 1)}, what="params")
    check_value({"ab": "x" * 8}, what="params", max_chars=10)
    with pytest.raises(InvalidInput, match="params is over the"):
        check_value({"ab": "x" * 9}, what="params", max_chars=10)


@pytest.mark.parametrize("text", ["[" * (MAX_SEPARATORS + 1), b"," * (MAX_SEPARATORS + 1)])
def test_json_text_with_too_many_separators_is_refused_unparsed(text: str | bytes) -> None:
    check_separators(text[:MAX_SEPARATORS], what="body")
    with pytest.raises(InvalidInput, match="body has over 30,000 commas and brackets"):
        check_separators(text, what="body")


def test_renderable_mends_what_an_old_row_holds() -> None:
    mended = renderable({"a": "x\ud800y", "b": float("inf"), "c": (1, 2), "d": nested(40)})
    assert mended["a"] == "x\ufffdy" and mended["b"] is None and mended["c"] == [1, 2]
    depth, node = 1, mended["d"]
    while isinstance(node, dict):
        node, depth = node["a"], depth + 1
    assert isinstance(node, str) and "nested too deeply" in node and depth <= MAX_DEPTH + 1
    assert safe_text("\ud83d\ude00") == "😀"  # a surrogate pair is one real character


def test_messages_are_cleaned_and_cut() -> None:
    assert clean_text("a\x00b\x1b[0m\nc\td") == "a b [0m\nc\td"
    long = clean_text("x" * 5000)
    assert len(long) == 1000 and long.endswith("…")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1000, "1,000 bytes"),
        (60_185, "0.0574 MB"),
        (30 * 2**20, "30 MB"),
        (123.4 * 2**20, "123 MB"),
        (1e5 * 2**20, "97.7 GB"),  # once "1e+05 MB"
        (8 * 2**30, "8 GB"),
        (5e6 * 2**30, "5,000,000 GB"),
    ],
)
def test_sizes_read_plainly(size: float, text: str) -> None:
    assert megabytes(size) == text


def test_a_cost_keeps_only_short_plain_values() -> None:
    sent = {
        "coins": "10",
        "money": None,
        "seconds": 12.5,
        "free": False,
        "huge": "9" * 65,
        "deep": [[1]],
        "past_doubles": 2**60,
        "bad_text": "\ud800",
        "k" * 65: 1,
    }
    assert bounded_cost(sent) == {"coins": "10", "money": None, "seconds": 12.5, "free": False}
    assert bounded_cost(None) is None
    assert len(bounded_cost({f"f{i}": i for i in range(100)}) or {}) == MAX_COST_FIELDS


@pytest.mark.parametrize(
    ("file_type", "extension"),
    [("png", "png"), (".JPG", "jpg"), ("", "png"), ("webp", "webp")]
    + [(bad, "bin") for bad in ("../x/png", "a/b", "p.n.g", "x" * 9, "..", "/")]
    + [("\uff50\uff4e\uff47", "bin")],  # full-width "png": letters, but not ASCII
)
def test_a_file_type_becomes_an_extension_that_makes_no_folder(
    file_type: str, extension: str
) -> None:
    assert safe_extension(file_type) == extension
