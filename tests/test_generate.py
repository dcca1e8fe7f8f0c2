"""`pulse generate` and its Python API (streams.generator): determinism, the event contract,
the fault fractions and their meaning under the admission policies, realism, the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import aiokafka
import orjson
import pytest
from aiokafka.errors import UnknownTopicOrPartitionError
from click.testing import CliRunner

from streams.cli.generate import generate as generate_command
from streams.contract.decoding import Decoder, Rejection
from streams.contract.model import EVENT_TYPES, TOPIC_OF_TYPE, Event
from streams.errors import ConfigError, PulseError
from streams.generator import (
    MALFORMED_REASONS,
    WRONG_TOPIC,
    GeneratedMessage,
    Generator,
    GeneratorConfig,
    Summary,
    generate,
)
from streams.generator.clock import DAY_MS, DEFAULT_END_MS, HOUR_MS, parse_end, rfc3339
from streams.generator.sinks import Pacer, Progress, produce
from streams.ingest.admission import ACCEPTED, DUPLICATE, Admission, PolicyConfig
from streams.pulse_config import PulseConfig

ROOT = Path(__file__).resolve().parent.parent
WINDOW_START = DEFAULT_END_MS - 30 * DAY_MS


@cache
def messages(
    accounts: int = 50,
    seed: int = 1,
    days: int = 30,
    duplicates: float = 0.0,
    late: float = 0.0,
    malformed: float = 0.0,
    wrong_topic: bool = False,
) -> tuple[GeneratedMessage, ...]:
    """One dataset per argument set, generated once per test session."""
    return tuple(
        generate(
            GeneratorConfig(
                accounts=accounts,
                days=days,
                seed=seed,
                duplicate_fraction=duplicates,
                late_fraction=late,
                malformed_fraction=malformed,
                wrong_topic=wrong_topic,
            )
        )
    )


FAULTY = {"accounts": 40, "seed": 4, "duplicates": 0.03, "late": 0.03, "malformed": 0.05}


def decoder() -> Decoder:
    """The decoder as the pipeline configures it: ISO 4217, the rates table, dated rates."""
    return PulseConfig().decoder()


def kinds(dataset: tuple[GeneratedMessage, ...]) -> Counter[str]:
    return Counter(message.kind for message in dataset)


# --------------------------------------------------------------------------- determinism


def test_same_options_give_byte_identical_output_and_another_seed_does_not():
    config = {
        "accounts": 12,
        "days": 10,
        "duplicate_fraction": 0.02,
        "late_fraction": 0.02,
        "malformed_fraction": 0.02,
    }
    first = list(generate(GeneratorConfig(seed=5, **config)))
    again = list(generate(GeneratorConfig(seed=5, **config)))
    other = list(generate(GeneratorConfig(seed=6, **config)))
    assert first == again
    assert len(first) > 100
    assert [m.value for m in first] != [m.value for m in other]


def test_output_does_not_depend_on_the_hash_seed():
    """Decisions never come from hash(): two interpreters with other PYTHONHASHSEEDs agree."""
    code = (
        "import hashlib, sys; from streams.generator import GeneratorConfig, generate; "
        "h = hashlib.sha256(); [h.update(m.topic.encode() + m.key + m.value) for m in "
        "generate(GeneratorConfig(accounts=8, days=5, seed=3, duplicate_fraction=0.05, "
        "late_fraction=0.05, malformed_fraction=0.05))]; print(h.hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(result.stdout.strip())
    assert len(digests) == 1


def test_faults_do_not_change_the_valid_events():
    clean = messages(**{**FAULTY, "duplicates": 0.0, "late": 0.0, "malformed": 0.0})
    faulty = messages(**FAULTY)
    assert [m for m in faulty if m.kind == "valid"] == list(clean)


# --------------------------------------------------------------------------- the contract


def test_every_valid_duplicate_and_late_message_decodes_and_every_malformed_one_is_rejected():
    decode = decoder().decode
    dataset = messages(**FAULTY, wrong_topic=True)
    reasons_seen = set()
    for message in dataset:
        result = decode(message.value, message.topic)
        if message.kind == "malformed":
            assert isinstance(result, Rejection), (message.reason, message.value)
            reasons_seen.add(message.reason)
        else:
            assert isinstance(result, Event), (message.kind, result, message.value)
            assert result.type == message.type
            assert message.topic == TOPIC_OF_TYPE[result.type]
            assert message.key == result.account_id.encode()
            assert b"\n" not in message.value
    assert reasons_seen == set(MALFORMED_REASONS) | {WRONG_TOPIC}


def test_a_file_holds_no_wrong_topic_faults_so_its_malformed_lines_fail_without_a_topic():
    decode = decoder().decode
    dataset = messages(**FAULTY)
    malformed = [m for m in dataset if m.kind == "malformed"]
    assert malformed and all(m.reason != WRONG_TOPIC for m in malformed)
    assert all(isinstance(decode(m.value), Rejection) for m in malformed)
    assert all(isinstance(decode(m.value), Event) for m in dataset if m.kind != "malformed")


def test_timestamps_are_utc_z_with_at_most_milliseconds_and_the_stream_is_in_event_time_order():
    decode = decoder().decode
    previous = 0
    for message in messages():
        document = orjson.loads(message.value)
        assert document["occurred_at"].endswith("Z")
        event = decode(message.value)
        assert rfc3339(event.occurred_at) == document["occurred_at"]
        assert previous <= event.occurred_at < DEFAULT_END_MS
        previous = event.occurred_at


def test_event_ids_are_unique_and_amounts_have_at_most_two_decimals_in_known_currencies():
    dataset = messages(accounts=80, seed=2)
    documents = [orjson.loads(m.value) for m in dataset]
    assert len({d["event_id"] for d in documents}) == len(documents)
    billing = [d for d in documents if "amount" in d]
    assert billing
    for document in billing:
        assert round(document["amount"] * 100) == pytest.approx(document["amount"] * 100, abs=1e-6)
        assert document["currency"] in {"USD", "EUR", "GBP"}


# --------------------------------------------------------------------------- faults


def test_fault_fractions_are_honoured():
    counts = kinds(messages(**FAULTY))
    valid = counts["valid"]
    assert valid > 5_000
    for kind, fraction in (("duplicate", 0.03), ("late", 0.03), ("malformed", 0.05)):
        expected = valid * fraction
        # each valid event draws each fault independently: binomial, 4 standard deviations
        assert abs(counts[kind] - expected) <= 4 * (expected * (1 - fraction)) ** 0.5 + 2, (
            kind,
            counts[kind],
            expected,
        )


def test_faults_mean_what_the_admission_policies_say():
    """valid -> accepted; duplicate -> an exact earlier valid line, dropped as a duplicate;
    late -> rejected as too_late (more than 35 days behind the account's stream time)."""
    decode = decoder().decode
    admission = Admission(PolicyConfig())
    seen_valid: set[bytes] = set()
    verdicts: Counter[tuple[str, str]] = Counter()
    for message in messages(**FAULTY):
        if message.kind == "malformed":
            continue
        if message.kind == "duplicate":
            assert message.value in seen_valid
        verdict = admission.admit(decode(message.value))
        outcome = verdict.reason if isinstance(verdict, Rejection) else verdict.value
        verdicts[(message.kind, outcome)] += 1
        if message.kind == "valid":
            seen_valid.add(message.value)
    assert set(verdicts) == {
        ("valid", ACCEPTED.value),
        ("duplicate", DUPLICATE.value),
        ("late", "too_late"),
    }


# --------------------------------------------------------------------------- realism


def test_every_event_type_appears_in_thirty_days_of_fifty_accounts():
    counts = Counter(m.type for m in messages())
    assert {t for t in EVENT_TYPES if counts[t] == 0} == set()


def test_billing_looks_like_a_real_subscription_business():
    documents = [orjson.loads(m.value) for m in messages(accounts=300, seed=3)]
    decode = decoder().decode
    terms = [d for d in documents if d["type"] in ("subscription_started", "subscription_changed")]
    assert {d["plan"] for d in terms} >= {"starter", "growth", "enterprise"}
    assert {(d["interval"], d.get("interval_count", 1)) for d in terms} >= {
        ("month", 1),
        ("year", 1),
        ("quarter", 1),
        ("month", 3),
        ("week", 1),
    }
    assert {d["currency"] for d in terms} == {"USD", "EUR", "GBP"}
    assert any(d.get("quantity", 1) > 1 for d in terms)
    assert any("discount_percent" in d for d in terms)
    assert any("trial_ends_at" in d for d in terms)
    started = [decode(orjson.dumps(d)) for d in documents if d["type"] == "subscription_started"]
    assert any(e.occurred_at < WINDOW_START - 180 * DAY_MS for e in started), (
        "history must reach back months"
    )
    assert any(e.occurred_at >= WINDOW_START for e in started), (
        "some accounts are acquired in the window"
    )
    cancels = [decode(orjson.dumps(d)) for d in documents if d["type"] == "subscription_canceled"]
    assert any(c.effective_at > c.occurred_at for c in cancels), "cancel at period end"
    assert any(c.effective_at == c.occurred_at for c in cancels), "cancel at once"
    assert any(c.occurred_at >= WINDOW_START for c in cancels), "some accounts churn in the window"
    subscriptions_per_account = Counter(
        d["account_id"] for d in documents if d["type"] == "subscription_started"
    )
    assert max(subscriptions_per_account.values()) >= 2, "reactivations"
    payments = Counter(d["type"] for d in documents if d["type"].startswith("payment_"))
    assert 0 < payments["payment_failed"] < payments["payment_succeeded"] / 5


def test_usage_has_working_hour_and_weekday_rhythms_and_sessions():
    dataset = messages(accounts=80, seed=2)
    decode = decoder().decode
    logins = [decode(m.value) for m in dataset if m.type == "login"]
    weekday = Counter((e.occurred_at // DAY_MS + 3) % 7 < 5 for e in logins)
    assert weekday[True] / 5 > 3 * weekday[False] / 2, "weekdays are far busier than weekends"
    assert all(e.occurred_at >= WINDOW_START for e in logins)
    per_type = Counter(m.type for m in dataset)
    assert per_type["feature_used"] > 2 * per_type["login"] > 0
    assert per_type["login"] > per_type["logout"] > per_type["login"] / 2, (
        "usually, not always, a logout"
    )
    features = Counter(
        orjson.loads(m.value)["feature"] for m in dataset if m.type == "feature_used"
    )
    assert len(features) >= 10
    ranked = features.most_common()
    assert ranked[0][1] > 10 * ranked[-1][1], "features differ widely in popularity"
    users_per_account = Counter(e.account_id for e in logins)  # sessions as a proxy for size
    sizes = sorted(users_per_account.values())
    assert sizes[-1] > 10 * sizes[len(sizes) // 2], "account sizes are heavy-tailed"


def test_sessions_start_with_a_login_and_keep_gaps_of_seconds_to_minutes():
    decode = decoder().decode
    last_login: dict[tuple[str, str], int] = {}
    gaps = []
    for message in messages():
        if message.type in ("login", "feature_used", "logout"):
            event = decode(message.value)
            user = (event.account_id, event.user_id)
            if event.type == "login":
                last_login[user] = event.occurred_at
            else:
                assert user in last_login, "activity before the user's first login"
                gaps.append(event.occurred_at - last_login[user])
    assert min(gaps) >= 1000
    assert sorted(gaps)[len(gaps) // 2] < HOUR_MS


# --------------------------------------------------------------------------- live feed


def test_the_live_feed_stamps_the_clock_and_stays_valid_after_the_backlog():
    generator = Generator(GeneratorConfig(accounts=20, days=5, seed=9))
    backlog = list(generator.backlog())
    clock = iter(range(DEFAULT_END_MS + 1000, DEFAULT_END_MS + 10**9, 250))
    live = []
    for message in generator.live(lambda: next(clock)):
        live.append(message)
        if len(live) == 3000:
            break
    decode = decoder().decode
    admission = Admission(PolicyConfig(), clock=lambda: DEFAULT_END_MS + 10**9)
    for message in backlog + live:
        event = decode(message.value, message.topic)
        assert isinstance(event, Event), message.value
        assert admission.admit(event) == ACCEPTED
    times = [decode(m.value).occurred_at for m in live]
    assert times == sorted(times) and times[0] == DEFAULT_END_MS + 1000
    assert {m.type for m in live} >= {
        "login",
        "feature_used",
        "logout",
        "ticket_opened",
        "survey_response",
        "signup",
    }


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "field, value",
    [
        ("accounts", 0),
        ("days", 0),
        ("late_fraction", 1.5),
        ("malformed_fraction", -0.1),
        ("end", 5),
    ],
)
def test_bad_configuration_is_one_sentence_naming_the_fix(field, value):
    with pytest.raises(ConfigError, match=r"(pass|must)"):
        GeneratorConfig(**{field: value})


def test_end_accepts_now_a_date_or_a_time_with_offset():
    assert parse_end("now", 123) == 123
    assert parse_end("2026-03-01", 0) == DEFAULT_END_MS
    assert parse_end("2026-03-01T01:00:00+01:00", 0) == DEFAULT_END_MS
    with pytest.raises(ConfigError, match="offset"):
        parse_end("2026-03-01T00:00:00", 0)
    with pytest.raises(ConfigError, match="not a time"):
        parse_end("yesterday", 0)


# --------------------------------------------------------------------------- the command


def parse_summary(stderr: str) -> tuple[Counter[str], Counter[str]]:
    """(by kind, valid events by type) from the summary the command prints."""
    by_kind: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    for line in stderr.splitlines():
        if line.startswith("by kind: "):
            for part in line.removeprefix("by kind: ").split(", "):
                kind, count = part.rsplit(" ", 1)
                by_kind[kind] = int(count.replace(",", ""))
        elif line.startswith("  ") and line.split()[0] in EVENT_TYPES:
            name, count = line.split()
            by_type[name] = int(count.replace(",", ""))
    return by_kind, by_type


def test_cli_writes_the_dataset_and_a_summary_that_matches_the_file(tmp_path):
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(
        generate_command, ["--accounts", "30", "--days", "20", "--seed", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = out.read_bytes().splitlines()
    decode = decoder().decode
    file_types = Counter(decode(line).type for line in lines)
    by_kind, by_type = parse_summary(result.stderr)
    assert by_kind["valid"] == len(lines) > 0
    assert by_type == file_types
    expected = [m.value for m in generate(GeneratorConfig(accounts=30, days=20, seed=2))]
    assert lines == expected


def test_cli_with_faults_counts_by_kind_and_by_type(tmp_path):
    out = tmp_path / "events.jsonl"
    args = [
        "--accounts",
        "25",
        "--days",
        "10",
        "--seed",
        "3",
        "--out",
        str(out),
        "--duplicates",
        "0.02",
        "--late",
        "0.02",
        "--malformed",
        "0.03",
    ]
    result = CliRunner().invoke(generate_command, args)
    assert result.exit_code == 0, result.output
    dataset = list(
        generate(
            GeneratorConfig(
                accounts=25,
                days=10,
                seed=3,
                duplicate_fraction=0.02,
                late_fraction=0.02,
                malformed_fraction=0.03,
            )
        )
    )
    assert out.read_bytes() == b"".join(m.value + b"\n" for m in dataset)
    summary = Summary()
    for message in dataset:
        summary.add(message)
    by_kind, by_type = parse_summary(result.stderr)
    assert by_kind == kinds(tuple(dataset)) == summary.by_kind and by_kind["malformed"] > 0
    assert by_type == Counter(m.type for m in dataset if m.kind == "valid") == summary.by_type
    assert sum(summary.by_reason.values()) == by_kind["malformed"]
    assert "malformed by reason: " in result.stderr


def test_cli_is_deterministic_on_stdout_and_explains_every_option():
    runner = CliRunner()
    first = runner.invoke(generate_command, ["--accounts", "5", "--days", "3", "--seed", "7"])
    second = runner.invoke(
        generate_command, ["--accounts", "5", "--days", "3", "--seed", "7", "--out", "-"]
    )
    assert first.exit_code == second.exit_code == 0
    assert first.stdout_bytes == second.stdout_bytes and first.stdout_bytes
    assert (
        hashlib.sha256(first.stdout_bytes).digest()
        != hashlib.sha256(
            runner.invoke(
                generate_command, ["--accounts", "5", "--days", "3", "--seed", "8"]
            ).stdout_bytes
        ).digest()
    )
    help_text = runner.invoke(generate_command, ["--help"]).output
    for option in (
        "--accounts",
        "--days",
        "--seed",
        "--end",
        "--out",
        "--bootstrap",
        "--topic-prefix",
        "--rate",
        "--duplicates",
        "--late",
        "--malformed",
        "--live",
    ):
        assert option in help_text
    assert help_text.count("default:") >= 10


@pytest.mark.parametrize(
    "args, message, code",
    [
        (["--end", "soon"], "is not a time", 2),
        (["--end", "2999-01-01", "--live"], "--end now", 2),
        (["--out", "x.jsonl", "--bootstrap", "127.0.0.1:9092"], "not both", 2),
        (["--out", "/nonexistent-dir/x.jsonl"], "cannot write", 1),
        (
            ["--bootstrap", "127.0.0.1:1"],
            "cannot reach Kafka at 127.0.0.1:1",
            1,
        ),  # nothing listens on port 1
    ],
)
def test_cli_errors_are_one_clear_line(args, message, code):
    """Exit 2 when the command line is wrong, 1 when the run fails."""
    result = CliRunner().invoke(generate_command, ["--accounts", "2", "--days", "1", *args])
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_helpdesk_that_closes_stale_tickets_leaves_no_old_ticket_open(monkeypatch):
    """bench_soak's steady world: a ticket left unanswered or unresolved is closed after
    about `stale_close_median_ms`, so the backlog does not pile up over a year."""
    from streams.contract.rfc3339 import parse_rfc3339_ms
    from streams.generator.support import Support

    def open_tickets_older_than(days: int) -> tuple[int, int]:
        opened: dict[str, int] = {}
        resolved: set[str] = set()
        config = GeneratorConfig(accounts=60, days=120, seed=2)
        for message in generate(config):
            event = orjson.loads(message.value)
            if event["type"] == "ticket_opened":
                opened[event["ticket_id"]] = parse_rfc3339_ms(event["occurred_at"])
            elif event["type"] == "ticket_resolved":
                resolved.add(event["ticket_id"])
        cutoff = config.end - days * DAY_MS
        old = [ticket for ticket, at in opened.items() if at < cutoff]
        return len(old), sum(ticket not in resolved for ticket in old)

    old, still_open = open_tickets_older_than(60)
    assert old > 40 and still_open > 0  # by default some tickets stay open for good
    monkeypatch.setattr(Support, "stale_close_median_ms", 10 * DAY_MS)
    old, still_open = open_tickets_older_than(60)
    assert old > 40 and still_open == 0


def test_a_missing_topic_is_one_sentence_naming_the_command_that_creates_it(monkeypatch):
    """Pure unit test: a stand-in producer whose send fails as aiokafka's does once its
    metadata wait for an unknown topic runs out (the integration suite runs the real one)."""

    class MissingTopics:
        def __init__(self, **_options):
            pass

        async def start(self):
            pass

        async def stop(self):
            pass

        async def flush(self):
            pass

        async def send(self, topic, value, key=None):
            raise UnknownTopicOrPartitionError()

    monkeypatch.setattr(aiokafka, "AIOKafkaProducer", MissingTopics)
    summary = Summary()
    messages = generate(GeneratorConfig(accounts=1, days=1, seed=1))
    with pytest.raises(PulseError) as raised:
        asyncio.run(
            produce(
                [(messages, Pacer(None))], "k:9092", "staging.", summary, Progress(print, summary)
            )
        )
    message = str(raised.value)
    assert message.startswith("Topic staging.pulse.") and "does not exist at k:9092" in message
    assert "pulse dev topics --bootstrap k:9092 --prefix 'staging.'" in message
