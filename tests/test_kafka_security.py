"""Unit tests of the shared Kafka security settings (streams/kafka/security.py), the
refusal watch (streams/worker/kafka_watch.py) and the data directory's permissions. Files are
real (openssl makes them); no broker here (tests/integration/test_security.py has one)."""

from __future__ import annotations

import logging
import os
import ssl
import stat
import subprocess
import sys

import click
import pytest
from aiokafka import errors as kafka_errors

from streams.errors import ConfigError
from streams.kafka.security import KafkaSecurity, client_log_muted, describe_failure
from streams.worker.kafka_watch import KafkaWatch, auth_failure_in
from tests.integration.secure_broker import KEY_PASSWORD, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def _mtls(pki, **changes) -> KafkaSecurity:
    settings = dict(
        security_protocol="SSL",
        ssl_cafile=pki.ca,
        ssl_certfile=pki.client_cert,
        ssl_keyfile=pki.client_key_encrypted,
        ssl_keyfile_password=KEY_PASSWORD,
    )
    return KafkaSecurity(**{**settings, **changes})


def test_encrypted_key_with_its_password_loads(pki):
    assert isinstance(_mtls(pki).ssl_context(), ssl.SSLContext)


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        (
            {"ssl_keyfile_password": None},
            "is encrypted: set its password in PULSE_SSL_KEYFILE_PASSWORD",
        ),
        ({"ssl_keyfile_password": "wrong"}, "the key password does not decrypt key file"),
        ({"ssl_cafile": "not_pem"}, "holds no PEM certificate"),
        (
            {"ssl_certfile": "not_pem", "ssl_keyfile": "client_key"},
            "is not a PEM file OpenSSL can read",
        ),
        (
            {"ssl_certfile": "client_cert", "ssl_keyfile": "other_key"},
            "does not belong to certificate",
        ),
    ],
)
def test_unusable_tls_files_are_one_sentence(pki, changes, sentence):
    files = {
        "not_pem": pki.not_pem,
        "client_key": pki.client_key,
        "client_cert": pki.client_cert,
        "other_key": pki.folder / "other-ca.key",
    }
    resolved = {
        key: files.get(value, value) if isinstance(value, str) else value
        for key, value in changes.items()
    }
    with pytest.raises(ConfigError) as raised:
        _mtls(pki, **resolved).ssl_context()
    assert sentence in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_encrypted_key_without_password_never_prompts(pki, tmp_path):
    """On a terminal, OpenSSL would ask for the pass phrase; the worker must not. The child
    gets a pseudo-terminal as stdin: a prompt would block it (and time out)."""
    import pty

    script = (
        "from pathlib import Path\n"
        "from streams.kafka.security import KafkaSecurity\n"
        "from streams.errors import ConfigError\n"
        f"s = KafkaSecurity(security_protocol='SSL', ssl_cafile=Path({str(pki.ca)!r}), "
        f"ssl_certfile=Path({str(pki.client_cert)!r}), ssl_keyfile=Path({str(pki.client_key_encrypted)!r}))\n"
        "try:\n    s.ssl_context()\nexcept ConfigError as e:\n    print('ERR', e)\n"
    )
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-c", script],
            stdin=follower,
            stderr=subprocess.STDOUT,
            stdout=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(leader)
        os.close(follower)
    assert result.stdout.startswith("ERR key file"), result.stdout
    assert "PEM pass phrase" not in result.stdout


def test_settings_masks_secrets(pki):
    shown = repr(
        _mtls(pki, security_protocol="SASL_SSL", sasl_username="cs", sasl_password="hunter2")
    )
    assert "hunter2" not in shown and KEY_PASSWORD not in shown
    assert "sasl_password='***'" in shown and "ssl_keyfile_password='***'" in shown


def test_every_command_that_talks_to_kafka_shares_one_set_of_security_options():
    from streams.cli.connectors import bridge, webhooks
    from streams.cli.dev import topics
    from streams.cli.generate import generate
    from streams.worker.cli import worker

    def security(command: click.Command) -> dict:
        return {
            param.name: (tuple(param.opts), param.envvar)
            for param in command.params
            if param.name.startswith(("security_", "sasl_", "ssl_"))
        }

    shared = security(worker)
    assert (
        "ssl_keyfile_password" in shared
        and shared["ssl_keyfile_password"][1] == "PULSE_SSL_KEYFILE_PASSWORD"
    )
    assert security(topics) == shared
    assert security(generate) == shared
    assert security(webhooks) == shared
    assert security(bridge) == shared


