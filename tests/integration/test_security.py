"""The worker and the helpers on a secured broker (SASL_SSL with SCRAM-SHA-512, mutual TLS),
and the worker's HTTP port, tried as a user would.

- Through each secured listener the worker's /metrics equals `pulse replay`; the
  secrets appear in no log line, and the masked settings line is there.
- Wrong password, untrusted CA, missing client certificate, plain client on a TLS
  listener: one sentence naming the cause, from the worker and from `pulse dev topics`.
- `pulse dev topics` and `pulse generate --bootstrap` reach a secured cluster.
- A credential change while the worker runs: errors in the log, the refusal counter,
  /healthz 503, and the worker exits within 30 s of SIGTERM.
- The HTTP port: Faust's views gone, per-account paths behind the token, Host allow-list,
  /metrics and /healthz on a second address.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import KAFKA_PORT
from tests.integration.helpers import REPO, http_get, produce, unique, wait_until
from tests.integration.secure_broker import (
    KEY_PASSWORD,
    SCRAM_PASSWORD,
    SCRAM_USER,
    start_secure_broker,
)
from tests.integration.worker_harness import (
    CATCH_UP_S,
    WorkerRun,
    events_applied,
    fresh_topics,
    kafka_messages,
    make_dataset,
    parse_exposition,
    replay,
    wait_until_equal,
)

pytestmark = pytest.mark.kafka
SIGTERM_LIMIT_S = 30.0
WEB_TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    broker = start_secure_broker(tmp_path_factory.mktemp("pki"), KAFKA_PORT)
    yield broker
    broker.broker.down(echo=lambda _: None)


def _pulse(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("listener", ["sasl_ssl", "mtls"])
def test_worker_through_a_secured_listener_equals_replay(secure, tmp_path, listener):
    dataset = make_dataset(
        tmp_path, seed=61, duplicate_fraction=0.02, late_fraction=0.01, malformed_fraction=0.01
    )
    expected, _ = replay(dataset, tmp_path)
    prefix = fresh_topics(secure.plain)
    produce(secure.plain, kafka_messages(dataset, prefix))
    args, env = secure.sasl_args() if listener == "sasl_ssl" else secure.mtls_args()
    run = WorkerRun(
        getattr(secure, listener),
        tmp_path,
        app_id=unique(listener),
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
        extra=args,
        env=env,
    )
    try:
        wait_until_equal(
            run.metrics,
            expected,
            run.process,
            f"the worker on the {listener} listener to match the replay",
        )
    finally:
        assert run.process.stop() == 0, run.process.log_tail()
    log = run.log.read_text()
    assert "worker settings: WorkerSettings(" in log
    for secret in (SCRAM_PASSWORD, KEY_PASSWORD):
        assert secret not in log
    if listener == "sasl_ssl":
        assert "sasl_password='***'" in log
    else:
        assert "ssl_keyfile_password='***'" in log
    assert stat.S_IMODE(run.data_dir.stat().st_mode) == 0o700


def test_wrong_password_is_named_by_the_worker(secure, tmp_path):
    prefix = fresh_topics(secure.plain)
    args, env = secure.sasl_args(password="not-the-password")
    result = _pulse(
        "worker",
        "--bootstrap",
        secure.sasl_ssl,
        "--topic-prefix",
        prefix,
        "--app-id",
        unique("bad"),
        "--data-dir",
        str(tmp_path / "data"),
        "--metrics-port",
        "0",
        *args,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        f"authentication failed for user {SCRAM_USER} with mechanism SCRAM-SHA-512 at {secure.sasl_ssl}"
        in output
    ), output
    assert "Traceback" not in output and "cannot reach Kafka" not in output
    assert "not-the-password" not in output


@pytest.mark.parametrize(
    ("case", "sentence"),
    [
        (
            "wrong password",
            "authentication failed for user pulse-worker with mechanism SCRAM-SHA-512",
        ),
        (
            "untrusted CA",
            "is not trusted (unable to get local issuer certificate): pass the CA that signed it",
        ),
        ("no client certificate", "want a client certificate (mutual TLS)"),
        (
            "plaintext to TLS",
            "closed the connection without answering PLAINTEXT: the listener probably expects TLS",
        ),
        ("TLS to plaintext", "does not speak TLS"),
        (
            "encrypted key, no password",
            "is encrypted: set its password in PULSE_SSL_KEYFILE_PASSWORD",
        ),
        ("CA file not PEM", "holds no PEM certificate"),
    ],
)
def test_topics_helper_names_each_failure_in_one_sentence(secure, case, sentence):
    pki = secure.pki
    ca = ["--ssl-cafile", str(pki.ca)]
    sasl = [
        "--security-protocol",
        "SASL_SSL",
        "--sasl-mechanism",
        "SCRAM-SHA-512",
        "--sasl-username",
        SCRAM_USER,
    ]
    cases = {
        "wrong password": (secure.sasl_ssl, [*sasl, *ca], {"PULSE_SASL_PASSWORD": "wrong"}),
        "untrusted CA": (
            secure.sasl_ssl,
            [*sasl, "--ssl-cafile", str(pki.other_ca)],
            {"PULSE_SASL_PASSWORD": "x"},
        ),
        "no client certificate": (secure.mtls, ["--security-protocol", "SSL", *ca], {}),
        "plaintext to TLS": (secure.sasl_ssl, [], {}),
        "TLS to plaintext": (secure.plain, ["--security-protocol", "SSL", *ca], {}),
        "encrypted key, no password": (
            secure.mtls,
            [
                "--security-protocol",
                "SSL",
                *ca,
                "--ssl-certfile",
                str(pki.client_cert),
                "--ssl-keyfile",
                str(pki.client_key_encrypted),
            ],
            {},
        ),
        "CA file not PEM": (
            secure.mtls,
            ["--security-protocol", "SSL", "--ssl-cafile", str(pki.not_pem)],
            {},
        ),
    }
    bootstrap, args, env = cases[case]
    result = _pulse(
        "dev", "topics", "--bootstrap", bootstrap, "--prefix", unique("x") + ".", *args, env=env
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert sentence in output, output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output


def test_helpers_reach_the_secured_listeners(secure, tmp_path):
    """`pulse dev topics` over SASL_SSL and `pulse generate --bootstrap` over mutual TLS,
    with the same options and variables as the worker."""
    prefix = unique("h") + "."
    args, env = secure.sasl_args()
    created = _pulse(
        "dev",
        "topics",
        "--bootstrap",
        secure.sasl_ssl,
        "--prefix",
        prefix,
        *args,
        env={**env, "PULSE_SASL_USERNAME": SCRAM_USER},
    )
    assert created.returncode == 0, created.stderr
    assert f"{prefix}pulse.logins: created" in created.stdout
    args, env = secure.mtls_args()
    generated = _pulse(
        "generate",
        "--accounts",
        "3",
        "--days",
        "2",
        "--bootstrap",
        secure.mtls,
        "--topic-prefix",
        prefix,
        *args,
        env=env,
    )
    assert generated.returncode == 0, generated.stderr
    sent = asyncio_count(secure.plain, prefix)
    assert sent > 0


def asyncio_count(bootstrap: str, prefix: str) -> int:
    """Messages in the prefix's source topics (end offsets), read over the plain listener."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.contract.model import SOURCE_TOPICS

    async def count() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            partitions = [
                TopicPartition(prefix + topic, p) for topic in SOURCE_TOPICS for p in range(4)
            ]
            return sum((await consumer.end_offsets(partitions)).values())
        finally:
            await consumer.stop()

    return asyncio.run(count())


