"""GET /usage over a year of tasks on PostgreSQL: the usage rollup (usage_daily) against the
same question asked of the tasks table by GROUP BY, in the same run.

    python bench/usage.py [--tasks 1000000] [--keys 100] [--runs 7]

Starts a throwaway PostgreSQL (scripts/pg-start.sh), migrates a fresh database and inserts
`tasks` task rows made over 2026, half of them one busy key's (5 apps x 3 presets, every
day), the rest spread over the other keys (2 apps, no preset); a twentieth failed and
refunded, a fiftieth canceled, the others completed at 0.17 upstream, each charged 2.00.
Then it fills usage_daily from those tasks, as the store's writes would have counted them,
and ANALYZEs. Timed (median of `runs`, after one warm-up): the busy key's year grouped by
app and by day, through the code GET /usage runs (services/usage.py on
store/usage_reads.py), and the same GROUP BY over the tasks with their (owner, created_at)
index. The two answers are compared: they must agree to the cent. The target is under
200 ms for the rollup.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from _children import BenchError, machine_info, run_bench
from cluster import fresh_database, postgres
from rendergate.services.usage import UsageReport, read_usage
from rendergate.store.sql import create_engine, migrate
from rendergate.store.usage_reads import SqlUsage

BUSY = "b" * 32  # the busy key's id
YEAR = (date(2026, 1, 1), date(2026, 12, 31))
FILL_TASKS = """
INSERT INTO tasks (task_id, app, provider, angle, params, inputs, status, progress, outputs,
    error_message, error_kind, attempts, owner, preset, charge_amount, charge_currency,
    refunded, spent_amount, spent_currency, version, created_at, updated_at)
SELECT 1099511627776 + i, app, 'runninghub', '', '{}', '{}', status, 100, '[]', '', '', 1,
    owner, preset, 2000000, 'CNY', status = 'failed',
    CASE WHEN status = 'completed' THEN 170000 ELSE 0 END, 'CNY', 1, at, at
FROM (
    SELECT i,
        CASE WHEN i % 2 = 0 THEN :busy ELSE 'key' || lpad((i % (:keys - 1))::text, 29, '0') END
            AS owner,
        CASE WHEN i % 2 = 0 THEN 'app' || (i / 2 % 5) ELSE 'app' || (i / 2 % 2) END AS app,
        CASE WHEN i % 2 = 0 THEN 'look' || (i / 10 % 3) ELSE '' END AS preset,
        CASE WHEN i % 20 = 1 THEN 'failed' WHEN i % 50 = 3 THEN 'canceled'
            ELSE 'completed' END AS status,
        timestamptz '2026-01-01 00:00:00+00' + (i % 365) * interval '1 day'
            + (i % 86400) * interval '1 second' AS at
    FROM generate_series(1, :tasks) AS i
) AS made
"""
FILL_ROLLUP = """
INSERT INTO usage_daily (owner, day, app, preset, currency, created, completed, failed,
    canceled, unknown_cost, spent, charged, refunded)
SELECT owner, (created_at AT TIME ZONE 'UTC')::date, app, preset, 'CNY', count(*),
    count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
    count(*) FILTER (WHERE status = 'canceled'), count(*) FILTER (WHERE spent_amount IS NULL),
    coalesce(sum(spent_amount), 0), coalesce(sum(charge_amount), 0),
    coalesce(sum(charge_amount) FILTER (WHERE refunded), 0)
FROM tasks GROUP BY 1, 2, 3, 4
"""
OVER_TASKS = """
SELECT {group} AS grp, count(*) AS created,
    count(*) FILTER (WHERE status = 'completed') AS completed,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    count(*) FILTER (WHERE status = 'canceled') AS canceled,
    count(*) FILTER (WHERE status IN ('completed', 'failed', 'canceled')
        AND spent_amount IS NULL) AS unknown_cost,
    coalesce(sum(spent_amount), 0) AS spent, coalesce(sum(charge_amount), 0) AS charged,
    coalesce(sum(charge_amount) FILTER (WHERE refunded), 0) AS refunded
FROM tasks
WHERE owner = :owner AND created_at >= :since AND created_at < :until + interval '1 day'
GROUP BY 1 ORDER BY 1
"""
GROUPS = {"app": "app", "day": "((created_at AT TIME ZONE 'UTC')::date)::text"}


async def fill(engine: AsyncEngine, tasks: int, keys: int) -> tuple[float, int]:
    """Seconds to insert the tasks and fill the rollup; how many rollup rows it holds."""
    started = time.perf_counter()
    async with engine.begin() as connection:
        params = {"busy": BUSY, "keys": keys, "tasks": tasks}
        await connection.execute(sa.text(FILL_TASKS), params)
        await connection.execute(sa.text(FILL_ROLLUP))
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(sa.text("ANALYZE tasks"))
        await connection.execute(sa.text("ANALYZE usage_daily"))
        rows = (await connection.execute(sa.text("SELECT count(*) FROM usage_daily"))).scalar()
    return time.perf_counter() - started, int(rows or 0)


async def timed(ask: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, Any]:
    """The median of `runs` answers' milliseconds, after a warm-up; and the last answer."""
    answer = await ask()
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = await ask()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took), answer


def rollup(engine: AsyncEngine, group: str) -> Callable[[], Awaitable[UsageReport]]:
    usage = SqlUsage(engine)
    return lambda: read_usage(usage, owner=BUSY, by=(group,), days=YEAR, currency="CNY")


def over_tasks(engine: AsyncEngine, group: str) -> Callable[[], Awaitable[list[Any]]]:
    query = sa.text(OVER_TASKS.format(group=GROUPS[group]))
    params = {"owner": BUSY, "since": YEAR[0], "until": YEAR[1]}

    async def ask() -> list[Any]:
        async with engine.connect() as connection:
            return list(await connection.execute(query, params))

    return ask


def check_same(report: UsageReport, rows: list[Any], group: str) -> None:
    """The rollup's groups are the tasks' own sums, count for count and to the cent."""
    figures = ("tasks", "completed", "failed", "canceled", "unknown_cost")
    amounts = ("spent", "charged", "refunded")
    ours = [
        (line.group[group], *(getattr(line, name) for name in figures + amounts))
        for line in report.lines
    ]
    theirs = [  # amounts are stored in whole millionths (store/tables.py Micros)
        (str(row[0]), *row[1:6], *(Decimal(row[n]).scaleb(-6) for n in (6, 7, 8))) for row in rows
    ]
    if ours != theirs:
        raise BenchError(
            f"the rollup and the tasks disagree by {group}: {ours[:2]} vs {theirs[:2]}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(machine_info(f", {args.tasks:,} tasks, {args.keys} keys, median of {args.runs}"))
    with postgres() as (server, _):
        engine = create_engine(fresh_database(server, "bench_usage"))
        try:
            await migrate(engine)
            seconds, rows = await fill(engine, args.tasks, args.keys)
            print(f"filled in {seconds:.1f} s: {args.tasks:,} tasks, {rows:,} usage_daily rows")
            for group in ("app", "day"):
                fast, report = await timed(rollup(engine, group), args.runs)
                slow, answer = await timed(over_tasks(engine, group), args.runs)
                check_same(report, answer, group)
                print(
                    f"busy key's year by {group:3} ({len(report.lines):3} groups, "
                    f"{report.totals[0].tasks:,} tasks): rollup {fast:7.1f} ms, "
                    f"GROUP BY over tasks {slow:7.1f} ms, {slow / fast:5.1f}x"
                )
        finally:
            await engine.dispose()


if __name__ == "__main__":
    run_bench(main)
