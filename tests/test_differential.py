"""Differential tests: the engine (`pulse replay`, run as a black box) against the
independent oracle (tests/oracle: the definitions as DuckDB SQL) on generated datasets.

Each case generates a small dataset with its own seed, size and fault fractions
(duplicates, late and malformed lines), optionally shuffles it within the late policy,
replays it at two or three evaluation times (the end of the data; a time 13 days earlier,
so that later events are future or not applied; for every third seed also the default,
the latest applied occurred_at) and asserts that every metric the oracle
computes agrees: counts exactly, money to the cent, ratios and seconds to 1e-9 relative.
A failure lists every disagreement as `metric{labels}: engine=... oracle=...`.

A second set of cases replays small adversarial datasets (see below) that put events on
the same millisecond, on window edges and on session-gap boundaries on purpose.

Shuffles (see docs/testing.md), each checked to leave the oracle's answer unchanged:
- `within_day`: each account's valid lines are permuted among themselves within the UTC
  day of their occurred_at and between two of the account's other lines (the generator
  writes days in order, so no line moves by more than a day of stream time); duplicate,
  late and malformed lines keep their positions and the set of lines before them.
- `global`: any permutation of all lines, for datasets whose activity spans less than the
  35-day activity horizon and that have no late events.
- `topics_lead`: the topics interleaved at random, each in its own order (as a worker
  reading several topics sees them), with billing and tickets delivered 50 days ahead of
  activity, lifecycle and surveys. Admission's stream time is per (account, topic), so the
  answer must not change; an engine with a clock of its own, shared by all topics, would
  drop activity that admission accepted.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from streams.cli.replay import replay
from streams.generator import GeneratedMessage, GeneratorConfig, generate
from tests.oracle import Oracle, Policy
from tests.oracle.compare import compare, parse_exposition
from tests.oracle.oracle import usd_rate_rows

DAY = 86_400_000
END = 1_772_323_200_000  # 2026-03-01T00:00:00Z
MIDDLE = END - 13 * DAY - 37 * 60_000 - 123  # a T in the past, off the day grid
# The reporting currency's rate table, given to the engine by --config and to the oracle.
RATES = {"USD": Decimal("1"), "EUR": Decimal("1.0825"), "GBP": Decimal("1.2675")}
CONFIG_TOML = '[revenue]\nreporting_currency = "USD"\n' + "".join(
    f'rates.{currency} = "{rate}"\n' for currency, rate in RATES.items()
)


@dataclass(frozen=True)
class Case:
    seed: int
    accounts: int
    days: int = 40
    duplicates: float = 0.0
    late: float = 0.0
    malformed: float = 0.0
    shuffle: str | None = None  # None | "within_day" | "global" | "topics_lead"

    @property
    def evaluation_times(self) -> tuple[int | None, ...]:
        """The end of the data, a T in the past, and for every third seed also the default
        (no --as-of: the latest applied occurred_at, with no future check)."""
        return (END, MIDDLE, None) if self.seed % 3 == 0 else (END, MIDDLE)

    @property
    def id(self) -> str:
        shuffled = f"-{self.shuffle}" if self.shuffle else ""
        return f"seed{self.seed}-{self.accounts}x{self.days}d{shuffled}"


def seeded_case(seed: int, shuffle: str | None = None) -> Case:
    """15 to 30 accounts over 40 days, with 0-3 % duplicates, 0-2 % late, 0-2 % malformed."""
    return Case(
        seed,
        accounts=15 + (seed * 7) % 16,
        duplicates=0.01 * (seed % 4),
        late=0.01 * (seed % 3),
        malformed=0.01 * ((seed + 1) % 3),
        shuffle=shuffle,
    )


CASES = [seeded_case(seed) for seed in range(1, 23)] + [
    # The same datasets as seeds 3, 8 and 13, reordered.
    seeded_case(3, "within_day"),
    seeded_case(8, "within_day"),
    seeded_case(13, "within_day"),
    # 120 days, billing and tickets delivered 50 days ahead of the other topics, with every
    # kind of fault. 13 accounts (2,925 lines: 33 late, 25 duplicate, 21 malformed) fail as
    # 16 did when admission keeps one stream time per account instead of one per topic
    # (16 disagreements); at 14 accounts and more the generator adds an account of 80,000
    # lines, five times the cost for the same proof of the per-topic stream time.
    Case(
        41, accounts=13, days=120, duplicates=0.01, late=0.01, malformed=0.01, shuffle="topics_lead"
    ),
    Case(42, accounts=12, days=150, duplicates=0.02, shuffle="topics_lead"),
    # Longer than a year, so that the 90- and 365-day retention cohorts are not empty.
    Case(43, accounts=10, days=400, duplicates=0.01, late=0.01, malformed=0.01),
    # Activity spans at most 30 days and nothing is late: any order stays within the policy.
    Case(31, accounts=20, days=30, duplicates=0.02, malformed=0.02, shuffle="global"),
    Case(32, accounts=16, days=25, duplicates=0.03, shuffle="global"),
]


def rfc3339(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def generated(case: Case) -> list[GeneratedMessage]:
    return list(
        generate(
            GeneratorConfig(
                accounts=case.accounts,
                days=case.days,
                seed=case.seed,
                end=END,
                duplicate_fraction=case.duplicates,
                late_fraction=case.late,
                malformed_fraction=case.malformed,
            )
        )
    )


def write_jsonl(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def _utc_day(line: bytes) -> int:
    occurred_at = datetime.fromisoformat(orjson.loads(line)["occurred_at"].upper())
    return int(occurred_at.timestamp() * 1000) // DAY


LEADING_TOPICS = frozenset({"pulse.billing", "pulse.tickets"})
LEAD = 50 * DAY


def across_topics(messages: list[GeneratedMessage], rng: random.Random) -> list[bytes]:
    """Every topic's lines in their own order, the topics interleaved at random, billing and
    tickets LEAD ahead: each line is delivered at its occurred_at (minus LEAD on a leading
    topic) plus up to two days of jitter, never before the line ahead of it on its topic."""
    keyed: list[tuple[float, int, bytes]] = []
    latest: dict[str, float] = defaultdict(lambda: float("-inf"))
    at: dict[str, float] = defaultdict(float)
    for number, message in enumerate(messages):
        topic = message.topic
        try:
            at[topic] = _occurred_ms(message.value)
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # a malformed line goes where its topic's previous line went
        delivery = at[topic] - (LEAD if topic in LEADING_TOPICS else 0) + rng.uniform(0, 2 * DAY)
        latest[topic] = max(latest[topic], delivery)
        keyed.append((latest[topic], number, message.value))  # equal times: the original order
    keyed.sort()
    return [line for _, _, line in keyed]


def _occurred_ms(line: bytes) -> float:
    text = orjson.loads(line)["occurred_at"]
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).timestamp() * 1000


def shuffled(messages: list[GeneratedMessage], mode: str, seed: int) -> list[bytes]:
    """The lines of `messages` in another order that stays within the late policy."""
    rng = random.Random(seed)
    lines = [message.value for message in messages]
    if mode == "topics_lead":
        return across_topics(messages, rng)
    if mode == "global":
        rng.shuffle(lines)
        return lines
    # Runs of an account's valid lines within one day, cut at each of its other lines: a
    # late or duplicate line then has exactly the same lines before it as in the original.
    positions_by_run: dict[tuple[str, int, int], list[int]] = defaultdict(list)
    cuts: dict[str, int] = defaultdict(int)
    for position, message in enumerate(messages):
        account = message.key.decode()
        if message.kind != "valid":
            cuts[account] += 1
            continue
        positions_by_run[(account, _utc_day(message.value), cuts[account])].append(position)
    for positions in positions_by_run.values():
        moved = [lines[position] for position in positions]
        rng.shuffle(moved)
        for position, line in zip(positions, moved, strict=True):
            lines[position] = line
    return lines


def engine_exposition(
    dataset: Path,
    as_of: int | None,
    workdir: Path,
    revenue_toml: str = "",
    config_toml: str = CONFIG_TOML,
) -> str:
    config = workdir / "pulse.toml"
    config.write_text(config_toml + revenue_toml)
    out = workdir / f"metrics-{as_of}.prom"
    clock = [] if as_of is None else ["--as-of", rfc3339(as_of)]
    result = CliRunner().invoke(
        replay,
        [str(dataset), *clock, "--out", str(out), "--config", str(config)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return out.read_text()


def disagreements(
    dataset: Path,
    oracle: Oracle,
    workdir: Path,
    name: str,
    times: tuple[int | None, ...],
    revenue_toml: str = "",
    config_toml: str = CONFIG_TOML,
) -> list[str]:
    report: list[str] = []
    for as_of in times:
        exposition = engine_exposition(dataset, as_of, workdir, revenue_toml, config_toml)
        mismatches = compare(oracle.metrics(as_of), parse_exposition(exposition))
        when = "default" if as_of is None else rfc3339(as_of)
        report += [f"{name} as-of {when}: {mismatch}" for mismatch in mismatches]
    return report


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_engine_agrees_with_the_oracle(case: Case, tmp_path: Path) -> None:
    dataset = tmp_path / "events.jsonl"
    messages = generated(case)
    write_jsonl(dataset, [message.value for message in messages])
    if case.shuffle:
        with Oracle(dataset, rates=RATES) as original:
            expected = {as_of: original.metrics(as_of) for as_of in case.evaluation_times}
        write_jsonl(dataset, shuffled(messages, case.shuffle, case.seed))
    with Oracle(dataset, rates=RATES) as oracle:
        if case.shuffle:  # the shuffle itself must stay within the late policy
            for as_of, metrics in expected.items():
                assert oracle.metrics(as_of) == metrics, (
                    f"the {case.shuffle} shuffle changed the oracle's answer"
                )
        report = disagreements(dataset, oracle, tmp_path, case.id, case.evaluation_times)
    assert not report, "engine != oracle:\n" + "\n".join(report)


# --- adversarial datasets ------------------------------------------------------------
# Generated telemetry almost never lands two events on the same millisecond, a session
# gap on exactly 30 minutes or an event exactly on a window edge. These small random
# datasets do so on purpose: every time sits on a 5-minute grid (sometimes 1 ms past it),
# the evaluation times sit on the same grid, and the lines arrive in random order with
# restarts of the same subscription, backdated and future-dated cancels, trials ending on
# the grid, replies before openings, tickets never opened and re-sent lines.

GRID = 5 * 60_000
SPAN_DAYS = 40


def _adversarial_events(rng: random.Random, hot_slots: list[int]) -> list[dict[str, object]]:
    start = END - SPAN_DAYS * DAY

    def when() -> int:
        slot = (
            rng.choice(hot_slots) + rng.choice((0, 0, 1, 6, 7))
            if rng.random() < 0.6
            else rng.randrange(SPAN_DAYS * DAY // GRID)
        )
        return start + slot * GRID + rng.choice((0, 0, 0, 1))

    events: list[dict[str, object]] = []
    for number in range(rng.randrange(300, 500)):
        account = f"acct{rng.randrange(3)}"
        kind = rng.choices(
            ["session", "ticket", "billing", "survey", "lifecycle", "payment"],
            weights=[10, 5, 5, 2, 1, 1],
        )[0]
        base: dict[str, object] = {
            "event_id": f"x{number}",
            "occurred_at": when(),
            "account_id": account,
        }
        if kind == "session":
            base |= {
                "type": rng.choice(["login", "feature_used", "feature_used", "logout"]),
                "user_id": f"u{rng.randrange(3)}",
            }
            if base["type"] == "feature_used":
                base["feature"] = rng.choice(["search", "export", "alerts"])
            elif rng.random() < 0.5:  # two devices' sessions interleave; some carry no id
                base["session_id"] = rng.choice(["s1", "s2", "s3"])
        elif kind == "ticket":
            base |= {
                "type": rng.choice(
                    [
                        "ticket_opened",
                        "ticket_opened",
                        "ticket_replied",
                        "ticket_resolved",
                        "ticket_reopened",
                        "ticket_rated",
                    ]
                ),
                "ticket_id": f"t{rng.randrange(2)}",
            }
            if base["type"] == "ticket_replied":
                base["author"] = rng.choice(["agent", "customer"])
            if base["type"] == "ticket_rated":
                base["rating"] = rng.randrange(1, 6)
        elif kind == "billing":
            base |= {
                "type": rng.choice(
                    ["subscription_started", "subscription_changed", "subscription_canceled"]
                ),
                "subscription_id": f"s{rng.randrange(2)}",
            }
            if base["type"] == "subscription_canceled":
                if rng.random() < 0.3:
                    base["effective_at"] = when()  # earlier (backdated) or later (period end)
                elif rng.random() < 0.5:
                    base["effective_at"] = base["occurred_at"] + rng.randrange(0, 10 * DAY, GRID)  # type: ignore[operator]
            else:
                base |= {
                    "plan": rng.choice(["starter", "growth"]),
                    "amount": rng.choice([0, 0.05, 9.99, 10, 120, 999.5]),
                    "currency": rng.choice(["USD", "EUR", "GBP"]),
                    "interval": rng.choice(["day", "week", "month", "quarter", "year"]),
                    "interval_count": rng.choice([1, 1, 2, 3]),
                    "quantity": rng.randrange(1, 6),
                    "discount_percent": rng.choice([0, 0, 12.5, 100]),
                }
                if rng.random() < 0.3:
                    base["trial_ends_at"] = base["occurred_at"] + rng.randrange(0, 20 * DAY, GRID)  # type: ignore[operator]
        elif kind == "survey":
            survey = rng.choice(["nps", "csat", "ces"])
            base |= {
                "type": "survey_response",
                "survey": survey,
                "score": rng.randrange(
                    {"nps": 0, "csat": 1, "ces": 1}[survey],
                    {"nps": 11, "csat": 6, "ces": 8}[survey],
                ),
            }
            if survey == "ces" and rng.random() < 0.5:  # a stated direction, either way
                base["scale"] = rng.choice(["higher_is_easier", "higher_is_harder"])
        elif kind == "lifecycle":
            base |= {
                "type": rng.choice(["signup", "onboarding_step_completed", "onboarding_completed"]),
                "user_id": f"u{rng.randrange(3)}",
            }
            if base["type"] == "onboarding_step_completed":
                base["step"] = "profile"
        else:
            base |= {
                "type": rng.choice(["payment_failed", "payment_succeeded"]),
                "subscription_id": "s0",
                "amount": rng.choice([10, 0.333, 49.99]),
                "currency": rng.choice(["USD", "EUR", "GBP"]),
            }
        events.append(base)
    return events


def adversarial_lines(seed: int) -> tuple[list[bytes], tuple[int | None, ...]]:
    """The lines, and evaluation times: 30 minutes and one day after a crowded instant
    (so that session closing and window edges fall exactly on events), the latest event,
    and the default."""
    rng = random.Random(seed)
    hot_slots = [rng.randrange(SPAN_DAYS * DAY // GRID) for _ in range(25)]
    events = _adversarial_events(rng, hot_slots)
    times = {"occurred_at", "effective_at", "trial_ends_at"}
    lines = [
        orjson.dumps(
            {
                key: rfc3339(value) if key in times else value  # type: ignore[arg-type]
                for key, value in event.items()
            }
        )
        for event in events
    ]
    lines += rng.sample(lines, len(lines) // 20)  # re-sent copies
    rng.shuffle(lines)
    latest = max(int(event["occurred_at"]) for event in events)  # type: ignore[call-overload]
    start = END - SPAN_DAYS * DAY
    crowded = sorted(hot_slots)[len(hot_slots) // 2] * GRID + start
    return lines, (crowded + 6 * GRID, crowded + DAY, latest, None)


@pytest.mark.parametrize("seed", range(101, 113))
def test_engine_agrees_with_the_oracle_on_adversarial_data(seed: int, tmp_path: Path) -> None:
    dataset = tmp_path / "events.jsonl"
    lines, times = adversarial_lines(seed)
    write_jsonl(dataset, lines)
    with Oracle(dataset, rates=RATES) as oracle:
        report = disagreements(dataset, oracle, tmp_path, f"adversarial{seed}", times)
    assert not report, "engine != oracle:\n" + "\n".join(report)


KNOB_SETTINGS = {
    # a move to a free subscription is churn
    "free-churned": (Policy(free_subscriptions="churned"), 'free_subscriptions = "churned"\n'),
    # a backdated cancel rewrites the past from its effective time
    "backdated-rewrite": (
        Policy(backdated_cancellations="rewrite"),
        'backdated_cancellations = "rewrite"\n',
    ),
    # failed payments never change MRR; and a short dunning window
    "dunning-off": (Policy(dunning_window_days=None), 'dunning_window_days = "off"\n'),
    "dunning-3d": (Policy(dunning_window_days=3), "dunning_window_days = 3\n"),
    # calendar days in a zone with a quarter-hour offset, and one west of UTC
    "tz-kathmandu": (
        Policy(time_zone="Asia/Kathmandu"),
        '[engine]\ntime_zone = "Asia/Kathmandu"\n',
    ),
    "tz-los-angeles": (
        Policy(time_zone="America/Los_Angeles"),
        '[engine]\ntime_zone = "America/Los_Angeles"\n',
    ),
    # who is active: one core feature; feature use alone
    "core-search": (Policy(core_features=("search",)), '[engine]\ncore_features = ["search"]\n'),
    "features-only": (
        Policy(activity_types=("feature_used",), core_features=("export", "alerts")),
        '[engine]\nactivity_types = ["feature_used"]\ncore_features = ["export", "alerts"]\n',
    ),
}


@pytest.mark.parametrize("setting", sorted(KNOB_SETTINGS))
@pytest.mark.parametrize("seed", range(101, 105))
def test_the_other_knob_settings_agree_with_the_oracle(
    seed: int, setting: str, tmp_path: Path
) -> None:
    """The adversarial data (free prices, 100 % discounts, backdated cancels) under the
    other setting of a revenue or engine knob the oracle follows."""
    policy, revenue_toml = KNOB_SETTINGS[setting]
    dataset = tmp_path / "events.jsonl"
    lines, times = adversarial_lines(seed)
    write_jsonl(dataset, lines)
    with Oracle(dataset, rates=RATES, policy=policy) as oracle:
        report = disagreements(
            dataset, oracle, tmp_path, f"adversarial{seed}-{setting}", times, revenue_toml
        )
    assert not report, "engine != oracle:\n" + "\n".join(report)


# --- dated exchange rates ------------------------------------------------------------


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


# EUR and GBP change rate inside the adversarial span (END - 40d .. END); EUR starts after
# the span does, so its earliest events have no rate and are dead-lettered by both sides.
DATED_CSV = "date,currency,usd_per_unit\n" + "".join(
    f"{_day(END - days * DAY)},{code},{rate}\n"
    for days, code, rate in (
        (35, "EUR", "1.05"),
        (20, "EUR", "1.1"),
        (9, "EUR", "1.0825"),
        (45, "GBP", "1.25"),
        (12, "GBP", "1.3125"),
    )
)


@pytest.mark.parametrize("seed", range(101, 105))
def test_dated_exchange_rates_agree_with_the_oracle(seed: int, tmp_path: Path) -> None:
    """A rates_file with rates changing inside the data: terms and payments convert at the
    rate in force at their occurred_at, on both sides."""
    (tmp_path / "rates.csv").write_text(DATED_CSV)
    dataset = tmp_path / "events.jsonl"
    lines, times = adversarial_lines(seed)
    write_jsonl(dataset, lines)
    config_toml = '[revenue]\nreporting_currency = "USD"\nrates_file = "rates.csv"\n'
    with Oracle(dataset, rates=usd_rate_rows(DATED_CSV)) as oracle:
        assert oracle.metrics(None).get(
            ("pulse_events_rejected_total", (("reason", "no_exchange_rate"),))
        )
        report = disagreements(
            dataset, oracle, tmp_path, f"adversarial{seed}-dated", times, config_toml=config_toml
        )
    assert not report, "engine != oracle:\n" + "\n".join(report)
