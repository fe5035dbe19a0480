"""Publishing lifecycle events: the port the inbox API uses, a Kafka and an in-memory one."""

from __future__ import annotations

import json
from typing import Any, Protocol

from fengqiao.settings import Settings
from schemas.errors import FengqiaoError


class PublishFailed(FengqiaoError):
    """The broker did not acknowledge a lifecycle event."""


class LifecyclePublisher(Protocol):
    def publish(self, topic: str, key: str, value: dict[str, Any]) -> None:
        """Send and wait until the broker has acknowledged (acks=all), or raise PublishFailed."""

    def close(self) -> None: ...


class KafkaLifecyclePublisher:
    def __init__(self, settings: Settings) -> None:
        from kafka import KafkaProducer

        self.settings = settings
        self._producer = KafkaProducer(
            bootstrap_servers=settings.resolved_bootstrap().split(","),
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            client_id="fengqiao-inbox",
            **settings.kafka_client_config(),
        )

    def publish(self, topic: str, key: str, value: dict[str, Any]) -> None:
        fut = self._producer.send(
            self.settings.topic(topic),
            key=key.encode(),
            value=json.dumps(value, ensure_ascii=False).encode(),
        )
        try:
            fut.get(timeout=self.settings.api_publish_timeout_s)
        except Exception as err:
            raise PublishFailed(f"Kafka did not acknowledge {value.get('id')}: {err}") from err

    def close(self) -> None:
        self._producer.close(timeout=5)


class MemoryPublisher:
    """Keeps what was published; ``fail`` makes the next publishes raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = False

    def publish(self, topic: str, key: str, value: dict[str, Any]) -> None:
        if self.fail:
            raise PublishFailed("broker unavailable")
        self.sent.append((topic, key, value))

    def close(self) -> None:
        pass
