"""The RunningHub emulator's data: knobs, app specs, task records, stats and the code table.

Nothing here does I/O; runninghub.py serves it over HTTP and runninghub_tasks.py moves the
tasks along on loop timers.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

# docs/providers.md, RunningHub's error codes (official list, plus 412/814/817 seen by third
# parties). 1003 is a v2 code (rate limit) whose name is not documented; it is offered for
# fault injection.
CODES: dict[int, str] = {
    0: "success",
    301: "PARAMS_INVALID",
    380: "WORKFLOW_NOT_EXISTS",
    412: "TOKEN_INVALID",
    415: "TASK_INSTANCE_MAXED",
    416: "NOT_ENOUGH_WALLET",  # only "…NOT_ENOUGH_WALLET" is on record; the prefix is unknown
    421: "TASK_QUEUE_MAXED",
    423: "TASK_NOT_FOUNED",
    433: "VALIDATE_PROMPT_FAILED",
    500: "UNKNOWN_ERROR",
    801: "APIKEY_UNSUPPORTED_FREE_USER",
    802: "APIKEY_UNAUTHORIZED",
    803: "APIKEY_INVALID_NODE_INFO",
    804: "APIKEY_TASK_IS_RUNNING",
    805: "APIKEY_TASK_STATUS_ERROR",
    806: "APIKEY_USER_NOT_FOUND",
    807: "APIKEY_TASK_NOT_FOUND",
    808: "APIKEY_UPLOAD_FAILED",
    809: "APIKEY_FILE_SIZE_EXCEEDED",
    811: "CORPAPIKEY_INVALID",
    812: "CORPAPIKEY_INSUFFICIENT_FUNDS",
    813: "APIKEY_TASK_IS_QUEUED",
    814: "PERSONAL_QUEUE_COUNT_LIMIT",
    817: "APIKEY_TASK_CANCEL_NOT_ALLOWED",
    901: "WEBAPP_NOT_EXISTS",
    1003: "RATE_LIMITED",
}


def code_name(code: int) -> str:
    return CODES.get(code, "UNKNOWN_ERROR")


@dataclass(slots=True)
class HubKnobs:
    """Everything that may change at runtime, in-process or via POST /_emulator/config."""

    host: str = "www.runninghub.cn"  # the Host header every API call must carry
    queue_s: float = 1.0  # time spent QUEUED once the task holds a slot
    run_s: float = 20.0  # time spent RUNNING
    hold: bool = False  # tasks stay in their phase until advance() moves them (no timers)
    jitter_s: float = 0.0  # each phase gets uniform(0, jitter_s) more, per task
    run_spread: float = 0.0  # RUNNING lasts run_s x uniform(1 - run_spread, 1 + run_spread)
    concurrency: int = 3  # QUEUED-or-RUNNING tasks the key may have (else 421/415)
    personal_queue_limit: int = 1000  # usePersonalQueue backlog (else 814)
    outputs_per_task: int = 1
    empty_outputs: bool = False  # SUCCESS with `[]`, like a workflow without an output node
    fail_rate: float = 0.0  # share of unscripted tasks that end FAILED
    file_ttl_s: float = 3600.0  # result URLs are signed until finish + this
    resign_on_query: bool = False  # sign until now + file_ttl_s at every /outputs instead
    max_upload_bytes: int = 30 * 1024 * 1024  # RunningHub's limit (809 above it)
    upload_store_bytes: int = 256 * 1024 * 1024  # oldest uploads are forgotten past this
    coins_per_task: int = 10  # taken from remain_coins as a task ends (not a failed one)
    remain_coins: int = 100_000  # the balance; at 0 or below a run answers broke_code
    broke_code: int = 812  # CORPAPIKEY_INSUFFICIENT_FUNDS, or 416 (…NOT_ENOUGH_WALLET)
    remain_money: str = "null"  # accountStatus's remainMoney in CNY, e.g. "12.50"; null
    output_fields: str = ""  # a JSON object overriding fields of each output (a hostile hub)
    webhook_delay_s: float = 0.0
    webhook_retries: int = 3  # after the first attempt
    webhook_backoff_s: float = 0.2  # doubled after each failed attempt
    webhook_timeout_s: float = 5.0
    webhook_duplicates: int = 0  # extra copies of every event, to test idempotency

    def update(self, values: Mapping[str, Any]) -> None:
        """Checks every value before setting any, so a bad request changes nothing."""
        kinds = {f.name: f.type for f in fields(self)}
        checked: dict[str, Any] = {}
        for name, value in values.items():
            kind = kinds.get(name)
            if kind is None:
                raise ValueError(f"unknown knob {name!r}")
            checked[name] = _coerce(name, str(kind), value)
        if not 0.0 <= float(checked.get("fail_rate", self.fail_rate)) <= 1.0:
            raise ValueError("fail_rate must be within 0..1")
        if not 0.0 <= float(checked.get("run_spread", self.run_spread)) < 1.0:
            raise ValueError("run_spread must be within 0..1 (below 1)")
        if checked.get("broke_code", 812) not in (812, 416):
            raise ValueError("broke_code must be 812 or 416")
        money = checked.get("remain_money", "null")
        if money != "null" and not re.fullmatch(r"\d+(\.\d+)?", money):
            raise ValueError("remain_money must be a decimal string or null")
        for name, value in checked.items():
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(name: str, kind: str, value: Any) -> Any:
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, str) and value:
        return value
    if kind in ("int", "float") and isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} must not be negative")
        if kind == "float":
            return float(value)
        if isinstance(value, int):
            return value
    raise ValueError(f"{name} must be a {kind}, got {value!r}")


@dataclass(frozen=True)
class AppNodes:
    """What an AI app or workflow accepts: (nodeId, fieldName) -> kind.

    Kind "image" must name an upload (or an http(s) URL); kind "scale" a number from 1 to
    MAX_SCALE, which the results are enlarged by (an upscaler's factor); other kinds take any
    value. With `fields=None` every node is accepted and fields named "image" are checked as
    images.
    """

    fields: Mapping[tuple[str, str], str] | None
    output_node: str = "9"

    def kind(self, node_id: str, field_name: str) -> str | None:
        if self.fields is None:
            return "image" if field_name == "image" else "any"
        return self.fields.get((node_id, field_name))

    @classmethod
    def from_graph(cls, graph: Mapping[str, Any], default_output: str) -> AppNodes:
        """The nodes of a `workflow` API-JSON sent with /create, which replaces the stored one."""
        kinds: dict[tuple[str, str], str] = {}
        output = default_output
        for node_id, node in graph.items():
            if not isinstance(node, Mapping):
                raise ValueError(f"node {node_id} is not an object")
            inputs = node.get("inputs")
            class_type = node.get("class_type")
            if class_type == "SaveImage":
                output = str(node_id)
            for name in inputs if isinstance(inputs, Mapping) else ():
                image = class_type == "LoadImage" and name == "image"
                kinds[(str(node_id), str(name))] = "image" if image else "any"
        return cls(fields=kinds, output_node=output)


MAX_SCALE = 8.0  # ComfyUI's ImageScaleBy takes up to 8
UPSCALER_WEBAPP = "1947926545896734722"  # rendergate's upscale_runninghub names this one

# Seed 003 (an AI app taking two LoadImage nodes), an upscaler AI app (an image and its
# factor), and the workflow id of the official docs.
DEFAULT_WEBAPPS: dict[str, AppNodes] = {
    "1983061233110790146": AppNodes(
        fields={("112", "image"): "image", ("158", "image"): "image"}, output_node="160"
    ),
    UPSCALER_WEBAPP: AppNodes(
        fields={("15", "image"): "image", ("22", "upscale_by"): "scale"}, output_node="30"
    ),
}
DEFAULT_WORKFLOWS: dict[str, AppNodes] = {
    "1904136902449209346": AppNodes(
        fields={("10", "image"): "image", ("6", "text"): "text", ("3", "seed"): "int"},
        output_node="9",
    ),
}


@dataclass(frozen=True)
class FailedReason:
    """`data.failedReason` of an 805 answer; the user's outputs answer shows every value as a
    string."""

    node_id: str = "3"
    node_name: str = "KSampler"
    exception_type: str = "RuntimeError"
    exception_message: str = "emulated failure"
    traceback: tuple[str, ...] = ('  File "/workspace/ComfyUI/execution.py", line 366\n',)

    def to_json(self) -> dict[str, str]:
        return {
            "current_outputs": "{}",
            "exception_type": self.exception_type,
            "node_name": self.node_name,
            "current_inputs": "{}",
            "traceback": json.dumps(list(self.traceback)),
            "node_id": self.node_id,
            "exception_message": self.exception_message,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FailedReason:
        default = cls()

        def text(key: str) -> str:
            value = data.get(key)
            return str(value) if value is not None else str(getattr(default, key))

        lines = data.get("traceback")
        return cls(
            node_id=text("node_id"),
            node_name=text("node_name"),
            exception_type=text("exception_type"),
            exception_message=text("exception_message"),
            traceback=tuple(map(str, lines)) if isinstance(lines, list) else default.traceback,
        )


# The v1 docs have no canceled state: a canceled task reads FAILED and /outputs answers 805
# with this reason (v2 would say CANCEL). Our choice; see the cancel handler.
CANCELED_REASON = FailedReason(
    node_id="",
    node_name="",
    exception_type="TaskCanceled",
    exception_message="the task was canceled by the user",
    traceback=(),
)


class TaskEnding(StrEnum):
    SUCCESS = "success"
    EMPTY = "empty"  # SUCCESS with no output files
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class HubScript:
    """How one upcoming task will end (see RunningHubEmulator.script_next)."""

    outcome: TaskEnding
    failed_reason: FailedReason | None = None


@dataclass(slots=True, eq=False)
class HubTask:
    task_id: str
    client_id: str
    kind: str  # "ai-app" or "workflow"
    app_id: str
    output_node: str
    input_file: str | None  # the first uploaded image, which the results are made from
    webhook_url: str | None
    instance_type: str | None
    personal: bool
    planned: HubScript
    queue_s: float
    run_s: float
    created_mono: float
    created_wall: float
    owner: str = ""  # the key that submitted it
    scale: float = 1.0  # what a "scale" node asked for: the results are this much larger
    node_info: list[Any] = field(default_factory=list)  # the nodeInfoList, as sent
    status: str = "QUEUED"
    slotted_mono: float | None = None  # when it took a concurrency slot
    started_mono: float | None = None  # RUNNING from here
    started_wall: float | None = None
    finished_mono: float | None = None
    finished_wall: float | None = None
    outcome: TaskEnding | None = None
    failed_reason: FailedReason | None = None
    outputs: int = 0
    expires_wall: float = 0.0  # result URLs stop working after this
    requests: Counter[str] = field(default_factory=Counter)
    timer: asyncio.TimerHandle | None = None
    held: Callable[[str], None] | None = None  # with `hold`: the step advance() takes next

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "kind": self.kind,
            "app_id": self.app_id,
            "status": self.status,
            "outcome": self.outcome,
            "personal": self.personal,
            "instance_type": self.instance_type,
            "webhook_url": self.webhook_url,
            "queue_s": self.queue_s,
            "run_s": self.run_s,
            "created_mono": self.created_mono,
            "created_wall": self.created_wall,
            "slotted_mono": self.slotted_mono,
            "started_mono": self.started_mono,
            "started_wall": self.started_wall,
            "finished_mono": self.finished_mono,
            "finished_wall": self.finished_wall,
            "outputs": self.outputs,
            "scale": self.scale,
            "node_info": self.node_info,
            "requests": dict(self.requests),
        }


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    task_id: str
    url: str
    copy: int  # 0 for the event itself, 1.. for webhook_duplicates
    attempt: int  # 1 for the first try
    at_wall: float
    status: int | None  # the receiver's HTTP status; None when it was not reached
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "url": self.url,
            "copy": self.copy,
            "attempt": self.attempt,
            "at_wall": self.at_wall,
            "status": self.status,
            "error": self.error,
            "ok": self.ok,
        }


@dataclass
class HubStats:
    """Counts keyed by route (e.g. "/files/{task_id}/{name}"), so the keys stay few."""

    requests_by_path: Counter[str] = field(default_factory=Counter)
    codes_by_path: defaultdict[str, Counter[int]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    faults_fired: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_by_path": dict(self.requests_by_path),
            "codes_by_path": {
                path: {str(code): n for code, n in codes.items()}
                for path, codes in self.codes_by_path.items()
            },
            "faults_fired": dict(self.faults_fired),
        }
