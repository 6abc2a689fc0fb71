"""Reading RunningHub's answers: the node list a task sends, ComfyUI's validation tips,
a failure's reason, the cost, the balance, and which fresh output is an old one again."""

from __future__ import annotations

import json
from typing import Any

from rendergate.domain.errors import Fault, ProviderRejected
from rendergate.domain.money import figure
from rendergate.providers.base import Balance, JobRequest, OutputRef
from rendergate.providers.kit import binding_values


def node_info(request: JobRequest) -> list[dict[str, Any]]:
    """The app's bindings filled with this task's inputs (uploaded file names), angle and params."""
    items = []
    for binding, value in binding_values(request):
        if not binding.node_id:
            raise ProviderRejected(
                f"app {request.app.name!r} binds {binding.source} without a node_id",
                fault=Fault.CONFIG,
            )
        items.append({"nodeId": binding.node_id, "fieldName": binding.field, "fieldValue": value})
    return items


def check_prompt_tips(tips: Any) -> None:
    """promptTips is ComfyUI's validation result as a JSON string; node errors are terminal."""
    try:
        parsed = json.loads(tips) if isinstance(tips, str) and tips else {}
    except (ValueError, RecursionError):
        return
    errors = parsed.get("node_errors") if isinstance(parsed, dict) else None
    if errors:
        nodes = ", ".join(sorted(str(node) for node in errors))
        raise ProviderRejected(f"RunningHub's ComfyUI refused nodes {nodes}", fault=Fault.USER)


def failure(reason: Any) -> ProviderRejected:
    if not isinstance(reason, dict):
        return ProviderRejected("the task failed on RunningHub (805)", code="805")
    node = reason.get("node_name") or "a node"
    node_id = f" (node {reason['node_id']})" if reason.get("node_id") else ""
    kind = reason.get("exception_type") or "an error"
    message = str(reason.get("exception_message") or "").strip()
    text = f"{node}{node_id} raised {kind}" + (f": {message}" if message else "")
    return ProviderRejected(f"the task failed on RunningHub: {text}", fault=Fault.USER, code="805")


def cost(files: list[Any]) -> dict[str, Any] | None:
    first = next((f for f in files if isinstance(f, dict)), None)
    if first is None:
        return None
    keys = ("consumeCoins", "consumeMoney", "thirdPartyConsumeMoney", "taskCostTime")
    return {key: first.get(key) for key in keys}


def same_output(a: OutputRef, b: OutputRef) -> bool:
    return a.node_id == b.node_id and a.file_type == b.file_type


def balance(account: dict[str, Any]) -> Balance:
    """accountStatus's remainCoins and remainMoney (strings, or null) as decimals."""
    currency = account.get("currency")
    return Balance(
        coins=figure(account.get("remainCoins")),
        money=figure(account.get("remainMoney")),
        currency=str(currency) if currency else None,
    )