def test_credential_change_while_running_is_loud_and_sigterm_still_stops(secure, tmp_path):
    dataset = make_dataset(tmp_path, seed=62)
    prefix = fresh_topics(secure.plain)
    half = len(dataset.messages) // 2
    produce(secure.plain, kafka_messages(dataset, prefix, stop=half))
    args, env = secure.sasl_args()
    run = WorkerRun(
        secure.sasl_ssl,
        tmp_path,
        app_id=unique("cred"),
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
        extra=[*args, "--fetch-stall-seconds", "5", "--checkpoint-seconds", "2"],
        env=env,
    )
    try:
        wait_until(
            lambda: events_applied(run) > 0, CATCH_UP_S, run.process, "the worker to apply events"
        )
        assert http_get(f"http://127.0.0.1:{run.port}/healthz")[0] == 200
        # The password changes and the broker restarts (as in the report): every
        # connection of the worker must authenticate again, and cannot.
        secure.broker.scram_user(SCRAM_USER, "a-new-password-1")
        secure.broker.down(echo=lambda _: None)
        secure.broker.up(echo=lambda _: None)
        produce(secure.plain, kafka_messages(dataset, prefix, start=half))

        def refused() -> bool:
            log = run.log.read_text(errors="replace")
            return (
                f"[ERROR] Kafka refuses the worker: authentication failed for user {SCRAM_USER} with mechanism "
                f"SCRAM-SHA-512" in log
            )

        wait_until(refused, CATCH_UP_S, run.process, "the worker to log the refusal")
        wait_until(
            lambda: http_get(f"http://127.0.0.1:{run.port}/healthz")[0] == 503,
            60,
            run.process,
            "/healthz to report the stalled fetches",
        )
        exposition = parse_exposition(run.scrape() or "", skip=frozenset())
        failures = [
            value
            for key, value in exposition.items()
            if key[0] == "pulse_kafka_auth_failures_total"
        ]
        assert failures and failures[0] > 0
        started = time.monotonic()
        os.killpg(run.process.process.pid, signal.SIGTERM)
        run.process.process.wait(SIGTERM_LIMIT_S + 15)
        took = time.monotonic() - started
        assert took < SIGTERM_LIMIT_S, (
            f"the worker needed {took:.1f} s to stop after SIGTERM\n{run.process.log_tail()}"
        )
    finally:
        run.process.stop(signal.SIGKILL)
        secure.broker.scram_user(SCRAM_USER, SCRAM_PASSWORD)  # for the other tests of the module


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_http_port_serves_no_account_data_without_the_token(kafka_bootstrap, tmp_path):
    dataset = make_dataset(tmp_path, seed=63, accounts=5, days=10)
    prefix = fresh_topics(kafka_bootstrap)
    produce(kafka_bootstrap, kafka_messages(dataset, prefix))
    from tests.integration.helpers import free_port

    open_port = free_port()
    run = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=unique("web"),
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
        extra=[
            "--allowed-hosts",
            "127.0.0.1,localhost",
            "--open-bind",
            "127.0.0.1",
            "--open-port",
            str(open_port),
        ],
        env={"PULSE_WEB_TOKEN": WEB_TOKEN},
    )
    try:
        wait_until(
            lambda: events_applied(run) > 0, CATCH_UP_S, run.process, "the worker to apply events"
        )
        base, second = f"http://127.0.0.1:{run.port}", f"http://127.0.0.1:{open_port}"
        account = dataset.messages[0].key.decode()
        # Faust's own views are gone: the table view used to return this account's state.
        for path in (f"/table/accounts/{account}/", "/router/", "/", "/graph/", "/assignment/"):
            assert _get(base + path) == 404, path
        # per-account paths: the token, compared whole
        assert _get(base + f"/accounts/{account}") == 401
        assert (
            _get(base + f"/accounts/{account}", {"Authorization": "Bearer " + WEB_TOKEN[:-1]})
            == 401
        )
        assert (
            _get(base + f"/accounts/{account}", {"Authorization": "Bearer " + WEB_TOKEN}) == 200
        )  # the account API
        # the open endpoints, on both addresses; the second one serves nothing else
        for url in (base, second):
            assert _get(url + "/metrics") == 200
            assert _get(url + "/healthz") == 200
        assert (
            _get(second + f"/accounts/{account}", {"Authorization": "Bearer " + WEB_TOKEN}) == 404
        )
        # Host allow-list
        assert _get(base + "/metrics", {"Host": "attacker.example"}) == 421
        assert _get(second + "/metrics", {"Host": "attacker.example:9108"}) == 421
        assert _get(base + "/metrics", {"Host": f"localhost:{run.port}"}) == 200
    finally:
        assert run.process.stop() == 0, run.process.log_tail()
    assert WEB_TOKEN not in run.log.read_text()