def _connection_error(cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as error:
            raise kafka_errors.KafkaConnectionError(
                "Connection at 127.0.0.1:9093 closed"
            ) from error
    except BaseException as wrapped:
        return wrapped


SASL = KafkaSecurity(
    security_protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="cs",
    sasl_password="pw",
)


@pytest.mark.parametrize(
    ("error", "security", "sentence"),
    [
        (
            kafka_errors.SaslAuthenticationFailed("invalid credentials"),
            SASL,
            "authentication failed for user cs with mechanism SCRAM-SHA-512 at b:1",
        ),
        (
            kafka_errors.UnsupportedSaslMechanismError("x"),
            SASL,
            "do not accept SASL mechanism SCRAM-SHA-512",
        ),
        (
            ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate"),
            SASL,
            "is not trusted",
        ),
        (
            _connection_error(
                ssl.SSLError(1, "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate")
            ),
            KafkaSecurity(security_protocol="SSL"),
            "want a client certificate (mutual TLS)",
        ),
        (ConnectionResetError(), KafkaSecurity(security_protocol="SSL"), "does not speak TLS"),
        (
            kafka_errors.KafkaConnectionError("Connection at b:1 closed"),
            KafkaSecurity(),
            "closed the connection without answering PLAINTEXT",
        ),
        (
            ConnectionRefusedError(111, "Connect call failed"),
            KafkaSecurity(),
            "cannot reach Kafka at b:1",
        ),
    ],
)
def test_failures_are_named(error, security, sentence):
    assert sentence in describe_failure(error, "b:1", security)


def _record(message: str, *args) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.client", logging.ERROR, __file__, 1, message, args, None)


def test_the_watch_counts_refusals_and_logs_one_sentence(caplog):
    watch = KafkaWatch("b:1", SASL, stall_seconds=5)
    refused = kafka_errors.SaslAuthenticationFailed("invalid credentials")
    with caplog.at_level(logging.ERROR, logger="cs-pulse.kafka"):
        for _ in range(3):
            watch.emit(_record("Unable connect to node with id %s: %s", 1, refused))
        watch.emit(_record("Unable connect to node with id %s: %s", 1, ConnectionRefusedError()))
    assert watch.failures == 3
    reports = [r.getMessage() for r in caplog.records if r.name == "cs-pulse.kafka"]
    assert (
        len(reports) == 1
        and "authentication failed for user cs with mechanism SCRAM-SHA-512" in reports[0]
    )
    assert (
        auth_failure_in(
            _record("Group Coordinator Request failed: %s", kafka_errors.NodeNotReadyError())
        )
        is None
    )


def test_the_watch_reports_a_stall_only_after_the_configured_time():
    watch = KafkaWatch("b:1", SASL, stall_seconds=5)
    start = watch.started
    assert not watch.stalled(None, now=start + 4)
    assert watch.stalled(None, now=start + 6)
    assert not watch.stalled(int((start + 10) * 1000), now=start + 14)
    assert watch.stalled(int((start + 10) * 1000), now=start + 16)
    # after a rebalance no partition has been fetched yet: the last good fetch stays known
    assert not watch.stalled(None, now=start + 14)


def test_the_client_log_is_muted_only_inside_a_check():
    library = logging.getLogger("aiokafka")
    before = library.level
    with client_log_muted():
        assert not logging.getLogger("aiokafka.client").isEnabledFor(logging.ERROR)
    assert library.level == before
    assert logging.getLogger("aiokafka.client").isEnabledFor(logging.ERROR)


@pytest.mark.parametrize("existing", [False, True])
def test_data_directory_is_private(tmp_path, existing):
    from streams.worker.datadir import DataDirLock, prepare_data_dir, worker_data_dir

    base = tmp_path / "state"
    data_dir = worker_data_dir(base)
    if existing:
        data_dir.mkdir(parents=True, mode=0o755)
        data_dir.chmod(0o755)
    with DataDirLock(data_dir) as lock:
        prepare_data_dir(lock)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    if not existing:
        assert stat.S_IMODE(base.stat().st_mode) == 0o700


def test_dev_broker_secured_listeners_need_all_four_options_and_a_password_variable(tmp_path):
    from click.testing import CliRunner

    from streams.cli.dev import dev

    runner = CliRunner()
    partial = runner.invoke(
        dev, ["kafka", "up", "--port", "1", "--home", str(tmp_path), "--mtls-port", "2"]
    )
    assert (
        partial.exit_code == 2
        and "--sasl-ssl-port, --mtls-port, --keystore and --truststore together" in partial.output
    )
    no_password = runner.invoke(
        dev,
        ["kafka", "scram-user", "cs", "--port", "1", "--home", str(tmp_path)],
        env={"PULSE_SASL_PASSWORD": ""},
    )
    assert no_password.exit_code == 2 and "PULSE_SASL_PASSWORD" in no_password.output


def test_secured_listener_properties():
    from pathlib import Path

    from streams.devtools.localkafka import SecureListeners, _override

    secure = SecureListeners(9094, 9095, Path("k.pem"), Path("ca.pem"))
    text = _override(
        "listeners=PLAINTEXT://127.0.0.1:9092\nnum.partitions=4\n", secure.properties(9092, 9093)
    )
    assert "num.partitions=4" in text
    assert (
        text.count("listeners=") == 2
    )  # listeners and advertised.listeners, the old line replaced
    assert "SASL_SSL://127.0.0.1:9094,MTLS://127.0.0.1:9095" in text
    assert (
        "listener.name.mtls.ssl.client.auth=required" in text
        and "sasl.enabled.mechanisms=SCRAM-SHA-512" in text
    )
