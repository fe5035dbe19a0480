"""Publishing lifecycle events: the port the action service uses, a Kafka and an in-memory one."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.errors import PublishError

FAILURE_MEMORY_S = 30.0


class LifecyclePublisher(Protocol):
    def publish(self, topic: str, key: str, value: dict[str, Any]) -> None:
        """Send and wait until the broker has acknowledged (acks=all), or raise PublishError."""

    def ready(self) -> str | None:
        """None when the publisher can reach the broker, else why not (a sentence)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class KafkaPublisherConfig:
    """What the Kafka publisher needs; built from the settings by the composition root."""

    bootstrap_servers: list[str]
    topic_prefix: str = ""
    ack_timeout_s: float = 15.0
    client_config: Mapping[str, Any] = field(default_factory=dict)  # security, TLS
    client_id: str = "fengqiao-inbox"


class KafkaLifecyclePublisher:
    def __init__(self, config: KafkaPublisherConfig) -> None:
        from kafka import KafkaProducer

        self.config = config
        self._producer = KafkaProducer(
            bootstrap_servers=list(config.bootstrap_servers),
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            client_id=config.client_id,
            **dict(config.client_config),
        )
        self._failed_at: float | None = None  # monotonic time of the last unacknowledged send

    def publish(self, topic: str, key: str, value: dict[str, Any]) -> None:
        fut = self._producer.send(
            f"{self.config.topic_prefix}{topic}",
            key=key.encode(),
            value=json.dumps(value, ensure_ascii=False).encode(),
        )
        try:
            fut.get(timeout=self.config.ack_timeout_s)
        except Exception as err:
            self._failed_at = time.monotonic()
            # the class only: the message may quote the event
            raise PublishError(
                f"Kafka did not acknowledge {value.get('id')}: {type(err).__name__}"
            ) from err
        self._failed_at = None

    def ready(self) -> str | None:
        # A failure counts for a while only: with no traffic there is no later success to clear
        # it, and a publisher that stays "not ready" for good would never get traffic again.
        failed = self._failed_at
        if failed is not None and time.monotonic() - failed < FAILURE_MEMORY_S:
            return "the broker did not acknowledge the last lifecycle event"
        if self._connections() == 0:
            return "not connected to the Kafka broker"
        return None

    def _connections(self) -> int | None:
        # kafka-python's metrics are its only public view of the connections; None when absent.
        try:
            groups = self._producer.metrics() or {}
            count = groups.get("producer-metrics", {}).get("connection-count")
        except Exception:  # noqa: BLE001 - an unknown answers "cannot tell", not "down"
            return None
        return None if count is None else int(count)

    def close(self) -> None:
        self._producer.close(timeout=5)


class MemoryPublisher:
    """Keeps what was published; ``fail`` makes the next publishes raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = False

    def publish(self, topic: str, key: str, value: dict[str, Any]) -> None:
        if self.fail:
            raise PublishError("broker unavailable")
        self.sent.append((topic, key, value))

    def ready(self) -> str | None:
        return "broker unavailable" if self.fail else None

    def close(self) -> None:
        pass
