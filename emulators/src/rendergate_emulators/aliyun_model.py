"""The Aliyun emulator's data: knobs, workflows, scripted outcomes, tasks and stats.

A task's state is computed from its age whenever it is asked for (no timers): it waits
`queue_ahead * queue_step_s` with lastQueueRemaining counting down, runs `run_s` with
progress rising from 0 to 1, then has succeeded or failed (as scripted).
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# The seed's two documented service codes. The emulator's own (undocumented) refusals use
# the same prefix convention: P_ for a bad request, B_ for an unknown workflow.
CAN_NOT_FIND_TASK = "B_COMPUTING_CanNotFindTask"
CONTENT_SAFE = "P_Request_ContentSafe"
INVALID_PARAM = "P_Request_InvalidParam"
WORKFLOW_NOT_FOUND = "B_WORKFLOW_NotFound"
ARREARAGE = "Arrearage"  # Aliyun's code for an account in arrears on its other platforms
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


@dataclass(frozen=True)
class Workflow:
    """A published workflow: its aliases, versions and required input keys."""

    aliases: tuple[str, ...] = ("main",)
    versions: tuple[str, ...] = ("v1",)
    inputs: tuple[str, ...] = ()


DEFAULT_WORKFLOWS = {"su_render": Workflow(inputs=("image", "reference"))}
OUTPUT_PLACES = ("images", "result", "both")


@dataclass(slots=True)
class AliyunKnobs:
    queue_ahead: int = 0  # others' tasks ahead of each new one
    queue_step_s: float = 0.5  # how long each of them takes to clear
    run_s: float = 1.0
    successed: bool = False  # spell success "successed" (the progress document's spelling)
    file_ttl_s: float = 3600.0  # result and access URLs are signed for this long from each answer
    upload_ttl_s: float = 900.0  # an uploadUrl is valid this long
    outputs: str = "both"  # where results appear: "images", "result" (custom field) or "both"
    output_field: str = "poster"  # the custom result field's name

    def update(self, values: Mapping[str, Any]) -> None:
        """Checks every value before setting any, so a bad call changes nothing."""
        kinds = {f.name: f.type for f in fields(self)}
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if name not in kinds:
                raise ValueError(f"unknown knob {name!r}")
            kind = kinds[name]
            if kind == "bool" and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            if kind in ("int", "float") and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise ValueError(f"{name} must be a number >= 0")
            if kind == "str" and not isinstance(value, str):
                raise ValueError(f"{name} must be a string")
            if name == "outputs" and value not in OUTPUT_PLACES:
                raise ValueError(f"outputs must be one of {', '.join(OUTPUT_PLACES)}")
            checked[name] = int(value) if kind == "int" else value
        for name, value in checked.items():
            setattr(self, name, value)

    @property
    def success_word(self) -> str:
        return "successed" if self.successed else "succeeded"


@dataclass(frozen=True)
class AliyunScript:
    """What the next task does instead of succeeding."""

    fail: tuple[str, str] | None = None  # it ends failed with (subErrCode, subErrMessage)
    refuse: tuple[str, str] | None = None  # comfy_prompt answers status 20 with it


@dataclass(frozen=True)
class Snapshot:
    status: str  # waiting, running, succeeded, failed
    progress: float
    queue_remaining: int
    eta_s: float


@dataclass
class AliyunTask:
    task_id: str
    workflow_id: str
    alias_id: str | None
    version_id: str | None
    inputs: dict[str, Any]
    resource_config_id: str | None
    created: float  # monotonic
    created_wall_ms: int
    queue_s: float
    queue_step_s: float
    run_s: float
    fail: tuple[str, str] | None = None
    source_key: str | None = None  # the uploaded image the result is rendered from
    owner: str = ""  # the app key that submitted it: only that app sees it
    requests: Counter[str] = field(default_factory=Counter)

    def at(self, now: float) -> Snapshot:
        elapsed = max(0.0, now - self.created)
        if elapsed < self.queue_s:
            left = self.queue_s - elapsed
            remaining = math.ceil(left / self.queue_step_s) if self.queue_step_s else 0
            return Snapshot("waiting", 0.0, remaining, left + self.run_s)
        ran = elapsed - self.queue_s
        if ran < self.run_s:
            return Snapshot("running", round(ran / self.run_s, 3), 0, self.run_s - ran)
        return Snapshot("failed" if self.fail else "succeeded", 1.0, 0, 0.0)

    @property
    def begin_ms(self) -> int:
        return self.created_wall_ms + round(self.queue_s * 1000)

    @property
    def end_ms(self) -> int:
        return self.begin_ms + round(self.run_s * 1000)

    def to_json(self, now: float) -> dict[str, Any]:
        snap = self.at(now)
        return {
            "taskId": self.task_id,
            "workflow_id": self.workflow_id,
            "alias_id": self.alias_id,
            "version_id": self.version_id,
            "inputs": self.inputs,
            "resource_config_id": self.resource_config_id,
            "status": snap.status,
            "progress": snap.progress,
            "requests": dict(self.requests),
        }


@dataclass
class AliyunStats:
    requests_by_path: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)  # gateway refusals by kind
    service_codes: Counter[str] = field(default_factory=Counter)  # status-20 answers by code
    submits_by_app: Counter[str] = field(default_factory=Counter)  # tasks taken, by app key
    peak_by_app: Counter[str] = field(default_factory=Counter)  # most unfinished at once
    uploads: int = 0  # successful PUTs
    downloads: int = 0  # files served

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_by_path": dict(self.requests_by_path),
            "refusals": dict(self.refusals),
            "service_codes": dict(self.service_codes),
            "uploads": self.uploads,
            "downloads": self.downloads,
        }


def new_task_id() -> str:
    """26 Crockford base-32 characters, like the documented `01jgjgyaqh85f7rs23v0kbmtdb`."""
    number = uuid.uuid4().int
    return "".join(_CROCKFORD[(number >> (5 * i)) & 31] for i in range(26))


def envelope(
    data: Any = None, *, code: str | None = None, message: str | None = None
) -> dict[str, Any]:
    """The service's answer: status 10 with data, or 20 with the code.

    Undocumented: on failure the code is repeated as errCode (the SDK's submit checks only
    errCode) while subErrCode carries it as the documents say.
    """
    failed = code is not None
    return {
        "status": 20 if failed else 10,
        "apiInvokeId": f"i_{uuid.uuid4().hex[:24]}",
        "errCode": code,
        "errMessage": message,
        "subErrCode": code,
        "subErrMessage": message,
        "data": data,
    }
