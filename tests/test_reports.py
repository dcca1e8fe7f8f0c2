"""`pulse report qbr` and `pulse report portfolio`: every figure equals the replay's.

Each figure in a report carries its exact value (`data-field`, `data-value`); the tests
compare them with `pulse accounts --as-of B` records and `pulse replay --as-of B` series of
the same file, and the data behind the charts (the records at each instant of the
period) with separate one-instant runs at several instants.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from streams.cli import main
from streams.cli.accounts import records_from_files
from streams.engine import cohorts
from streams.engine.records import to_json_ready
from streams.generator import GeneratorConfig, generate
from streams.pulse_config import PulseConfig
from streams.reports.portfolio import portfolio_context
from streams.reports.render import render
from streams.reports.timeline import Period, iter_points, points
from tests.test_history import one_instant

FROM, TO = "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reports") / "events.jsonl"
    config = GeneratorConfig(
        accounts=14, days=45, seed=9, late_fraction=0.02, duplicate_fraction=0.02
    )
    path.write_bytes(b"".join(message.value + b"\n" for message in generate(config)))
    return path


class Figures(HTMLParser):
    """data-field -> data-value (decoded JSON) of every figure in a page; also counts scripts and links."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, Any] = {}
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href", "xlink:href"):
            if (found.get(name) or "").startswith(("http:", "https:", "//")):
                self.external.append(f"{tag} {name}={found[name]}")
        if "data-field" in found:
            self.values[found["data-field"]] = orjson.loads(found["data-value"] or "null")


def figures(html: str) -> Figures:
    parser = Figures()
    parser.feed(html)
    return parser


