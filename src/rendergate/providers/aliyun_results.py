"""Reading 智作工坊's answers into ours: statuses, progress, outputs and cost; and the
`inputs` a task sends. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from rendergate.providers.base import JobPhase, JobRequest, OutputRef
from rendergate.providers.kit import binding_values, number

PHASES = {
    "waiting": JobPhase.QUEUED,
    "running": JobPhase.RUNNING,
    "succeeded": JobPhase.SUCCEEDED,
    "successed": JobPhase.SUCCEEDED,  # how the progress document spells it
    "failed": JobPhase.FAILED,
    "canceled": JobPhase.CANCELED,
    "cancelled": JobPhase.CANCELED,
}


def inputs(request: JobRequest) -> dict[str, Any]:
    """The app's bindings filled with this task's inputs (accessUrls), angle and params; an
    optional input this task did not give keeps the workflow's default."""
    return {binding.field: value for binding, value in binding_values(request)}


def outputs(data: Mapping[str, Any]) -> tuple[OutputRef, ...]:
    """File objects of custom `result` fields (named by the field), then `images` URLs."""
    found: list[OutputRef] = []
    seen: set[str] = set()

    def add(item: Any, name: str) -> None:
        url = item.get("url") if isinstance(item, dict) else item
        if not isinstance(url, str) or not url or object_of(url) in seen:
            return
        seen.add(object_of(url))
        described = item if isinstance(item, dict) else {}
        found.append(OutputRef(locator=url, file_type=file_type(described, url), node_id=name))

    result = data.get("result")
    if isinstance(result, dict):
        for name, value in result.items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):  # text or number fields are not files
                    add(item, str(name))
    images = data.get("images")
    for item in images if isinstance(images, list) else []:
        add(item, "")
    return tuple(found)


def object_of(url: str) -> str:
    """A URL without its query: one object, however often it is signed."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


def same_output(fresh: OutputRef, old: OutputRef) -> bool:
    if old.node_id:
        return fresh.node_id == old.node_id
    return object_of(fresh.locator) == object_of(old.locator)


def file_type(described: Mapping[str, Any], url: str) -> str:
    for candidate in (described.get("format"), described.get("filename"), urlsplit(url).path):
        text = str(candidate or "").rsplit(".", 1)[-1].lower()
        if text and text.isalnum() and len(text) <= 8:
            return text
    return "png"


def cost(data: Mapping[str, Any]) -> dict[str, Any] | None:
    found = {k: data[k] for k in ("taskDuration", "taskBeginTime", "taskEndTime") if k in data}
    return found or None


def percent(value: Any) -> int | None:
    fraction = number(value)
    if fraction is None:
        return None
    return max(0, min(100, round(fraction * 100)))


def count(value: Any) -> int | None:
    amount = number(value)
    return None if amount is None else max(0, int(amount))


def poll_s(eta: Any) -> float:
    seconds = number(eta)
    return 2.0 if seconds is None else min(10.0, max(0.5, seconds / 4))
