"""ComfyUI's JSON, read and written without I/O: binding our inputs into an API-format
workflow template, and turning `/history` entries and 400 `node_errors` into our terms.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import ConfigError, Fault, ProviderError, ProviderRejected
from rendergate.providers.base import JobPhase, JobStatus, OutputRef
from rendergate.providers.kit import bound_values

MAX_DETAIL = 300


def read_workflow_file(options: Mapping[str, Any], base: Traversable | Path) -> dict[str, Any]:
    """The route's options with `workflow_file` (relative to the apps file) read into
    `workflow`, so a broken workflow file stops start-up instead of failing tasks later."""
    if "workflow_file" not in options:
        return dict(options)
    path = base.joinpath(str(options["workflow_file"]))
    try:
        workflow = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read its workflow_file {path}: {exc}") from exc
    if not isinstance(workflow, dict):
        raise ConfigError(f"{path} is not an API-format workflow object")
    return {**options, "workflow": workflow}


def bind_workflow(
    app: AppSpec,
    inputs: Mapping[str, str],
    angle: str,
    params: Mapping[str, Any],
    *,
    seed: int | None = None,
) -> dict[str, Any]:
    """A copy of the app's workflow with each binding's value put into its node's field.

    A `params.<key>` binding the request leaves out keeps the template's own value, and so
    does a `seed` binding of a task without a seed (one stored before tasks had one).
    """
    template = app.options.get("workflow")
    if not isinstance(template, Mapping) or not template:
        raise ProviderRejected(
            f"app {app.name!r} has no ComfyUI workflow (options.workflow or options.workflow_file)",
            fault=Fault.CONFIG,
        )
    graph: dict[str, Any] = copy.deepcopy(dict(template))
    for binding in app.bindings:
        node = graph.get(binding.node_id)
        if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
            raise ProviderRejected(
                f"app {app.name!r} binds {binding.source} to node {binding.node_id}, "
                "which its workflow does not have",
                fault=Fault.CONFIG,
            )
    for binding, value in bound_values(app.bindings, inputs, angle, params, seed=seed):
        graph[binding.node_id]["inputs"][binding.field] = value
    return graph


def bound_fields(app: AppSpec) -> set[tuple[str, str]]:
    """The (node, field) pairs a request can change: errors there are the user's."""
    return {(b.node_id, b.field) for b in app.bindings}


def refused_workflow(body: Any, user_fields: set[tuple[str, str]]) -> ProviderError:
    """The error for a 400 from POST /prompt (`error` plus per-node `node_errors`)."""
    body = body if isinstance(body, Mapping) else {}
    error = body.get("error") if isinstance(body.get("error"), Mapping) else {}
    node_errors = body.get("node_errors") if isinstance(body.get("node_errors"), Mapping) else {}
    problems: list[str] = []
    fault = Fault.CONFIG  # the app's template does not suit this server
    for node_id, entry in node_errors.items():
        if not isinstance(entry, Mapping):
            continue
        class_type = str(entry.get("class_type", "?"))
        for item in entry.get("errors", []) or []:
            if not isinstance(item, Mapping):
                continue
            extra = item.get("extra_info") if isinstance(item.get("extra_info"), Mapping) else {}
            field = str(extra.get("input_name", "")) if extra else ""
            if (str(node_id), field) in user_fields:
                fault = Fault.USER
            where = f"node {node_id} ({class_type})" + (f" input {field}" if field else "")
            problems.append(f"{where}: {_clip(_error_text(item, field))}")
    if not problems:
        kind = str(error.get("type", "")) if error else ""
        message = _clip(str(error.get("message", "") if error else "") or "invalid workflow")
        if kind == "invalid_prompt":  # e.g. a node class this server does not have
            details = _clip(str(error.get("details", "")))
            message = f"{message}: {details}" if details else message
        problems.append(message)
    return ProviderRejected(
        "ComfyUI refused the workflow: " + "; ".join(problems[:5]), fault=fault, code="400"
    )


