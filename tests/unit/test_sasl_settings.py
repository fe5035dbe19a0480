"""The Kafka security settings: one block builds every client's options, secrets stay
SecretStr (never in a repr, a dump or a log line), and a configuration that cannot work is
refused with one sentence before any client starts."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from fengqiao.cli import app as cli_app
from fengqiao.kafkacheck import KAFKA_COMMANDS, KafkaAuthError, check_credentials
from fengqiao.settings import Settings

SECRET = "s3cret-pass-word-19"


def _secure(**extra: object) -> Settings:
    fields: dict[str, object] = {
        "kafka_bootstrap_servers": "127.0.0.1:9",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "fengqiao",
        "kafka_sasl_password": SECRET,
    }
    return Settings(**(fields | extra))  # type: ignore[arg-type]


def test_secrets_never_show_in_repr_dump_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    s = _secure(kafka_ssl_key_password="key-pass-77")
    for text in (repr(s), str(s), s.model_dump_json(), repr(s.faust_broker_credentials())):
        assert SECRET not in text and "key-pass-77" not in text
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("fengqiao").info("settings: %s", s)
    assert SECRET not in caplog.text


def test_kafka_python_options() -> None:
    cfg = _secure(
        kafka_ssl_cafile=Path("/ca.pem"), kafka_ssl_certfile=Path("/c.pem")
    ).kafka_client_config()
    assert cfg == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "fengqiao",
        "sasl_plain_password": SECRET,
        "ssl_cafile": "/ca.pem",
        "ssl_certfile": "/c.pem",
    }
    assert Settings().kafka_client_config() == {"security_protocol": "PLAINTEXT"}


def test_aiokafka_and_faust_get_a_verifying_tls_context() -> None:
    s = _secure()
    cfg = s.aiokafka_client_config()
    ctx = cfg["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    creds = s.faust_broker_credentials()
    assert creds.mechanism.value == "SCRAM-SHA-512" and creds.protocol.value == "SASL_SSL"
    assert creds.password == SECRET
    assert Settings().faust_broker_credentials() is None
    assert Settings().aiokafka_client_config() == {"security_protocol": "PLAINTEXT"}


def test_unknown_protocol_or_mechanism_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as err:
        Settings(kafka_security_protocol="SASL_TLS")
    assert "kafka_security_protocol" in str(err.value)
    with pytest.raises(ValidationError) as err:
        Settings(kafka_sasl_mechanism="SCRAM-SHA-1")
    assert "kafka_sasl_mechanism" in str(err.value)


def test_min_insync_replicas_follows_replication() -> None:
    assert Settings(topic_replication=3).effective_min_insync_replicas() == 2
    assert Settings(topic_replication=1).effective_min_insync_replicas() == 1
    assert (
        Settings(topic_replication=5, topic_min_insync_replicas=3).effective_min_insync_replicas()
        == 3
    )


def test_missing_files_and_credentials_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(KafkaAuthError, match="FENGQIAO_KAFKA_SSL_CAFILE names no readable file"):
        check_credentials(_secure(kafka_ssl_cafile=tmp_path / "nope.pem"))
    with pytest.raises(KafkaAuthError, match="FENGQIAO_KAFKA_SASL_PASSWORD is unset"):
        check_credentials(_secure(kafka_sasl_password=None))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(KafkaAuthError, match="could not be loaded") as err:
        check_credentials(_secure(kafka_ssl_certfile=bad))
    assert SECRET not in str(err.value)
    check_credentials(Settings())  # PLAINTEXT: nothing to check, no connection made


def test_every_long_running_component_is_checked() -> None:
    commands = {c.name for c in cli_app.registered_commands}
    for component in ("worker", "sink", "api", "gateway", "metrics"):
        assert component in commands and component in KAFKA_COMMANDS
