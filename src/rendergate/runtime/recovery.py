"""Resuming another executor's workflows: the one place rendergate calls private DBOS API.

Open-source DBOS recovers only a process's own executor id, at launch. A worker that dies
for good leaves its workflows PENDING forever, holding their queue's slots. DBOS has the
recovery itself, under a private name: `DBOS._recover_pending_workflows(ids)` puts each
PENDING workflow of those executors back on its own queue (ENQUEUED, guarded by executor
id, so a live owner's workflows are never taken), where any worker claims it under the
queue's caps. It sees only workflows of this application version.
`tests/integration/test_cluster.py` pins that behaviour on the installed DBOS.
"""

from __future__ import annotations

import asyncio

from dbos import DBOS

from rendergate import __version__


async def recover(executor_ids: list[str]) -> int:
    """Re-enqueues the PENDING workflows of these executors; returns how many."""
    if not executor_ids:
        return 0
    handles = await asyncio.to_thread(DBOS._recover_pending_workflows, list(executor_ids))
    return len(handles)


async def pending_executors() -> set[str]:
    """The executors that hold PENDING workflows of this version (registered or not: an
    older rendergate ran as "local")."""
    pending = await DBOS.list_workflows_async(
        status="PENDING", app_version=__version__, load_input=False, load_output=False
    )
    return {status.executor_id for status in pending if status.executor_id}
