"""The gateway's own configuration: a frozen value that ``fengqiao`` builds from its settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from producers.sdk import PublisherConfig


@dataclass(frozen=True)
class GatewayConfig:
    publisher: PublisherConfig
    db_url: str
    max_body_bytes: int = 1_000_000
    max_batch: int = 500
    # Events are four levels deep; 32 leaves room for unknown fields kept as they are, and
    # stops a hostile body long before the JSON parser or pydantic would recurse too deep.
    max_depth: int = 32
    kafka_timeout_s: float = 5.0
    retry_after_s: int = 5
    # Past the worker's dedupe horizon a replayed id is a new event anyway.
    idempotency_horizon: timedelta = timedelta(days=7)
    # No linger: clients wait for each 202, so their rate is clients / latency and a linger
    # adds to every request; what arrives while a produce request is in flight still goes
    # out together in the next one.
    linger_ms: int = 0
