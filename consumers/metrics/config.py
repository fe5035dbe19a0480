"""The monitoring sink's configuration: small frozen records the composition root builds from
its settings, so this package never reads the settings object itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class KafkaAccess:
    """How to reach the cluster: bootstrap servers, the deployment's topic prefix, and the
    security options in kafka-python's spelling (kept out of ``repr``: they hold secrets)."""

    bootstrap_servers: tuple[str, ...]
    topic_prefix: str = ""
    client_config: Mapping[str, object] = field(default_factory=dict, repr=False)

    def topic(self, name: str) -> str:
        """The physical name of a logical topic."""
        return f"{self.topic_prefix}{name}"

    def logical(self, topic: str) -> str:
        """The logical name of a physical topic: the prefix stripped, when it has it."""
        if self.topic_prefix and topic.startswith(self.topic_prefix):
            return topic[len(self.topic_prefix) :]
        return topic


@dataclass(frozen=True)
class FoldConfig:
    """How events are folded into metrics and dashboard state.

    ``wall_clock``: "now" (overdue cases, "today") is the wall clock; when False it is the
    newest event time seen (a replayed or simulated year)."""

    wall_clock: bool = True
    dedupe_horizon: timedelta = timedelta(days=7)
    utc_offset: timedelta = timedelta(hours=8)
    feed_size: int = 50


@dataclass(frozen=True)
class FeedConfig:
    """The consumer loop: where to start, whose lag to measure and how often.

    ``stale_after_s``: readiness fails when no poll has returned for this long (the loop is
    stuck, or the broker has been unreachable since)."""

    kafka: KafkaAccess
    worker_group: str
    from_beginning: bool = True
    lag_interval_s: float = 5.0
    stale_after_s: float = 30.0
