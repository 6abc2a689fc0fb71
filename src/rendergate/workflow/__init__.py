"""A task's workflow steps, free of DBOS (runtime/dbos_runtime.py runs them): submit
(submission.py), track (tracking.py), collect (collection.py), run in order by
execution.py, with the values they hand on (outcomes.py) and what they share."""
