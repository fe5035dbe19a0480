"""The HTTP ingest gateway: integrations POST events, the gateway validates and writes to Kafka.

Answers 202 with the event id only after the broker acknowledged the write (acks=all), so a
202 means the event cannot vanish. 400 for a body that is empty or not UTF-8, 401 without a
valid key, 403 when the event's source is not the key's, 413 above the size limit, 422 with
field paths (never values), 503 with Retry-After while Kafka is unreachable. An
``Idempotency-Key`` (else the envelope id) accepted before is answered with the first event id
and not written again. A UTF-8 byte order mark before the JSON is ignored; U+0000 inside any
string (``summary`` included) is refused with 422 naming the field, since the case store
cannot keep it; nesting deeper than 32 levels is refused before parsing.
"""

from producers.gateway.app import create_app
from producers.gateway.config import GatewayConfig
from producers.gateway.sender import KafkaSender, KafkaUnavailable, MemorySender

__all__ = ["GatewayConfig", "KafkaSender", "KafkaUnavailable", "MemorySender", "create_app"]
