"""Turns tasks (and their webhook deliveries) into table rows and back; the only place
that knows both shapes.

JSON columns hold the task's nested values: its inputs (role -> key and content type; rows
from before content types were kept hold only the key), its provider's job handle, its
outputs and skips.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from rendergate.domain.chains import ThenStep
from rendergate.domain.events import Attempt, Delivery, DeliveryState, EventType
from rendergate.domain.media import content_type_of
from rendergate.domain.money import Money
from rendergate.domain.task import (
    ErrorKind,
    InputRef,
    JobHandle,
    Membership,
    ResultFile,
    ResultRef,
    Skip,
    Task,
    TaskStatus,
)


def to_row(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "app": task.app,
        "provider": task.provider,
        "angle": task.angle,
        "params": dict(task.params),
        "inputs": {
            role: {"key": ref.key, "content_type": ref.content_type}
            for role, ref in task.inputs.items()
        },
        "status": task.status.value,
        "progress": task.progress,
        "queue_position": task.queue_position,
        "provider_job": job_to_json(task.provider_job) if task.provider_job else None,
        "outputs": [_output_to_json(o) for o in task.outputs],
        "cost": dict(task.cost) if task.cost is not None else None,
        "error_message": task.error_message,
        "error_kind": task.error_kind.value,
        "attempts": task.attempts,
        "callback_token": task.callback_token,
        "owner": task.owner,
        "webhook_url": task.webhook_url,
        "link_base": task.link_base,
        "webhook_events": list(task.webhook_events),
        "deadline_s": task.deadline_s,
        "seed": task.seed,
        "rerun_of": task.rerun_of,
        "preset": task.preset,
        "preset_version": task.preset_version,
        "parent_task_id": task.parent.task_id if task.parent else None,
        "parent_task_index": task.parent.index if task.parent else None,
        "files_expired_at": task.files_expired_at,
        "kept_at": task.kept_at,
        **_member_to_row(task.member),
        **_money_to_row(task),
        "then_steps": [step.as_json() for step in task.then] or None,
        "skipped": [{"provider": s.provider, "reason": s.reason} for s in task.skipped],
        "version": task.version,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "finished_at": task.finished_at,
    }


def changed_columns(old: Task, new: Task) -> dict[str, Any]:
    """The columns of `new`'s row that differ from `old`'s: what a write of `new` over
    `old` needs to set (the key and the creation time never change)."""
    before, after = to_row(old), to_row(new)
    return {name: value for name, value in after.items() if before.get(name) != value}


def from_row(row: Mapping[Any, Any]) -> Task:
    return Task(
        task_id=int(row["task_id"]),
        app=row["app"],
        provider=row["provider"],
        angle=row["angle"],
        params=row["params"] or {},
        inputs={role: _input_ref(raw) for role, raw in (row["inputs"] or {}).items()},
        status=TaskStatus(row["status"]),
        progress=int(row["progress"]),
        queue_position=row["queue_position"],
        provider_job=job_from_json(row["provider_job"]) if row["provider_job"] else None,
        outputs=tuple(ResultFile(**o) for o in row["outputs"] or ()),
        cost=row["cost"],
        error_message=row["error_message"],
        error_kind=ErrorKind(row["error_kind"]),
        attempts=int(row["attempts"]),
        callback_token=row["callback_token"],
        owner=row["owner"],
        webhook_url=row["webhook_url"],
        link_base=row.get("link_base") or "",  # events' snapshots from before it had none
        webhook_events=tuple(row["webhook_events"] or ()),
        deadline_s=row["deadline_s"],
        seed=row.get("seed"),  # events' snapshots from before seeds have none
        rerun_of=row.get("rerun_of"),
        preset=row.get("preset") or "",  # events' snapshots from before presets have none
        preset_version=row.get("preset_version"),
        parent=_parent(row),
        member=_member(row),
        charge=_money(row, "charge"),
        refunded=bool(row.get("refunded")),
        spent=_money(row, "spent"),
        spent_estimated=bool(row.get("spent_estimated")),
        then=tuple(
            ThenStep(app=s["type"], params=s["params"]) for s in row.get("then_steps") or ()
        ),  # events' snapshots from before chains have none
        files_expired_at=row["files_expired_at"],
        kept_at=row.get("kept_at"),  # events' snapshots from before picks have none
        skipped=tuple(
            Skip(provider=s["provider"], reason=s["reason"]) for s in row["skipped"] or ()
        ),
        version=int(row["version"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


def _member_to_row(member: Membership | None) -> dict[str, int | None]:
    if member is None:
        return {"batch_id": None, "view": None, "variation": None}
    return {"batch_id": member.batch_id, "view": member.view, "variation": member.variation}


def _money_to_row(task: Task) -> dict[str, Any]:
    """Money as its columns (tables.Micros; a snapshot's JSON holds the amounts as text:
    _money reads both)."""
    charge, spent = task.charge, task.spent
    return {
        "charge_amount": charge.amount if charge else None,
        "charge_currency": charge.currency if charge else None,
        "refunded": task.refunded,
        "spent_amount": spent.amount if spent else None,
        "spent_currency": spent.currency if spent else None,
        "spent_estimated": task.spent_estimated,
    }


def _money(row: Mapping[Any, Any], name: str) -> Money | None:
    amount, currency = row.get(f"{name}_amount"), row.get(f"{name}_currency")
    if amount is None or currency is None:
        return None
    return Money(Decimal(str(amount)), currency)


def _member(row: Mapping[Any, Any]) -> Membership | None:
    """Its place in a batch; events' snapshots from before batches have none."""
    if row.get("batch_id") is None:
        return None
    return Membership(int(row["batch_id"]), int(row["view"]), int(row["variation"]))


