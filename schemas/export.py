"""Machine-readable contracts: a JSON Schema per event type and an AsyncAPI 3.0 document.

Both are generated from the pydantic models, so they cannot drift from what the gate accepts.
The HTTP gateway reuses ``typed_envelope`` to describe its request bodies in OpenAPI.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import models_json_schema

from schemas.envelope import Envelope
from schemas.events import ALL_TYPES, INTAKE_TYPES
from schemas.topics import TOPICS

ASYNCAPI_VERSION = "3.0.0"
CONTRACT_VERSION = "1.0.0"


def model_name(type_: str) -> str:
    """``dispute.reported.v1`` -> ``DisputeReportedEvent`` (the typed envelope's name)."""
    return ALL_TYPES[type_].__name__ + "Event"


@cache
def typed_envelope(type_: str) -> type[BaseModel]:
    """The envelope with ``type`` fixed and ``data`` typed: one event type's full shape."""
    payload = ALL_TYPES[type_]
    doc = (payload.__doc__ or "").strip() or f"A {type_} event."
    return create_model(
        model_name(type_),
        __base__=Envelope,
        __doc__=f"{doc} Envelope shaped after CloudEvents 1.0; unknown fields are kept.",
        type=(Literal[type_], Field(description="The event type.")),  # type: ignore[arg-type]
        data=(payload, Field(description=f"The {type_} payload.")),
    )


def json_schema(type_: str) -> dict[str, Any]:
    """A standalone JSON Schema (2020-12) for one event type, envelope included."""
    schema = typed_envelope(type_).model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://fengqiao.example/schemas/{type_}.json",
        **schema,
    }


def component_schemas(
    types: list[str], ref_template: str = "#/components/schemas/{model}"
) -> dict[str, Any]:
    """Schemas of the given typed envelopes and everything they reference, for components."""
    models = [(typed_envelope(t), "validation") for t in types]
    _, defs = models_json_schema(models, ref_template=ref_template)  # type: ignore[arg-type]
    return dict(defs.get("$defs", {}))


def _channel_id(topic: str) -> str:
    return topic.replace(".", "-")


def asyncapi(topic_prefix: str = "", bootstrap: str = "127.0.0.1:9092") -> dict[str, Any]:
    """An AsyncAPI 3.0 document: every topic as a channel with its key and messages."""
    types = sorted(ALL_TYPES)
    messages: dict[str, Any] = {}
    for t in types:
        model = ALL_TYPES[t]
        messages[t] = {
            "name": t,
            "title": model.__name__,
            "summary": (model.__doc__ or t).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{model_name(t)}"},
        }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in TOPICS:
        cid = _channel_id(spec.name)
        topic_config: dict[str, Any] = {"cleanup.policy": [spec.cleanup_policy]}
        if spec.cleanup_policy == "delete":
            topic_config["retention.ms"] = spec.retention_ms
        channel_messages = {}
        for t in spec.messages:
            channel_messages[t] = {"$ref": f"#/components/messages/{t}"}
            messages[t].setdefault(
                "bindings",
                {
                    "kafka": {
                        "key": {"type": "string", "description": spec.key},
                        "bindingVersion": "0.5.0",
                    }
                },
            )
        channels[cid] = {
            "address": f"{topic_prefix}{spec.name}",
            "title": spec.name,
            "description": f"{spec.description}. Key: {spec.key}.",
            "messages": channel_messages,
            "bindings": {
                "kafka": {
                    "topic": f"{topic_prefix}{spec.name}",
                    "topicConfiguration": topic_config,
                    "bindingVersion": "0.5.0",
                }
            },
        }
        intake = spec.name.startswith("intake.") and spec.name != "intake.deadletter"
        operations[f"{'publish' if intake else 'consume'}-{cid}"] = {
            "action": "send" if intake else "receive",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": (
                f"Integrations publish to {spec.name}" if intake else f"Readers consume {spec.name}"
            ),
            "messages": [{"$ref": f"#/channels/{cid}/messages/{t}"} for t in spec.messages],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Fengqiao events",
            "version": CONTRACT_VERSION,
            "description": (
                "Every topic of the Fengqiao dispute-resolution platform, its key and its "
                "messages. Each message is a JSON envelope shaped after CloudEvents 1.0 "
                "(id, source, type, time, subject, data); unknown fields are kept."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": bootstrap, "protocol": "kafka"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": component_schemas(types)},
    }


def intake_types() -> list[str]:
    return sorted(INTAKE_TYPES)
