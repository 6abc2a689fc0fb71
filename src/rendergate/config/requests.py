"""Settings of what one request may take: time (slow clients), connections, and the size
of its inputs.

Mixed into `Settings` (config/settings.py), which reads them from the same sources and
checks every number is within reach; apart to keep each module short.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from rendergate.config.values import CommaList


class RequestLimits(BaseModel):
    # Slow clients
    header_timeout_s: float = Field(
        10,
        gt=0,
        description="A connection whose request headers are not all in this long after it "
        "opens (or after its previous response) is closed.",
    )
    keep_alive_s: int = Field(
        5, ge=1, description="An idle keep-alive connection is closed after this long."
    )
    body_idle_timeout_s: float = Field(
        30,
        gt=0,
        description="A request body that sends nothing for this long is answered 408 and "
        "its connection closed.",
    )
    body_timeout_s: float = Field(
        300,
        gt=0,
        description="A request body not all in this long after the app starts reading it "
        "is answered 408 and its connection closed.",
    )
    body_min_bytes_per_s: int = Field(
        16384,
        ge=0,
        description="A request body arriving slower than this on average, once it has been "
        "read for body_rate_grace_s, is answered 408 and its connection closed; 0: no floor.",
    )
    body_rate_grace_s: float = Field(
        10, gt=0, description="How long a request body may arrive slowly before its floor applies."
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Open connections (or requests in progress) at which a new request is "
        "answered 503; /healthz and /metrics are served past it, a few at a time.",
    )

    # Input limits
    max_upload_mb: float = Field(30, gt=0, description="Largest accepted input file, in MB.")
    max_image_pixels: int = Field(
        40_000_000, gt=0, description="Largest accepted input, in pixels (decompression bombs)."
    )
    max_large_bodies: int = Field(
        4,
        ge=1,
        description="Request bodies over 1 MB read at once; more are answered 503 with "
        "Retry-After (each holds up to a few times its size in memory while it is checked).",
    )
    fetch_allow: CommaList = Field(
        default_factory=list,
        description="Hosts or CIDRs that image and webhook URLs may point at though they are "
        "loopback, private or link-local (JSON list or comma-separated).",
    )
    fetch_timeout_s: float = Field(20, gt=0, description="Time limit for fetching an image URL.")
