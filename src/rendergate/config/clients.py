"""Settings of what rendergate does for its clients: webhooks to them, and their limits.

Mixed into `Settings` (config/settings.py), which reads them from the same sources; apart only to
keep each module short.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class ClientSettings(BaseModel):
    # Webhooks to clients
    webhook_secret: SecretStr | None = Field(
        None,
        description="The whsec_ secret that signs webhooks of tasks created without an API "
        "key (open mode); with keys, each key's own secret signs its tasks' webhooks.",
    )
    webhook_timeout_s: float = Field(
        10, gt=0, description="A webhook receiver that has not answered in this long fails the try."
    )
    webhook_retry_first_s: float = Field(
        5,
        gt=0,
        description="The wait before a failed webhook is tried again; each later wait is "
        "four times longer, at most 3 hours.",
    )
    webhook_give_up_s: float = Field(
        86400, gt=0, description="A webhook not delivered this long after its event is given up."
    )
    webhook_concurrency: int = Field(
        32, ge=1, description="Webhook tries one worker has in flight at once."
    )

    # Retention
    retention_days: float | None = Field(
        None,
        gt=0,
        description="Finished tasks' inputs and results are removed after this many days "
        "(an app's retention_days overrides it); the task row stays, saying so. Unset: kept.",
    )

    # Limits per API key (0: none)
    rate_limit_per_minute: int = Field(
        0, ge=0, description="Task creates one key may make per minute, in each API process."
    )
    max_in_flight_per_key: int = Field(
        0, ge=0, description="Unfinished tasks one key may have at once."
    )
    daily_tasks_per_key: int = Field(0, ge=0, description="Tasks one key may create per UTC day.")

    # Each key's share of what all keys use at once (the open caller counts as one key)
    max_large_bodies_per_key: int = Field(
        2,
        ge=1,
        description="Of the max_large_bodies, how many one key may be sending at once.",
    )
    max_streams_per_key: int = Field(
        20, ge=1, description="Event streams one key may have open at once, in each API process."
    )
    max_replays_per_key: int = Field(
        10, ge=1, description="Webhook replays of one key waiting to be delivered at once."
    )
