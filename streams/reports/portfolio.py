"""`pulse report portfolio FILE --from A --to B --out portfolio.html`: the monthly report for leadership.

Seed 002: irregular, hand-made reporting nearly got a CS team cut; this is the regular,
automated one. Month by month over the period (each month's first instant, and the end):
MRR and its 30-day movements, NRR and GRR, accounts and MRR per health band and their
change from the start of the period, the at-risk accounts (red band at the end) with
their owners, the onboarding cohorts, and support and sentiment trends.

Global figures are the engine's snapshot at each instant (what `pulse replay --as-of`
prints: the ratios are computed over every account); per-band figures and the at-risk
list are the account records at the same instant (`pulse accounts --as-of`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.contract.rfc3339 import moment_ms
from streams.engine import cohorts
from streams.engine.health import BANDS, UNKNOWN_BAND
from streams.pulse_config import PulseConfig
from streams.reports import charts
from streams.reports.render import day, render
from streams.reports.timeline import Period, Point, iter_points, sample_value

MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn")

AT_RISK_LISTED = 25
BAND_ORDER = (*BANDS, UNKNOWN_BAND)


def month_starts(period: Period) -> list[int]:
    """Midnight UTC of the first of each month within the period, then its end."""
    moment = datetime.fromtimestamp(period.start / 1000, UTC).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    out = [period.start]
    while True:
        moment = moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)
        at = moment_ms(moment)
        if at >= period.end:
            break
        out.append(at)
    return [*out, period.end]


def _figures(point: Point) -> dict[str, Any]:
    samples = point.samples or []
    mrr = sum(float(s.value) for s in samples if s.name == "pulse_mrr")
    movements = {
        kind: sample_value(samples, "pulse_mrr_movement", kind=kind, window="30d")
        for kind in MOVEMENTS
    }
    first_responses = sample_value(samples, "pulse_ticket_first_responses", window="7d") or 0.0
    resolutions = sample_value(samples, "pulse_ticket_resolutions", window="7d") or 0.0
    first_response_sum = (
        sample_value(samples, "pulse_ticket_first_response_duration_sum_seconds", window="7d")
        or 0.0
    )
    resolution_sum = (
        sample_value(samples, "pulse_ticket_resolution_duration_sum_seconds", window="7d") or 0.0
    )
    bands = {band: {"accounts": 0, "mrr": 0.0} for band in BAND_ORDER}
    for name, account_mrr in point.bands:
        band = bands.setdefault(name, {"accounts": 0, "mrr": 0.0})
        band["accounts"] += 1
        band["mrr"] += float(account_mrr)
    return {
        "at": point.at,
        "mrr": round(mrr, 2),
        "movements": movements,
        "nrr": sample_value(samples, "pulse_net_revenue_retention_ratio", window="30d"),
        "grr": sample_value(samples, "pulse_gross_revenue_retention_ratio", window="30d"),
        "churn": sample_value(samples, "pulse_customer_churn_ratio", window="30d"),
        "paying": sum(float(s.value) for s in samples if s.name == "pulse_paying_accounts"),
        "tickets_opened_7d": sample_value(samples, "pulse_tickets_opened", window="7d"),
        "first_response_avg_seconds": first_response_sum / first_responses
        if first_responses
        else None,
        "resolution_avg_seconds": resolution_sum / resolutions if resolutions else None,
        "csat": sample_value(samples, "pulse_csat_ratio", window="90d"),
        "nps": sample_value(samples, "pulse_nps_score", window="90d"),
        "ces": sample_value(samples, "pulse_ces_score", window="90d"),
        "bands": bands,
    }


def _weakest(record: dict[str, Any]) -> str:
    scored = [item for item in record["health"]["explanation"] if item["points"] is not None]
    return (
        min(scored, key=lambda item: (item["points"], item["measure"]))["measure"]
        if scored
        else "—"
    )


def portfolio_context(
    files: tuple[str, ...], period: Period, config: PulseConfig
) -> dict[str, Any]:
    months = month_starts(period)
    instants = sorted(set(period.instants(weekly_after_days=31)) | set(months))
    # Whole records at the end only (the at-risk list, the cohorts): before it the charts
    # read each account's band and MRR, and each point is reduced to its figures at once.
    figures, end_records = [], []
    for point in iter_points(files, config, instants, snapshots=True, records_at={period.end}):
        figures.append(_figures(point))
        end_records = point.records
    by_time = {f["at"]: f for f in figures}
    first, last = figures[0], figures[-1]
    at_risk = sorted(
        (r for r in end_records if r["health"]["band"] == "red"),
        key=lambda r: (-float(r["mrr"]), r["account_id"]),
    )
    labels = [day(f["at"]) for f in figures]
    currency = config.revenue.reporting_currency
    monthly = [by_time[at] for at in months]
    chart = {
        "mrr": charts.line(
            f"MRR ({currency})", labels, {"MRR": [f["mrr"] for f in figures]}, formatter="{:,.0f}"
        ),
        "movements": charts.bars(
            f"MRR movements, 30 days ({currency})",
            [day(f["at"]) for f in monthly],
            {kind: [f["movements"][kind] for f in monthly] for kind in MOVEMENTS},
            formatter="{:,.0f}",
            width=charts.HALF,
        ),
        "retention": charts.line(
            "NRR and GRR (30 days)",
            labels,
            {"NRR": [f["nrr"] for f in figures], "GRR": [f["grr"] for f in figures]},
            formatter="{:.0%}",
            y_min=None,
            width=charts.HALF,
        ),
        "bands": charts.bars(
            "Accounts per health band",
            labels,
            {
                band: [f["bands"].get(band, {}).get("accounts", 0) for f in figures]
                for band in BAND_ORDER
            },
            stacked=True,
            colours=[charts.BAND_COLOURS[b] for b in BAND_ORDER],
            width=charts.HALF,
        ),
        "support": charts.line(
            "Support: tickets opened in 7 days",
            labels,
            {"opened": [f["tickets_opened_7d"] for f in figures]},
            width=charts.HALF,
        ),
        "support_times": charts.support_times(
            labels,
            [f["first_response_avg_seconds"] for f in figures],
            [f["resolution_avg_seconds"] for f in figures],
        ),
        "sentiment": charts.sentiment(
            "Sentiment (90 days): NPS and CSAT x 100",
            labels,
            [f["nps"] for f in figures],
            [f["csat"] for f in figures],
        ),
    }
    return {
        "period": period,
        "first": first,
        "last": last,
        "monthly": monthly,
        "bands": BAND_ORDER,
        "at_risk": at_risk[:AT_RISK_LISTED],
        "at_risk_total": len(at_risk),
        "at_risk_mrr": sum(float(r["mrr"]) for r in at_risk),
        "weakest": _weakest,
        "onboarding": cohorts.totals(r["onboarding"] for r in end_records),
        "accounts": len(end_records),
        "chart": chart,
        "currency": currency,
        "movement_kinds": MOVEMENTS,
        "generated_from": ", ".join(files) or "stdin",
    }


def portfolio_html(files: tuple[str, ...], period: Period, config: PulseConfig) -> str:
    return render("portfolio.html.j2", **portfolio_context(files, period, config))
