"""TLS and SCRAM for the local broker: a throwaway CA, a broker and a client certificate, and
one SCRAM-SHA-512 user, so the secure path (SASL_SSL) is tested against a real broker.

The certificates come from the ``openssl`` command line (on every Debian and in the JDK's
images), in PEM, which Kafka reads directly (``ssl.keystore.type=PEM``): no keytool, no new
Python dependency. Everything here is for loopback tests and demos, never for production.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import FengqiaoError

MECHANISM = "SCRAM-SHA-512"


class SecuritySetupError(FengqiaoError):
    """The local CA, certificates or SCRAM user could not be made."""


@dataclass(frozen=True)
class LocalSecurity:
    """Where the local broker's CA and certificates live, and its one SCRAM user."""

    directory: Path
    username: str
    password: str

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def broker_keystore(self) -> Path:
        return self.directory / "broker-keystore.pem"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    def client_env(self) -> dict[str, str]:
        """The FENGQIAO_* variables that make a component connect as this user."""
        return {
            "FENGQIAO_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "FENGQIAO_KAFKA_SASL_MECHANISM": MECHANISM,
            "FENGQIAO_KAFKA_SASL_USERNAME": self.username,
            "FENGQIAO_KAFKA_SASL_PASSWORD": self.password,
            "FENGQIAO_KAFKA_SSL_CAFILE": str(self.ca_file),
            "FENGQIAO_KAFKA_SSL_CERTFILE": str(self.client_cert),
            "FENGQIAO_KAFKA_SSL_KEYFILE": str(self.client_key),
        }

    def broker_properties(self, listener: str = "SASL_SSL") -> list[str]:
        """server.properties lines for a SASL_SSL listener named ``listener``: TLS with the
        client certificate required, SCRAM-SHA-512, and broker-to-broker traffic as the same
        user (a cluster's brokers replicate over this listener too)."""
        name = listener.lower()
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{self.username}" password="{self.password}";'
        )
        return [
            f"sasl.enabled.mechanisms={MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
            f"listener.name.{name}.{MECHANISM.lower()}.sasl.jaas.config={jaas}",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.broker_keystore}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.ca_file}",
            # on a SASL_SSL listener only the listener-prefixed setting asks for client certs
            f"listener.name.{name}.ssl.client.auth=required",
        ]

    def scram_format_args(self) -> list[str]:
        """The storage tool's arguments that create the SCRAM user when storage is formatted
        (KRaft keeps SCRAM credentials in the metadata log, so they exist before any client)."""
        return ["--add-scram", f"{MECHANISM}=[name={self.username},password={self.password}]"]


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SecuritySetupError("openssl not found: apt-get install openssl")
    out = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise SecuritySetupError(f"openssl {args[0]} failed: {out.stderr.strip()[-500:]}")


def _signed(directory: Path, name: str, subject: str, san: str | None) -> None:
    """A key and a certificate for ``name`` signed by the directory's CA."""
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.csr", "-subj", subject, cwd=directory,
    )  # fmt: skip
    ext = directory / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "extendedKeyUsage=clientAuth\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "30", "-extfile", ext.name,
        cwd=directory,
    )  # fmt: skip


def ensure(directory: Path, username: str = "fengqiao") -> LocalSecurity:
    """Make the CA, the certificates and the SCRAM password once; later calls reuse them."""
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / "user.json"
    if state.exists():
        saved = json.loads(state.read_text())
        return LocalSecurity(directory, saved["username"], saved["password"])
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "30", "-subj", "/CN=fengqiao-local-ca", cwd=directory,
    )  # fmt: skip
    _signed(directory, "broker", "/CN=localhost", "DNS:localhost,IP:127.0.0.1")
    _signed(directory, "client", f"/CN={username}", None)
    sec = LocalSecurity(directory, username, secrets.token_urlsafe(18))
    # Kafka's PEM keystore: the private key (PKCS#8) followed by its certificate
    sec.broker_keystore.write_text(
        (directory / "broker.key").read_text() + (directory / "broker.pem").read_text()
    )
    state.write_text(json.dumps({"username": sec.username, "password": sec.password}))
    for secret in (state, directory / "ca.key", directory / "broker.key", sec.client_key):
        secret.chmod(0o600)
    return sec