def _error_text(item: Mapping[str, Any], field: str) -> str:
    message = str(item.get("message", "")).strip()
    details = str(item.get("details", "")).strip()
    if not details or details == field or details in message:
        return message
    return f"{message} ({details})"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def history_status(entry: Mapping[str, Any]) -> JobStatus:
    """A finished prompt's `/history` entry as a final JobStatus."""
    status = entry.get("status") if isinstance(entry.get("status"), Mapping) else {}
    messages = [m for m in (status or {}).get("messages", []) or [] if isinstance(m, list)]
    kinds = {str(m[0]): m[1] for m in messages if len(m) == 2 and isinstance(m[1], Mapping)}
    if "execution_interrupted" in kinds:  # history says "error" for these too
        return JobStatus(phase=JobPhase.CANCELED)
    cost = execution_time(kinds)
    if "execution_error" in kinds:
        error = execution_error(kinds["execution_error"])
        return JobStatus(phase=JobPhase.FAILED, error=error, cost=cost)
    if status and status.get("status_str") == "error":
        return JobStatus(
            phase=JobPhase.FAILED, error=ProviderRejected("ComfyUI reported the prompt failed")
        )
    outputs = output_refs(entry.get("outputs"))
    return JobStatus(phase=JobPhase.SUCCEEDED, outputs=outputs, cost=cost)


def execution_time(kinds: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """How long the prompt ran on the server, from its history's message timestamps (ms):
    what a GPU-hour price is applied to (domain/costing.py)."""
    start = kinds.get("execution_start", {}).get("timestamp")
    end = next(
        (kinds[k].get("timestamp") for k in ("execution_success", "execution_error") if k in kinds),
        None,
    )
    numbers = [v for v in (start, end) if isinstance(v, int) and not isinstance(v, bool)]
    if len(numbers) != 2 or numbers[1] < numbers[0]:
        return None
    return {"execution_ms": numbers[1] - numbers[0]}


def execution_error(data: Mapping[str, Any]) -> ProviderError:
    node = f"node {data.get('node_id', '?')} ({data.get('node_type', '?')})"
    kind = str(data.get("exception_type", "")).rsplit(".", 1)[-1]
    text = _clip(str(data.get("exception_message", "")))
    detail = ": ".join(part for part in (kind, text) if part)
    return ProviderRejected(f"ComfyUI failed at {node}" + (f": {detail}" if detail else ""))


def output_refs(outputs: Any) -> tuple[OutputRef, ...]:
    """Saved files (type "output") of every node; previews ("temp") only when nothing was saved."""
    saved: list[OutputRef] = []
    previews: list[OutputRef] = []
    if not isinstance(outputs, Mapping):
        return ()
    for node_id, produced in outputs.items():
        if not isinstance(produced, Mapping):
            continue
        for files in produced.values():
            for item in files if isinstance(files, list) else []:
                if not isinstance(item, Mapping) or "filename" not in item:
                    continue
                kind = str(item.get("type", "output"))
                filename = str(item["filename"])
                ref = OutputRef(
                    locator=urlencode(
                        {"filename": filename, "subfolder": item.get("subfolder", ""), "type": kind}
                    ),
                    file_type=filename.rsplit(".", 1)[-1].lower() if "." in filename else "",
                    node_id=str(node_id),
                )
                (saved if kind == "output" else previews).append(ref)
    return tuple(saved or previews)


def run_progress(nodes: Mapping[str, Any], total: int) -> int:
    """0-100 from a `progress_state` message: finished nodes count whole, running ones in part."""
    done = 0.0
    for state in nodes.values():
        if not isinstance(state, Mapping):
            continue
        if state.get("state") == "finished":
            done += 1
        elif state.get("state") == "running":
            high = float(state.get("max") or 1) or 1.0
            done += max(0.0, min(float(state.get("value") or 0) / high, 1.0))
    return round(100 * done / max(total, len(nodes), 1))


def queue_places(body: Any) -> dict[str, int]:
    """From GET /queue, each prompt the server holds: 0 while running, n when n-th in line.

    Raises ValueError for a body of another shape.
    """
    if not isinstance(body, Mapping):
        raise ValueError("not an object")
    places = dict.fromkeys((item_id for _, item_id in _queue_items(body.get("queue_running"))), 0)
    pending = sorted(_queue_items(body.get("queue_pending")))
    for position, (_, item_id) in enumerate(pending, start=1):
        places.setdefault(item_id, position)
    return places


def _queue_items(items: Any) -> list[tuple[float, str]]:
    """(number, prompt id) of each `[number, prompt_id, prompt, extra, outputs]` item."""
    if not isinstance(items, list):
        raise ValueError("queue is not a list")
    found: list[tuple[float, str]] = []
    for item in items:
        if not isinstance(item, list) or len(item) < 2 or isinstance(item[0], bool):
            raise ValueError("queue item is not [number, prompt_id, ...]")
        if not isinstance(item[0], int | float):
            raise ValueError("queue item has no number")
        found.append((float(item[0]), str(item[1])))
    return found
