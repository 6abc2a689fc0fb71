"""The task table, as SQLAlchemy Core metadata shared by the store and the migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class Micros(sa.TypeDecorator[Decimal]):
    """Money as whole millionths in a BIGINT: exact on SQLite too, whose NUMERIC is a float
    (sums of 0.1s drift); read back as a Decimal. Amounts have at most six places
    (domain/money.py), so the conversion loses nothing."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Any) -> int | None:
        if value is None:
            return None
        millionths = Decimal(value).scaleb(6)
        if millionths != millionths.to_integral_value():
            raise ValueError(f"an amount has over six decimal places: {value}")
        return int(millionths)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(int(value)).scaleb(-6)


AMOUNT = Micros()  # money: exact, to a millionth
NullableJSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
"""JSON whose None is SQL's NULL (not JSON's null), for a column a partial index tests."""


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite would otherwise hand back naive ones."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UNFINISHED_ON_ACCOUNT = "provider_account IS NOT NULL AND status IN ('submitted', 'processing')"

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("task_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("app", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("angle", sa.String(64), nullable=False, default=""),
    sa.Column("params", JSONType, nullable=False),
    sa.Column("inputs", JSONType, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.Integer, nullable=False),
    sa.Column("queue_position", sa.Integer, nullable=True),
    sa.Column("provider_job", JSONType, nullable=True),
    sa.Column("outputs", JSONType, nullable=False),
    sa.Column("cost", JSONType, nullable=True),
    sa.Column("error_message", sa.Text, nullable=False),
    sa.Column("error_kind", sa.String(32), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("callback_token", sa.String(64), nullable=False, server_default=""),
    sa.Column("skipped", JSONType, nullable=False, server_default=sa.text("'[]'")),
    sa.Column("owner", sa.String(32), nullable=False, server_default=""),  # its API key's id
    sa.Column("webhook_url", sa.Text, nullable=False, server_default=""),
    sa.Column("link_base", sa.Text, nullable=False, server_default=""),
    sa.Column("webhook_events", JSONType, nullable=False, server_default=sa.text("'[]'")),
    sa.Column("deadline_s", sa.Float, nullable=True),
    sa.Column("seed", sa.BigInteger, nullable=True),  # null: a row from before seeds
    sa.Column("rerun_of", sa.BigInteger, nullable=True),
    sa.Column("preset", sa.String(64), nullable=False, server_default=""),
    sa.Column("preset_version", sa.Integer, nullable=True),
    sa.Column("parent_task_id", sa.BigInteger, nullable=True),  # its image's task
    sa.Column("parent_task_index", sa.Integer, nullable=True),  # and that task's output
    sa.Column("files_expired_at", UTCDateTime, nullable=True),
    sa.Column("kept_at", UTCDateTime, nullable=True),  # its owner's pick; null: not kept
    sa.Column("batch_id", sa.BigInteger, nullable=True),  # the batch it is a member of
    sa.Column("view", sa.Integer, nullable=True),  # its view in that batch, from 0
    sa.Column("variation", sa.Integer, nullable=True),  # and its variation of that view
    sa.Column("charge_amount", AMOUNT, nullable=True),  # its price at create; null: none
    sa.Column("charge_currency", sa.String(3), nullable=True),
    sa.Column("refunded", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("spent_amount", AMOUNT, nullable=True),  # its cost upstream; null: not known
    sa.Column("spent_currency", sa.String(3), nullable=True),
    sa.Column("spent_estimated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("then_steps", NullableJSON, nullable=True),  # null: none (domain/chains.py)
    sa.Column("provider_account", sa.String(64), nullable=True),  # its pooled key's id
    sa.Index("ix_tasks_created", "created_at", "task_id"),
    sa.Index("ix_tasks_status_created", "status", "created_at"),
    sa.Index("ix_tasks_owner_created", "owner", "created_at", "task_id"),
    sa.Index("ix_tasks_batch", "batch_id"),
    sa.Index("ix_tasks_parent_task_id", "parent_task_id"),  # a task's children
    sa.Index(  # a task's re-runs (GET /tasks?rerun_of=), kept to the few that are re-runs
        "ix_tasks_rerun_of",
        "rerun_of",
        sqlite_where=sa.text("rerun_of IS NOT NULL"),
        postgresql_where=sa.text("rerun_of IS NOT NULL"),
    ),
    sa.Index(  # the chained tasks alone: the reconciler looks for steps left unmade
        "ix_tasks_chained_finished",
        "finished_at",
        sqlite_where=sa.text("then_steps IS NOT NULL"),
        postgresql_where=sa.text("then_steps IS NOT NULL"),
    ),
    sa.Index(  # the unfinished tasks of each pooled key: the submit step counts them
        "ix_tasks_provider_account",
        "provider",
        "provider_account",
        sqlite_where=sa.text(UNFINISHED_ON_ACCOUNT),
        postgresql_where=sa.text(UNFINISHED_ON_ACCOUNT),
    ),
)


workers = sa.Table(
    "workers",
    metadata,
    sa.Column("executor_id", sa.String(128), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("app_version", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # running, stopped, dead
    sa.Column("recovered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),  # the database's clock
)


api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("webhook_secret", sa.String(100), nullable=False),
    sa.Column("previous_webhook_secret", sa.String(100), nullable=False, server_default=""),
    sa.Column("previous_until", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    # its own limits (domain/limits.py); null: the settings' default
    sa.Column("rate_per_minute", sa.Integer, nullable=True),
    sa.Column("max_in_flight", sa.Integer, nullable=True),
    sa.Column("daily_tasks", sa.Integer, nullable=True),
    sa.Column("monthly_budget", AMOUNT, nullable=True),  # null: no budget
    sa.Column("prices", JSONType, nullable=False, server_default=sa.text("'{}'")),  # app: "1.50"
    sa.Column("account_webhook", sa.Text, nullable=False, server_default=""),
)


account_alerts = sa.Table(
    "account_alerts",  # each account event told, once a key and period (usage.budget_low)
    metadata,
    sa.Column("owner", sa.String(32), primary_key=True),
    sa.Column("event", sa.String(32), primary_key=True),
    sa.Column("period", sa.String(16), primary_key=True),  # "2026-12": the budget's month
    sa.Column("created_at", UTCDateTime, nullable=False),
)


idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("owner", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("task_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("holder", sa.String(32), nullable=True),  # the request holding it, until done
    sa.Column("process", sa.String(32), nullable=True),  # the process that request runs in
    sa.Column("lease_until", UTCDateTime, nullable=True),  # renewed while the create runs
)


task_events = sa.Table(
    "task_events",  # each version of a task a client could see (domain/events.py)
    metadata,
    sa.Column("task_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("task", JSONType, nullable=False),  # codec.to_snapshot
    sa.Column("created_at", UTCDateTime, nullable=False),
)


deliveries = sa.Table(
    "deliveries",  # webhooks to clients, each written with the event it reports
    metadata,
    sa.Column("delivery_id", sa.String(40), primary_key=True),
    sa.Column("task_id", sa.BigInteger, nullable=False),
    sa.Column("owner", sa.String(32), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("next_at", UTCDateTime, nullable=True),  # when pending: when to try
    sa.Column("lease_until", UTCDateTime, nullable=True),  # a worker is trying it until then
    sa.Column("body", JSONType, nullable=True),  # a batch's webhook: its whole message
    sa.Index("ix_deliveries_state_next", "state", "next_at"),
    sa.Index("ix_deliveries_task", "task_id", "created_at"),
)


presets = sa.Table(
    "presets",
    metadata,
    sa.Column("owner", sa.String(32), primary_key=True),  # its API key's id; "" in open mode
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("app", sa.String(64), nullable=False),
    sa.Column("params", JSONType, nullable=False),
    sa.Column("reference", JSONType, nullable=True),  # {key, content_type} in the blob store
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("label", sa.String(64), nullable=False, server_default=""),  # "": the name
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime, nullable=True),  # set on every version at DELETE
)


batches = sa.Table(
    "batches",  # several views of one model in one look (domain/batches.py)
    metadata,
    sa.Column("batch_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("owner", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("app", sa.String(64), nullable=False),
    sa.Column("preset", sa.String(64), nullable=False),
    sa.Column("preset_version", sa.Integer, nullable=True),
    sa.Column("params", JSONType, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("variations", sa.Integer, nullable=False),
    sa.Column("angles", JSONType, nullable=False),  # one per view
    sa.Column("then", JSONType, nullable=False),  # the steps after each member
    sa.Column("webhook_url", sa.Text, nullable=False),
    sa.Column("link_base", sa.Text, nullable=False),
    sa.Column("canceled_at", UTCDateTime, nullable=True),
    sa.Column("ended", sa.String(16), nullable=False),  # "" until its end was told
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_batches_owner_created", "owner", "created_at", "batch_id"),
    sa.Index("ix_batches_ended", "ended"),
)


shares = sa.Table(
    "shares",  # read-only links to one batch (domain/shares.py): the token's hash, never it
    metadata,
    sa.Column("share_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("owner", sa.String(32), nullable=False),
    sa.Column("batch_id", sa.BigInteger, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("kept_only", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Index("ix_shares_owner_batch", "owner", "batch_id", "created_at"),
)


usage_daily = sa.Table(
    "usage_daily",  # a key's tasks and money per day (of creation), app, preset, currency
    metadata,
    sa.Column("owner", sa.String(32), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("app", sa.String(64), primary_key=True),
    sa.Column("preset", sa.String(64), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("created", sa.Integer, nullable=False, server_default="0"),
    sa.Column("completed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("canceled", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unknown_cost", sa.Integer, nullable=False, server_default="0"),
    sa.Column("spent", AMOUNT, nullable=False, server_default="0"),
    sa.Column("charged", AMOUNT, nullable=False, server_default="0"),
    sa.Column("refunded", AMOUNT, nullable=False, server_default="0"),
)
