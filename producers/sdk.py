"""The publisher SDK: validate, then send to the right intake topic, idempotently (acks=all).

with Publisher(PublisherConfig(bootstrap=("127.0.0.1:9092",))) as pub:
    event_id = pub.publish("dispute", envelope_dict)

``fengqiao`` builds the config from its settings (``Settings.publisher_config()``); anything
with such a method may be passed instead of the config itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from schemas.errors import ContractError, FieldProblem, PublishError
from schemas.events import INTAKE_KINDS, INTAKE_TYPES
from schemas.parse import ParsedEvent, parse_event
from schemas.reference.keys import org_key


@dataclass(frozen=True)
class PublisherConfig:
    """Where and how to reach Kafka; built by ``fengqiao`` from its settings."""

    bootstrap: tuple[str, ...]
    topic_prefix: str = ""
    # Security options in kafka-python's (and aiokafka's) spelling: security_protocol, sasl_*.
    client_options: Mapping[str, object] = field(default_factory=dict)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


class HasPublisherConfig(Protocol):
    def publisher_config(self) -> PublisherConfig: ...


def as_publisher_config(config: PublisherConfig | HasPublisherConfig) -> PublisherConfig:
    return config if isinstance(config, PublisherConfig) else config.publisher_config()


def intake_key(parsed: ParsedEvent) -> str:
    """The partition key: wage arrears by employer, everything else by street."""
    data = parsed.payload
    if parsed.type == "wage_arrears.reported.v1":
        emp = data.employer  # type: ignore[attr-defined]
        return org_key(emp.name, emp.credit_code) or "unknown"
    return getattr(data, "street", None) or "unknown"


def intake_topic(config: PublisherConfig, parsed: ParsedEvent) -> str:
    """The (prefixed) intake topic an event of this type goes to."""
    return config.topic(INTAKE_KINDS[kind_for_type(parsed.type)][1])


def kind_for_type(type_: str) -> str:
    for kind, (t, _topic) in INTAKE_KINDS.items():
        if t == type_:
            return kind
    raise KeyError(type_)


_TIME_NOT_A_NUMBER = (
    "must be a date-time string with a timezone (RFC 3339, e.g. 2026-01-05T09:30:00+08:00), "
    "not a number"
)
_NUL = "must not contain the NUL character (U+0000)"


def _nul_paths(value: object, path: str, out: list[FieldProblem]) -> None:
    """Every string (or key) holding U+0000: PostgreSQL's text cannot store it, so it is refused."""
    if isinstance(value, str):
        if "\x00" in value:
            out.append(FieldProblem(path, _NUL))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and "\x00" in k:
                out.append(FieldProblem(path, "a field name " + _NUL.removeprefix("must ")))
                continue
            _nul_paths(v, sub, out)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _nul_paths(v, f"{path}[{i}]", out)


def validate(event: object, kind: str | None = None, now: datetime | None = None) -> ParsedEvent:
    """Raise ContractError listing every invalid field, or return the parsed event.

    Stricter than the wire parser in two ways every intake door shares: ``time`` must be a
    string (a bare number would be read as Unix seconds, silently), and no string may hold
    U+0000.
    """
    if not isinstance(event, Mapping):
        raise ContractError([FieldProblem("", "event must be a JSON object")])
    extra: list[FieldProblem] = []
    if isinstance(event.get("time"), int | float):  # bool is an int too
        extra.append(FieldProblem("time", _TIME_NOT_A_NUMBER))
    _nul_paths(event, "", extra)
    try:
        parsed = parse_event(
            dict(event), now=now or datetime.now(UTC), allowed_types=dict(INTAKE_TYPES)
        )
    except ContractError as err:
        seen = {p.path for p in extra}
        raise ContractError(extra + [p for p in err.problems if p.path not in seen]) from err
    if extra:
        raise ContractError(extra)
    if kind is not None and INTAKE_KINDS[kind][0] != parsed.type:
        raise ContractError(
            [FieldProblem("type", f"a {kind} event must have type {INTAKE_KINDS[kind][0]}")]
        )
    return parsed


class Publisher:
    """Idempotent kafka-python producer for intake events."""

    def __init__(
        self,
        config: PublisherConfig | HasPublisherConfig,
        *,
        linger_ms: int = 5,
        client_id: str = "fengqiao-sdk",
        **producer_config: Any,
    ) -> None:
        from kafka import KafkaProducer

        self.config = as_publisher_config(config)
        self._producer = KafkaProducer(
            bootstrap_servers=list(self.config.bootstrap),
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            client_id=client_id,
            **self.config.client_options,
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
        topic = intake_topic(self.config, parsed)
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
        return self._producer.send(self.config.topic(topic), key=key, value=value)

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
