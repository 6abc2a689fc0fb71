"""The create's integer fields, read alike from a form's text and a JSON body: `seed`, and
`image_task_id` with `image_task_index` (a finished task's result as the image)."""

from __future__ import annotations

from collections.abc import Callable

from rendergate.domain.errors import InvalidInput
from rendergate.domain.task import (
    MAX_OUTPUT_INDEX,
    MAX_SAFE_INTEGER,
    ResultRef,
    check_integer,
    check_seed,
)


def form_integer(text: str, check: Callable[[object], int]) -> int | None:
    """A form's integer: decimal digits, which `check` takes (none: None)."""
    text = text.strip()
    if not text:
        return None
    digits = text.isascii() and text.isdigit() and len(text) <= 20
    return check(int(text) if digits else text)


def form_seed(text: str) -> int | None:
    """A form's seed (none: the server picks one)."""
    return form_integer(text, check_seed)


def image_task_id(value: object) -> int:
    return check_integer(value, field="image_task_id", high=MAX_SAFE_INTEGER)


def image_task_index(value: object) -> int:
    return check_integer(value, field="image_task_index", high=MAX_OUTPUT_INDEX)


def image_task(task_id: int | None, index: int | None) -> ResultRef | None:
    """The result a create takes as its image: image_task_id, and image_task_index (0)."""
    if task_id is None:
        if index is not None:
            raise InvalidInput(
                "image_task_index needs image_task_id beside it", field="image_task_index"
            )
        return None
    return ResultRef(task_id, index or 0)
