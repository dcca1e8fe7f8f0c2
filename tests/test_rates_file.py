"""Dated exchange rates at the edge: the rates file, the decoder's currency checks, and
seed 000's rouble example through `pulse replay` (issue 16, item 7)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from streams.cli import main
from streams.contract.decoding import Rejection
from streams.errors import ConfigError
from streams.pulse_config import load_config
from tests.test_replay import metrics

RATES_CSV = """# a test table
date,currency,usd_per_unit
2026-01-01,EUR,1.00
2026-02-01,EUR,1.20
2026-01-01,RUB,0.01
"""


def billing(event_id: str, at: str, currency: str, amount: object = 300, **fields: object) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "type": "subscription_started",
            "occurred_at": at,
            "account_id": fields.pop("account", "acme"),
            "subscription_id": fields.pop("sub", event_id),
            "plan": "pro",
            "amount": amount,
            "currency": currency,
            "interval": "month",
            **fields,
        }
    )


def config_with(tmp_path: Path, body: str, table: str | None = RATES_CSV) -> Path:
    if table is not None:
        (tmp_path / "rates.csv").write_text(table)
    path = tmp_path / "pulse.toml"
    path.write_text(body)
    return path


def test_a_relative_rates_file_is_read_from_the_config_directory(tmp_path: Path) -> None:
    config = load_config(config_with(tmp_path, '[revenue]\nrates_file = "rates.csv"\n'))
    assert config.revenue.rate("EUR", 1_769_904_000_000) == Decimal("1.20")  # 2026-02-01
    assert config.revenue.rate("GBP", 1_769_904_000_000) is None  # not in this table


def test_the_decoder_tells_an_unknown_code_from_a_missing_rate(tmp_path: Path) -> None:
    decoder = load_config(config_with(tmp_path, '[revenue]\nrates_file = "rates.csv"\n')).decoder()
    accepted = decoder.decode(billing("a", "2026-01-15T00:00:00Z", "RUB"))
    assert not isinstance(accepted, Rejection)
    cases = {
        "ZZZ": ("2026-01-15T00:00:00Z", "unknown_currency"),  # not an ISO 4217 code
        "GBP": ("2026-01-15T00:00:00Z", "no_exchange_rate"),  # ISO, but not in this table
        "EUR": ("2025-12-31T23:59:59.999Z", "no_exchange_rate"),  # before its first date
    }
    for code, (at, reason) in cases.items():
        rejected = decoder.decode(billing("b", at, code))
        assert isinstance(rejected, Rejection) and rejected.reason == reason, code
    payment = orjson.dumps(
        {
            "event_id": "p",
            "type": "payment_failed",
            "occurred_at": "2026-01-15T00:00:00Z",
            "account_id": "acme",
            "subscription_id": "s",
            "amount": 5,
            "currency": "KZT",
        }
    )
    assert decoder.decode(payment).reason == "no_exchange_rate"  # type: ignore[union-attr]


def test_the_shipped_table_accepts_the_full_iso_list_where_it_knows_a_rate() -> None:
    decoder = load_config(None).decoder()
    assert not isinstance(decoder.decode(billing("a", "2026-03-01T00:00:00Z", "RUB")), Rejection)
    assert not isinstance(decoder.decode(billing("b", "2026-03-01T00:00:00Z", "AED")), Rejection)
    assert decoder.decode(billing("c", "2026-03-01T00:00:00Z", "KZT")).reason == "no_exchange_rate"  # type: ignore[union-attr]
    assert decoder.decode(billing("d", "2024-12-31T00:00:00Z", "EUR")).reason == "no_exchange_rate"  # type: ignore[union-attr]
    assert not isinstance(
        decoder.decode(billing("e", "2001-01-01T00:00:00Z", "USD")), Rejection
    )  # the base


@pytest.mark.parametrize(
    ("table", "names"),
    [
        ("", "no rows"),
        ("day,code,rate\n2026-01-01,EUR,1\n", "header"),
        ("date,currency,usd_per_unit\n2026-13-01,EUR,1\n", "line 2"),
        ("date,currency,usd_per_unit\n2026-01-01,eur,1\n", "'eur'"),
        ("date,currency,usd_per_unit\n2026-01-01,EUR,-1\n", "'-1'"),
        ("date,currency,usd_per_unit\n2026-01-01,EUR\n", "3 cells"),
        ("date,currency,usd_per_unit\n2026-01-01,EUR,1\n2026-01-01,EUR,2\n", "two rates"),
    ],
)
def test_a_bad_rates_file_is_one_sentence_naming_the_fix(
    tmp_path: Path, table: str, names: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(config_with(tmp_path, '[revenue]\nrates_file = "rates.csv"\n', table))
    message = str(raised.value)
    assert names in message and "rates.csv" in message and "fix it" in message
    assert message.endswith(".") and "\n" not in message


def test_a_missing_rates_file_and_a_bad_setting_name_the_fix(tmp_path: Path) -> None:
    for body, names in (
        ('[revenue]\nrates_file = "nowhere.csv"\n', "does not exist"),
        ("[revenue]\nrates_file = 3\n", "must be the path"),
    ):
        with pytest.raises(ConfigError) as raised:
            load_config(config_with(tmp_path, body, None))
        assert names in str(raised.value) and "\n" not in str(raised.value)


def test_replay_reports_a_bad_rates_file_without_a_traceback(tmp_path: Path) -> None:
    config = config_with(tmp_path, '[revenue]\nrates_file = "rates.csv"\n', "date,currency\n")
    source = tmp_path / "events.jsonl"
    source.write_bytes(billing("a", "2026-03-01T00:00:00Z", "USD") + b"\n")
    result = CliRunner().invoke(main, ["replay", str(source), "--config", str(config)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "rates_file" in result.output


def test_seed_000_rouble_example_is_counted_not_dead_lettered(tmp_path: Path) -> None:
    """Seed 000's MRR example in roubles (1000/year, 300/month, 200/quarter, 500 every 3
    months: 616.67 a month) through `pulse replay` with the shipped table."""
    at = "2026-03-01T00:00:00Z"
    lines = [
        billing("s1", at, "RUB", 1000, interval="year"),
        billing("s2", at, "RUB", 300),
        billing("s3", at, "RUB", 200, interval="quarter"),
        billing("s4", at, "RUB", 500, interval="month", interval_count=3),
    ]
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    for body, expected in (("", 6.07), ('[revenue]\nreporting_currency = "RUB"\n', 616.67)):
        config = tmp_path / "pulse.toml"
        config.write_text(body)
        out = tmp_path / "metrics.prom"
        result = CliRunner().invoke(
            main, ["replay", str(source), "--out", str(out), "--config", str(config)]
        )
        assert result.exit_code == 0, result.output
        values = metrics(out.read_text())
        assert not any(
            name == "pulse_events_rejected_total" and value for (name, _l), value in values.items()
        )
        assert values[("pulse_mrr", (("plan", "pro"),))] == pytest.approx(expected)
