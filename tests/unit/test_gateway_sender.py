"""The gateway's producer options: the SDK's kafka-python spelling, translated for aiokafka."""

from __future__ import annotations

import ssl

from producers.gateway.sender import aiokafka_options


def test_kafka_security_options_reach_aiokafka_in_its_spelling() -> None:
    plain = {"security_protocol": "PLAINTEXT"}
    assert aiokafka_options(plain) == plain
    sasl = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "gateway",
        "sasl_plain_password": "secret",
    }
    out = aiokafka_options(sasl)
    assert {k: out[k] for k in sasl} == sasl
    assert isinstance(out["ssl_context"], ssl.SSLContext)
    assert out["ssl_context"].verify_mode == ssl.CERT_REQUIRED
