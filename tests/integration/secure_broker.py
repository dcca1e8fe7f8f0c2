"""A secured broker for the tests: certificates made with openssl, the project's dev broker
started with a SASL_SSL (SCRAM-SHA-512) and a mutual-TLS listener, and a SCRAM user.

The secured broker is a second broker beside the session's plain one, on
PULSE_TEST_KAFKA_PORT + 2 (its controller on + 3), with SASL_SSL on + 4 and mTLS on + 5
(or PULSE_TEST_SECURE_KAFKA_PORT as the base). It is started fresh for the session with
the session's certificates and stopped at its end.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streams.devtools.localkafka import LocalKafka, SecureListeners

SCRAM_USER = "pulse-worker"
SCRAM_PASSWORD = "s3cret-Worker-pw"
KEY_PASSWORD = "key-pass-123"


@dataclass(frozen=True)
class Pki:
    folder: Path
    ca: Path  # the CA that signed the broker's and the client's certificates
    other_ca: Path  # a CA that signed nothing the broker uses
    keystore: Path  # broker key + certificate (PEM)
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path  # the same key, encrypted with KEY_PASSWORD
    not_pem: Path  # a DER certificate


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder: Path) -> Pki:
    """A CA, a broker certificate for 127.0.0.1, a client certificate, and a stranger CA."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ca", "other-ca"):
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN=cs-pulse test {name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.pem",
            cwd=folder,
        )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subject in (("broker", "/CN=127.0.0.1"), ("client", "/CN=pulse-worker")):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=folder,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            f"{name}.pem",
            cwd=folder,
        )
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.pk8", cwd=folder)
    keystore = folder / "broker-keystore.pem"
    keystore.write_text((folder / "broker.pk8").read_text() + (folder / "broker.pem").read_text())
    _openssl(
        "pkcs8",
        "-topk8",
        "-in",
        "client.key",
        "-out",
        "client-encrypted.key",
        "-passout",
        f"pass:{KEY_PASSWORD}",
        cwd=folder,
    )
    _openssl("x509", "-in", "ca.pem", "-outform", "der", "-out", "ca.der", cwd=folder)
    return Pki(
        folder,
        folder / "ca.pem",
        folder / "other-ca.pem",
        keystore,
        folder / "client.pem",
        folder / "client.key",
        folder / "client-encrypted.key",
        folder / "ca.der",
    )


@dataclass(frozen=True)
class SecureBroker:
    broker: LocalKafka
    pki: Pki

    @property
    def plain(self) -> str:
        return self.broker.bootstrap

    @property
    def sasl_ssl(self) -> str:
        return f"127.0.0.1:{self.broker.secure.sasl_ssl_port}"

    @property
    def mtls(self) -> str:
        return f"127.0.0.1:{self.broker.secure.mtls_port}"

    def sasl_args(self, password: str = SCRAM_PASSWORD) -> tuple[list[str], dict[str, str]]:
        """Worker options and environment for the SASL_SSL listener (the password in the environment)."""
        return (
            [
                "--security-protocol",
                "SASL_SSL",
                "--sasl-mechanism",
                "SCRAM-SHA-512",
                "--ssl-cafile",
                str(self.pki.ca),
            ],
            {"PULSE_SASL_USERNAME": SCRAM_USER, "PULSE_SASL_PASSWORD": password},
        )

    def mtls_args(self) -> tuple[list[str], dict[str, str]]:
        """Worker options and environment for the mTLS listener (encrypted key, password in the environment)."""
        return (
            [
                "--security-protocol",
                "SSL",
                "--ssl-cafile",
                str(self.pki.ca),
                "--ssl-certfile",
                str(self.pki.client_cert),
                "--ssl-keyfile",
                str(self.pki.client_key_encrypted),
            ],
            {"PULSE_SSL_KEYFILE_PASSWORD": KEY_PASSWORD},
        )


def secure_base_port(plain_port: int) -> int:
    return int(os.environ.get("PULSE_TEST_SECURE_KAFKA_PORT", plain_port + 2))


def start_secure_broker(folder: Path, plain_port: int) -> SecureBroker:
    pki = make_pki(folder)
    base = secure_base_port(plain_port)
    broker = LocalKafka(port=base, secure=SecureListeners(base + 2, base + 3, pki.keystore, pki.ca))
    broker.down(echo=lambda _: None)  # a broker left from an earlier run has other certificates
    broker.up(echo=lambda _: None)
    broker.scram_user(SCRAM_USER, SCRAM_PASSWORD)
    return SecureBroker(broker, pki)
