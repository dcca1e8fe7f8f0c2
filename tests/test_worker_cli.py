"""`pulse worker` start-up errors a user can cause end in one sentence naming the fix."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from streams.errors import ConfigError
from streams.kafka.security import KafkaSecurity
from streams.worker.cli import worker
from streams.worker.settings import WorkerSettings


def _run(*args: str):
    return CliRunner().invoke(worker, list(args))


def test_unreachable_broker_is_one_sentence(tmp_path):
    result = _run("--bootstrap", "127.0.0.1:1", "--metrics-port", "0", "--data-dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: cannot reach Kafka at 127.0.0.1:1: start it (`pulse dev kafka up`) or pass --bootstrap HOST:PORT."
    ]


def test_metrics_port_in_use_is_one_sentence(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(
            "--bootstrap", "127.0.0.1:1", "--metrics-port", str(port), "--data-dir", str(tmp_path)
        )
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert (
        f"/metrics cannot listen on 127.0.0.1:{port}" in result.output
        and "--metrics-port" in result.output
    )


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        ({"processing_guarantee": "twice"}, "exactly_once"),
        ({"partitions": 0}, "--partitions"),
        ({"batch_size": 0}, "--batch-size must be 1 or more"),
        ({"checkpoint_events": 0}, "--checkpoint-events must be 1 or more"),
        ({"batch_seconds": 0}, "--batch-seconds must be more than 0"),
        ({"checkpoint_seconds": -1.0}, "--checkpoint-seconds must be more than 0"),
    ],
)
def test_bad_settings_name_the_fix(options, fix):
    with pytest.raises(ConfigError, match=fix):
        WorkerSettings(**options)


def test_bad_security_settings_name_the_fix():
    with pytest.raises(ConfigError, match="PULSE_SASL_PASSWORD"):
        WorkerSettings(security=KafkaSecurity(security_protocol="SASL_SSL", sasl_username="cs"))


def test_secrets_are_masked_in_the_logged_settings():
    shown = repr(
        WorkerSettings(
            security=KafkaSecurity(
                security_protocol="SASL_PLAINTEXT", sasl_username="cs", sasl_password="hunter2"
            )
        )
    )
    assert "hunter2" not in shown and "sasl_password='***'" in shown


@pytest.mark.parametrize(
    "args",
    [
        ["--partitions", "0"],
        ["--batch-seconds", "0"],
        ["--frozen-clock", "yesterday"],
        ["--no-such-option"],
    ],
)
def test_a_bad_option_value_is_a_usage_error_exit_2(args):
    result = _run("--bootstrap", "127.0.0.1:1", *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "Error:" in result.output


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ((), {}, True),
        (("--no-account-records",), {}, False),
        ((), {"PULSE_ACCOUNT_RECORDS": "false"}, False),
    ],
)
def test_the_account_layer_switch_reaches_the_settings(monkeypatch, args, env, expected):
    seen: list[WorkerSettings] = []

    def run_worker(settings: WorkerSettings, log_level: str) -> int:
        seen.append(settings)
        return 0

    monkeypatch.setattr("streams.worker.run.run_worker", run_worker)
    result = CliRunner().invoke(worker, list(args), env=env)
    assert result.exit_code == 0, result.output
    assert seen[0].account_records is expected