def test_sigterm_stops_the_worker_within_30_s_while_the_broker_hangs(secure, tmp_path):
    """The broker process frozen (SIGSTOP): every request of the stop (commit, flush, leave
    the group) waits for an answer that never comes; the stop must still end in time."""
    dataset = make_dataset(tmp_path, seed=64, accounts=10, days=10)
    prefix = fresh_topics(secure.plain)
    produce(secure.plain, kafka_messages(dataset, prefix))
    args, env = secure.mtls_args()
    run = WorkerRun(
        secure.mtls,
        tmp_path,
        app_id=unique("hang"),
        prefix=prefix,
        as_of=dataset.as_of,
        name="w",
        extra=args,
        env=env,
    )
    broker_pid = secure.broker.pid()
    assert broker_pid is not None
    try:
        wait_until(
            lambda: events_applied(run) > 0, CATCH_UP_S, run.process, "the worker to apply events"
        )
        os.kill(broker_pid, signal.SIGSTOP)
        time.sleep(3)
        started = time.monotonic()
        os.killpg(run.process.process.pid, signal.SIGTERM)
        run.process.process.wait(SIGTERM_LIMIT_S + 60)
        took = time.monotonic() - started
        assert took < SIGTERM_LIMIT_S, (
            f"the worker needed {took:.1f} s to stop after SIGTERM\n{run.process.log_tail()}"
        )
    finally:
        os.kill(broker_pid, signal.SIGCONT)
        run.process.stop(signal.SIGKILL)