def lookup(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for key in path.split("."):
        value = value[key]
    return value


def report(*args: str | Path) -> str:
    result = CliRunner().invoke(main, ["report", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def busiest_account(events: Path) -> str:
    """The account with the most tickets, so that support figures are not all empty."""
    counts: dict[str, int] = {}
    for line in events.read_bytes().splitlines():
        event = orjson.loads(line)
        if event["type"] == "ticket_replied":
            counts[event["account_id"]] = counts.get(event["account_id"], 0) + 1
    return max(sorted(counts), key=counts.__getitem__)


def test_every_qbr_figure_equals_pulse_accounts_and_replay_at_the_end(events: Path, tmp_path: Path):
    account = busiest_account(events)
    out = tmp_path / "qbr.html"
    report("qbr", account, events, "--from", FROM, "--to", TO, "--out", out)
    page = figures(out.read_text())
    assert page.scripts == 0 and page.external == []
    _, records = records_from_files((str(events),), TO, None)
    (record,) = [to_json_ready(r) for r in records if r["account_id"] == account]
    support = {key: value for key, value in page.values.items() if key.startswith("support.")}
    checked = {key: value for key, value in page.values.items() if not key.startswith("support.")}
    assert len(checked) >= 30
    for field, value in checked.items():
        expected = lookup(record, field)
        if field == "renewal_at" and value is not None:
            value = to_json_ready({"renewal_at": value})["renewal_at"]
        assert value == expected, field
    # first response and resolution times: the replay of this account's events alone, at the same instant
    own = tmp_path / "own.jsonl"
    own.write_bytes(
        b"".join(
            line + b"\n"
            for line in events.read_bytes().splitlines()
            if orjson.loads(line)["account_id"] == account
        )
    )
    series = one_instant(own.read_bytes().splitlines(), Period.parse(FROM, TO).end, PulseConfig())
    responses = series[("pulse_ticket_first_responses", (("window", "7d"),))]
    response_sum = series[("pulse_ticket_first_response_duration_sum_seconds", (("window", "7d"),))]
    assert support["support.first_response_avg_seconds"] == (
        response_sum / responses if responses else None
    )
    resolutions = series[("pulse_ticket_resolutions", (("window", "7d"),))]
    resolution_sum = series[("pulse_ticket_resolution_duration_sum_seconds", (("window", "7d"),))]
    assert support["support.resolution_avg_seconds"] == (
        resolution_sum / resolutions if resolutions else None
    )


def test_the_records_behind_the_charts_equal_pulse_accounts_at_those_instants(events: Path):
    period = Period.parse(FROM, TO)
    instants = period.instants()
    config = PulseConfig()
    timeline = points((str(events),), config, instants)
    for index in (0, 17, 38, len(instants) - 1):
        at, expected = records_from_files((str(events),), str(instants[index]), None)
        assert timeline[index].at == at
        assert timeline[index].records == expected, at


def test_the_band_totals_before_the_end_equal_pulse_accounts_at_those_instants(events: Path):
    """The portfolio's daily bands come from each account's band and MRR alone
    (`account_band_and_mrr`), without whole records: the same as the records give."""
    instants = Period.parse(FROM, TO).instants()
    chosen = [instants[0], instants[17], instants[38], instants[-1]]
    timeline = list(iter_points((str(events),), PulseConfig(), chosen, records_at={chosen[-1]}))
    assert [point.records == [] for point in timeline] == [True, True, True, False]
    for point in timeline:
        _, expected = records_from_files((str(events),), str(point.at), None)
        assert point.bands == [(r["health"]["band"], r["mrr"]) for r in expected], point.at
    assert {band for point in timeline for band, _ in point.bands} >= {"red", "green"}


def test_every_portfolio_figure_equals_replay_and_accounts_at_the_end(events: Path, tmp_path: Path):
    out = tmp_path / "portfolio.html"
    report("portfolio", events, "--from", FROM, "--to", TO, "--out", out)
    page = figures(out.read_text())
    assert page.scripts == 0 and page.external == []
    end = Period.parse(FROM, TO).end
    series = one_instant(events.read_bytes().splitlines(), end, PulseConfig())
    _, records = records_from_files((str(events),), TO, None)

    def one(name: str, **labels: str) -> float:
        return series[(name, tuple(sorted(labels.items())))]

    expected: dict[str, Any] = {
        "mrr": round(sum(v for (name, _), v in series.items() if name == "pulse_mrr"), 2),
        "nrr": one("pulse_net_revenue_retention_ratio", window="30d"),
        "grr": one("pulse_gross_revenue_retention_ratio", window="30d"),
        "churn": one("pulse_customer_churn_ratio", window="30d"),
        "tickets_opened_7d": one("pulse_tickets_opened", window="7d"),
        "csat": one("pulse_csat_ratio", window="90d"),
        "nps": one("pulse_nps_score", window="90d"),
        "ces": one("pulse_ces_score", window="90d"),
    }
    responses = one("pulse_ticket_first_responses", window="7d")
    expected["first_response_avg_seconds"] = (
        one("pulse_ticket_first_response_duration_sum_seconds", window="7d") / responses
        if responses
        else None
    )
    for kind in ("new", "expansion", "reactivation", "contraction", "churn"):
        expected[f"movements.{kind}"] = one("pulse_mrr_movement", kind=kind, window="30d")
    for band in ("red", "yellow", "green", "unknown"):
        members = [r for r in records if r["health"]["band"] == band]
        expected[f"bands.{band}.accounts"] = len(members)
        expected[f"bands.{band}.mrr"] = sum(float(r["mrr"]) for r in members)
    onboarding = cohorts.totals(r["onboarding"] for r in records)
    for key in ("activation_rate", "ttv_median_days", "completion_rate", "trial_conversion_rate"):
        expected[f"onboarding.{key}"] = onboarding[key]
    assert page.values == expected
    assert sum(
        expected[f"bands.{band}.accounts"] for band in ("red", "yellow", "green", "unknown")
    ) == len(records)


def test_an_unknown_account_and_a_bad_period_are_one_sentence(events: Path, tmp_path: Path):
    result = CliRunner().invoke(
        main,
        [
            "report",
            "qbr",
            "acct_nobody",
            str(events),
            "--from",
            FROM,
            "--to",
            TO,
            "--out",
            str(tmp_path / "x.html"),
        ],
    )
    assert result.exit_code == 1
    assert "Account acct_nobody has no events" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(
        main, ["report", "portfolio", str(events), "--from", TO, "--to", FROM]
    )
    assert result.exit_code == 2
    assert "give --to after --from" in result.output


class Cards(HTMLParser):
    """label text -> data-field of the figure in the same card, and every text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.texts: list[str] = []
        self._label: str | None = None
        self._in_label = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self._in_label = found.get("class") == "label"
        if "data-field" in found and self._label is not None:
            self.fields[self._label] = found["data-field"] or ""
            self._label = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._in_label and data.strip():
            self._label = data.strip()
            self._in_label = False


def test_the_qbr_seats_card_and_charts_name_the_seats_the_utilisation_is_computed_on(
    events: Path, tmp_path: Path
):
    out = tmp_path / "qbr.html"
    report("qbr", busiest_account(events), events, "--from", FROM, "--to", TO, "--out", out)
    html = out.read_text()
    cards = Cards()
    cards.feed(html)
    # license_utilisation = active_users_30d / seats_paid (docs/accounts.md): the card beside
    # it shows seats paid, and the charts say seats paid too
    assert cards.fields["Seats paid"] == "seats_paid"
    assert "Seats purchased" not in cards.fields
    text = " ".join(cards.texts).lower()
    assert "seats purchased" not in text
    assert "users 30d / seats paid" in text and "seats paid" in text


class Rows(HTMLParser):
    """The text of each table row, cells joined by " | "."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self._cells: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._cells = []
        elif tag in ("td", "th") and self._cells is not None:
            self._cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._cells is not None:
            self.rows.append(" | ".join(cell.strip() for cell in self._cells))
            self._cells = None

    def handle_data(self, data: str) -> None:
        if self._cells:
            self._cells[-1] += data


def onboarding_row(html: str) -> str:
    rows = Rows()
    rows.feed(html)
    (row,) = [row for row in rows.rows if row.startswith("Onboarding steps done")]
    return row


def test_the_qbr_onboarding_row_says_plainly_when_no_steps_are_configured(
    events: Path, tmp_path: Path
):
    account = busiest_account(events)
    out = tmp_path / "qbr.html"
    report("qbr", account, events, "--from", FROM, "--to", TO, "--out", out)
    row = onboarding_row(out.read_text())
    # no [accounts.onboarding] steps: there is nothing to count "of" (before: "2 of — (—)")
    assert "—" not in row.split(" | ")[-1] and not re.search(r"\d of", row), row
    assert "no list of steps configured" in row, row
    assert "none are listed" in out.read_text()  # and the note says where they are listed

    config = tmp_path / "pulse.toml"
    config.write_text(
        '[accounts.onboarding]\nsteps = ["create_workspace", "invite_teammates", "connect_data_source"]\n'
    )
    report("qbr", account, events, "--from", FROM, "--to", TO, "--config", config, "--out", out)
    page = out.read_text()
    row = onboarding_row(page)
    done = figures(page).values["onboarding.steps_done"]
    assert f"{done} of 3" in row, row


def test_the_band_table_writes_its_changes_with_thousands_separators(events: Path):
    """The portfolio's "change" columns of accounts and MRR per band read like the columns
    beside them (before: +74154.27 next to 84,988.14)."""
    context = portfolio_context((str(events),), Period.parse(FROM, TO), PulseConfig())
    context["first"]["bands"]["green"] = {"accounts": 10, "mrr": 1_000.25}
    context["last"]["bands"]["green"] = {"accounts": 2_010, "mrr": 1_234_567.75}
    rows = Rows()
    rows.feed(render("portfolio.html.j2", **context))
    (green,) = [row.split(" | ") for row in rows.rows if row.startswith("green")]
    assert green[1:] == ["10", "2,010", "+2,000", "1,000.25", "1,234,567.75", "+1,233,567.50"]


@pytest.mark.parametrize("kind", ["qbr", "portfolio"])
def test_every_chart_title_fits_on_one_line(kind: str, events: Path, tmp_path: Path):
    """pygal wraps a title wider than its chart into several title lines (before: "License
    utilisation (users 30d / seats" over "paid)" in the QBR's half-width chart)."""
    out = tmp_path / f"{kind}.html"
    account = (busiest_account(events),) if kind == "qbr" else ()
    report(kind, *account, events, "--from", FROM, "--to", TO, "--out", out)
    charts = out.read_text().split("<svg")[1:]
    titles = [re.findall(r'class="title plot_title">([^<]*)<', chart) for chart in charts]
    assert charts
    assert all(len(lines) == 1 for lines in titles), titles
