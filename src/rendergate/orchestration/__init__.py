"""Durable execution of tasks. The rest of rendergate sees only the Orchestrator protocol."""
