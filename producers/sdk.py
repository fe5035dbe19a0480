"""The publisher SDK: validate, then send to the right intake topic, idempotently (acks=all).

with Publisher(settings) as pub:
    event_id = pub.publish("dispute", envelope_dict)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.errors import FengqiaoError
from schemas.events import INTAKE_KINDS, INTAKE_TYPES
from schemas.parse import ParsedEvent, parse_event
from schemas.reference.keys import org_key


class PublishError(FengqiaoError):
    """Kafka did not accept the event."""


def intake_key(parsed: ParsedEvent) -> str:
    """The partition key: wage arrears by employer, everything else by street."""
    data = parsed.payload
    if parsed.type == "wage_arrears.reported.v1":
        emp = data.employer  # type: ignore[attr-defined]
        return org_key(emp.name, emp.credit_code) or "unknown"
    return getattr(data, "street", None) or "unknown"


def kind_for_type(type_: str) -> str:
    for kind, (t, _topic) in INTAKE_KINDS.items():
        if t == type_:
            return kind
    raise KeyError(type_)


def validate(
    event: Mapping[str, Any], kind: str | None = None, now: datetime | None = None
) -> ParsedEvent:
    """Raise ContractError listing every invalid field, or return the parsed event."""
    from schemas.errors import ContractError, FieldProblem

    parsed = parse_event(
        dict(event), now=now or datetime.now(UTC), allowed_types=dict(INTAKE_TYPES)
    )
    if kind is not None and INTAKE_KINDS[kind][0] != parsed.type:
        raise ContractError(
            [FieldProblem("type", f"a {kind} event must have type {INTAKE_KINDS[kind][0]}")]
        )
    return parsed


class Publisher:
    """Idempotent kafka-python producer for intake events."""

    def __init__(
        self,
        settings: Any,
        *,
        linger_ms: int = 5,
        client_id: str = "fengqiao-sdk",
        **producer_config: Any,
    ) -> None:
        from kafka import KafkaProducer

        self.settings = settings
        self._producer = KafkaProducer(
            bootstrap_servers=settings.resolved_bootstrap().split(","),
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            client_id=client_id,
            **settings.kafka_client_config(),
            **producer_config,
        )

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, event: Mapping[str, Any], kind: str | None = None) -> tuple[str, Any]:
        """Validate and send without waiting; returns (event id, future)."""
        return self.send_parsed(validate(event, kind))

    def send_parsed(self, parsed: ParsedEvent) -> tuple[str, Any]:
        """Send an event that already passed ``validate``; returns (event id, future)."""
        topic = self.settings.topic(INTAKE_KINDS[kind_for_type(parsed.type)][1])
        fut = self._producer.send(topic, key=intake_key(parsed).encode(), value=parsed.to_bytes())
        return parsed.envelope.id, fut

    def publish(
        self,
        kind_or_event: str | Mapping[str, Any],
        event: Mapping[str, Any] | None = None,
        timeout_s: float = 30.0,
    ) -> str:
        """Validate, send, and wait for the broker's acknowledgement; returns the event id."""
        if isinstance(kind_or_event, str):
            kind, ev = kind_or_event, event
        else:
            kind, ev = None, kind_or_event
        assert ev is not None
        event_id, fut = self.send(ev, kind)
        try:
            fut.get(timeout=timeout_s)
        except Exception as err:
            raise PublishError(f"Kafka did not acknowledge event {event_id}: {err}") from err
        return event_id

    def send_raw(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        """Send bytes as they are (for tests and replays of dead letters)."""
        return self._producer.send(self.settings.topic(topic), key=key, value=value)

    def flush(self, timeout_s: float | None = None) -> None:
        self._producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Flush what is pending, then close; ``timeout_s`` bounds both when Kafka is gone."""
        try:
            self._producer.flush(timeout=timeout_s)
        finally:
            self._producer.close(timeout=timeout_s)


def now_iso(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).isoformat()