_TIMES = ("created_at", "updated_at", "finished_at", "files_expired_at", "kept_at")


def to_snapshot(task: Task) -> dict[str, Any]:
    """A task as a JSON value, for the event log; without its provider callback token."""
    row = to_row(task)
    row["callback_token"] = ""
    for amount in ("charge_amount", "spent_amount"):
        if row[amount] is not None:
            row[amount] = str(row[amount])  # JSON has no decimals: text, read back exactly
    return {k: (v.isoformat() if k in _TIMES and v is not None else v) for k, v in row.items()}


def from_snapshot(raw: Mapping[str, Any]) -> Task:
    times = {k: datetime.fromisoformat(raw[k]) if raw.get(k) else None for k in _TIMES}
    return from_row({**raw, **times})


def job_to_json(job: JobHandle) -> dict[str, Any]:
    return {"job_id": job.job_id, "data": dict(job.data), "shown": job.shown}


def job_from_json(raw: Mapping[str, Any]) -> JobHandle:
    return JobHandle(
        job_id=str(raw["job_id"]), data=dict(raw.get("data") or {}), shown=raw.get("shown", True)
    )


def _parent(row: Mapping[Any, Any]) -> ResultRef | None:
    task_id = row.get("parent_task_id")  # absent from events' snapshots from before it
    return None if task_id is None else ResultRef(int(task_id), int(row["parent_task_index"]))


def _input_ref(raw: str | Mapping[str, str]) -> InputRef:
    if isinstance(raw, str):  # a row from before content types were kept
        return InputRef(key=raw, content_type=content_type_of(raw.rsplit(".", 1)[-1]))
    return InputRef(key=raw["key"], content_type=raw["content_type"])


def _output_to_json(output: ResultFile) -> dict[str, Any]:
    return {
        "key": output.key,
        "content_type": output.content_type,
        "size": output.size,
        "node_id": output.node_id,
        "file_type": output.file_type,
    }


def attempt_to_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "at": attempt.at.isoformat(),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
    }


def delivery_to_row(delivery: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": delivery.delivery_id,
        "task_id": delivery.task_id,
        "owner": delivery.owner,
        "event": delivery.event.value,
        "version": delivery.version,
        "url": delivery.url,
        "state": delivery.state.value,
        "attempts": [attempt_to_json(a) for a in delivery.attempts],
        "created_at": delivery.created_at,
        "next_at": delivery.next_at,
        "lease_until": None,
        "body": dict(delivery.body) if delivery.body is not None else None,
    }


def delivery_from_row(row: Mapping[Any, Any]) -> Delivery:
    return Delivery(
        delivery_id=row["delivery_id"],
        task_id=int(row["task_id"]),
        owner=row["owner"],
        event=EventType(row["event"]),
        version=int(row["version"]),
        url=row["url"],
        state=DeliveryState(row["state"]),
        created_at=row["created_at"],
        next_at=row["next_at"],
        attempts=tuple(
            Attempt(
                at=datetime.fromisoformat(a["at"]),
                status_code=a["status_code"],
                latency_ms=int(a["latency_ms"]),
                error=a["error"],
            )
            for a in row["attempts"] or ()
        ),
        body=row.get("body"),
    )
