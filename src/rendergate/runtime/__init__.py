"""How rendergate runs: the composition root (bootstrap.py), tasks as DBOS workflows
(dbos_runtime.py, run by dbos_orchestrator.py; dbos_setup.py, step_codec.py,
workflow_rows.py, recovery.py), a worker's
place in the cluster (membership.py, caps.py, pg_wakes.py), the SQLite data lock, the
worker's metrics port and logging. The rest of rendergate sees only the Orchestrator
protocol (services/context.py)."""
