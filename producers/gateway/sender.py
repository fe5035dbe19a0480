"""Where accepted events go: the port, Kafka behind it (aiokafka, acks=all), and memory for tests.

``send`` returns only once the broker acknowledged every event, so a 202 still means the
event cannot vanish; concurrent requests share the producer's batches instead of each waiting
for a produce request of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from producers.sdk import PublisherConfig, intake_key, intake_topic
from schemas.errors import FengqiaoError
from schemas.events import INTAKE_KINDS
from schemas.parse import ParsedEvent

log = logging.getLogger("fengqiao.gateway")


class KafkaUnavailable(FengqiaoError):
    """Kafka could not be reached or did not acknowledge in time."""


class EventSender(Protocol):
    async def start(self) -> None: ...

    async def send(self, events: list[ParsedEvent]) -> None:
        """Return once every event is acknowledged, or raise KafkaUnavailable."""
        ...

    async def not_ready(self) -> str | None:
        """None when events can be written now, else one sentence saying why not."""
        ...

    async def close(self) -> None: ...


class MemorySender:
    """Keeps what was sent, per topic, in order; ``down`` makes it refuse like a lost broker."""

    def __init__(self, config: PublisherConfig | None = None) -> None:
        self.config = config or PublisherConfig(bootstrap=())
        self.sent: dict[str, list[tuple[bytes, bytes]]] = {}
        self.down = False

    async def start(self) -> None:
        return None

    async def send(self, events: list[ParsedEvent]) -> None:
        if self.down:
            raise KafkaUnavailable("the in-memory broker is down")
        for p in events:
            self.sent.setdefault(intake_topic(self.config, p), []).append(
                (intake_key(p).encode(), p.to_bytes())
            )

    async def not_ready(self) -> str | None:
        return "the in-memory broker is down" if self.down else None

    async def close(self) -> None:
        return None


class KafkaSender:
    """One idempotent aiokafka producer, connected in the background and again after failures.

    While a connection attempt has failed moments ago, requests fail fast with 503 instead of
    each waiting out the timeout.
    """

    def __init__(
        self, config: PublisherConfig, timeout_s: float, retry_after_s: float, linger_ms: int = 0
    ) -> None:
        self.config = config
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.linger_ms = linger_ms
        self._producer: Any = None  # an AIOKafkaProducer once connected
        self._lock: asyncio.Lock | None = None
        self._down_until = 0.0
        self._last_error = ""

    async def start(self) -> None:
        """Try to connect now (at startup) so the first request does not pay for it."""
        try:
            await self._connected()
        except KafkaUnavailable as err:
            log.warning("Kafka not reachable at startup: %s", err)

    async def _connected(self) -> Any:
        if self._producer is not None:
            return self._producer
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._producer is not None:
                return self._producer
            if time.monotonic() < self._down_until:
                raise KafkaUnavailable(f"Kafka was unreachable moments ago ({self._last_error})")
            from aiokafka import AIOKafkaProducer

            t_ms = int(self.timeout_s * 1000)
            producer = AIOKafkaProducer(
                bootstrap_servers=list(self.config.bootstrap),
                client_id="fengqiao-gateway",
                acks="all",
                enable_idempotence=True,
                linger_ms=self.linger_ms,
                request_timeout_ms=t_ms,
                **aiokafka_options(self.config.client_options),
            )
            try:
                await asyncio.wait_for(producer.start(), self.timeout_s)
                # Learn the intake topics' partitions now rather than inside a request.
                for _type, topic in INTAKE_KINDS.values():
                    await asyncio.wait_for(
                        producer.partitions_for(self.config.topic(topic)), self.timeout_s
                    )
            except Exception as err:
                self._down_until = time.monotonic() + self.retry_after_s
                self._last_error = type(err).__name__
                await _stop_quietly(producer)
                raise KafkaUnavailable(f"cannot reach Kafka: {type(err).__name__}") from err
            self._producer = producer
            return producer

    async def send(self, events: list[ParsedEvent]) -> None:
        producer = await self._connected()
        try:
            async with asyncio.timeout(self.timeout_s + 1):
                acks = [
                    await producer.send(
                        intake_topic(self.config, p), value=p.to_bytes(), key=intake_key(p).encode()
                    )
                    for p in events
                ]
                await asyncio.gather(*acks)
        except Exception as err:
            self._last_error = type(err).__name__
            raise KafkaUnavailable(f"Kafka did not acknowledge: {type(err).__name__}") from err

    async def not_ready(self) -> str | None:
        try:
            producer = await self._connected()
        except KafkaUnavailable as err:
            return f"Kafka is not reachable: {err}."
        try:
            ok = await asyncio.wait_for(producer.client.force_metadata_update(), self.timeout_s)
        except Exception as err:
            return f"Kafka did not answer a metadata request: {type(err).__name__}."
        return None if ok else "Kafka did not answer a metadata request."

    async def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await _stop_quietly(producer, self.timeout_s)


_SSL_FILES = {"ssl_cafile": "cafile", "ssl_certfile": "certfile", "ssl_keyfile": "keyfile"}


def aiokafka_options(options: Mapping[str, object]) -> dict[str, object]:
    """kafka-python's client options in aiokafka's spelling: TLS files become an SSL context.

    Security protocol and SASL options are spelt alike; aiokafka takes TLS as one
    ``ssl.SSLContext`` instead of file names.
    """
    out = {k: v for k, v in options.items() if not k.startswith("ssl_")}
    files = {_SSL_FILES[k]: v for k, v in options.items() if k in _SSL_FILES and v}
    protocol = str(options.get("security_protocol", "PLAINTEXT"))
    if files or protocol.endswith("SSL"):
        from aiokafka.helpers import create_ssl_context

        password = options.get("ssl_password")
        out["ssl_context"] = create_ssl_context(**files, password=password)
    return out


async def _stop_quietly(producer: Any, timeout_s: float = 5.0) -> None:
    try:
        await asyncio.wait_for(producer.stop(), timeout_s)
    except Exception:  # a producer that never connected may fail to stop; nothing to flush
        log.debug("stopping the Kafka producer failed", exc_info=True)