def test_https_port_takes_a_client_certificate_in_place_of_the_token(
    secure, kafka_bootstrap, tmp_path
):
    import ssl

    pki = secure.pki
    prefix = fresh_topics(kafka_bootstrap)
    run = WorkerRun(
        kafka_bootstrap,
        tmp_path,
        app_id=unique("https"),
        prefix=prefix,
        as_of="2026-03-01T00:00:00Z",
        name="w",
        extra=[
            "--web-certfile",
            str(pki.folder / "broker.pem"),
            "--web-keyfile",
            str(pki.folder / "broker.key"),
            "--web-client-cafile",
            str(pki.ca),
        ],
    )
    with_certificate = ssl.create_default_context(cafile=str(pki.ca))
    with_certificate.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    without = ssl.create_default_context(cafile=str(pki.ca))

    def status(path: str, context: ssl.SSLContext) -> int:
        try:
            with urllib.request.urlopen(
                f"https://127.0.0.1:{run.port}{path}", timeout=10, context=context
            ) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code
        except (urllib.error.URLError, OSError):
            return 0

    try:
        wait_until(
            lambda: status("/healthz", without) == 200,
            CATCH_UP_S,
            run.process,
            "the HTTPS port to answer",
        )
        assert status("/metrics", without) == 200
        assert status("/accounts/acme", without) == 401
        # let through to the account API, which answers 503 until the agent has loaded the
        # partitions' rows, then 404 for an account it does not know
        wait_until(
            lambda: status("/accounts/acme", with_certificate) != 503,
            CATCH_UP_S,
            run.process,
            "the account API to load its partitions",
        )
        assert status("/accounts/acme", with_certificate) == 404
        assert status("/table/accounts/acme/", with_certificate) == 404
    finally:
        assert run.process.stop() == 0, run.process.log_tail()
