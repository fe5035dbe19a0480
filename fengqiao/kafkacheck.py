"""One connection to Kafka before a component starts, so that wrong credentials or a wrong CA
end the process with one sentence naming the setting to fix. Left to themselves the clients
retry a refused login forever (kafka-python logs each attempt, then times out with "Unable to
bootstrap"; faust restarts its consumer), which hides the cause in a storm of log lines."""

from __future__ import annotations

import asyncio
import ssl

from fengqiao.settings import Settings
from schemas.errors import FengqiaoError

# the commands that connect to Kafka (``up`` starts its own plaintext broker)
KAFKA_COMMANDS = frozenset(
    {
        "worker", "sink", "api", "gateway", "metrics", "workbench", "feed", "publish",
        "simulate", "topics", "report", "risk", "replay", "bench", "bench-publish", "import",
    }
)  # fmt: skip


class KafkaAuthError(FengqiaoError):
    """Kafka refused the configured TLS or SASL settings."""


def _sentence(s: Settings, err: BaseException) -> str | None:
    """The one sentence for a configuration error, or None for a passing fault (a broker
    still starting is the clients' own business: they retry)."""
    from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError

    if isinstance(err, SaslAuthenticationFailed):
        return (
            f"Kafka refused the {s.kafka_sasl_mechanism or 'PLAIN'} login: check "
            "FENGQIAO_KAFKA_SASL_USERNAME and FENGQIAO_KAFKA_SASL_PASSWORD."
        )
    if isinstance(err, UnsupportedSaslMechanismError):
        return "the brokers do not offer the SASL mechanism set in FENGQIAO_KAFKA_SASL_MECHANISM."
    if isinstance(err, ssl.SSLCertVerificationError):
        return (
            "the brokers' TLS certificate is not signed by the CA in FENGQIAO_KAFKA_SSL_CAFILE "
            "(or does not name the host in KAFKA_BOOTSTRAP_SERVERS)."
        )
    if isinstance(err, ssl.SSLError):
        return (
            "the TLS handshake with Kafka failed: check FENGQIAO_KAFKA_SECURITY_PROTOCOL, and "
            "FENGQIAO_KAFKA_SSL_CERTFILE / FENGQIAO_KAFKA_SSL_KEYFILE when the brokers require "
            "a client certificate."
        )
    return None


async def _probe(s: Settings, timeout_s: float) -> None:
    from aiokafka.conn import create_conn

    cfg = s.aiokafka_client_config()  # outside the loop: a bad key file is not a broker fault
    for server in s.resolved_bootstrap().split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(create_conn(host, int(port), **cfg), timeout_s)
        except Exception as err:
            sentence = _sentence(s, err) or _sentence(s, err.__cause__ or err)
            if sentence:
                raise KafkaAuthError(sentence) from None
            continue  # this broker is down or starting: the next may answer
        conn.close()
        return
    # no broker answered: not a credentials problem, the clients retry as usual


def check_credentials(s: Settings, timeout_s: float = 10.0) -> None:
    """Raise KafkaAuthError (one sentence, no secret in it) when the brokers refuse the
    configured TLS or SASL settings; do nothing for PLAINTEXT or an unreachable cluster."""
    if not (s.kafka_uses_ssl or s.kafka_uses_sasl):
        return
    for name, path in (
        ("FENGQIAO_KAFKA_SSL_CAFILE", s.kafka_ssl_cafile),
        ("FENGQIAO_KAFKA_SSL_CERTFILE", s.kafka_ssl_certfile),
        ("FENGQIAO_KAFKA_SSL_KEYFILE", s.kafka_ssl_keyfile),
    ):
        if path is not None and not path.is_file():
            raise KafkaAuthError(f"{name} names no readable file.")
    if s.kafka_uses_sasl and (not s.kafka_sasl_username or s.kafka_sasl_password is None):
        raise KafkaAuthError(
            "SASL is on but FENGQIAO_KAFKA_SASL_USERNAME or FENGQIAO_KAFKA_SASL_PASSWORD is unset."
        )
    try:
        asyncio.run(_probe(s, timeout_s))
    except ssl.SSLError as err:  # a key that does not match its certificate, a bad PEM file
        raise KafkaAuthError(
            "the client certificate or key could not be loaded: check FENGQIAO_KAFKA_SSL_CERTFILE "
            "and FENGQIAO_KAFKA_SSL_KEYFILE."
        ) from err
