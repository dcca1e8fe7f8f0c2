"""`pulse report qbr ACCOUNT --from A --to B FILE --out qbr.html`: a QBR pack for one account.

The sections of a quarterly business review (seed 003 and 000): summary (health band,
score, trend, the three measures that moved it most over the period), usage (active users
and license utilisation over the period, adoption of the plan's features), onboarding and
value milestones, support (tickets, first response and resolution times, CSAT), sentiment
(NPS, CES), revenue (MRR over the period, its movements, renewal) and risks with
suggested next steps, derived from the health explanation.

Every figure is the account record (`streams.engine.records`) or the engine's support
tally at an instant of the period, computed by one incremental pass over the events
(`streams.reports.timeline`): the record at the end of the period is the one
`pulse accounts --as-of B` gives. "Moved it most" compares each measure's contribution
to the score at the start of the period (or the account's first day in it) and at its end.
"""

from __future__ import annotations

from typing import Any

from streams.cli.replay import ReplayError
from streams.contract.rfc3339 import rfc3339_ms
from streams.engine.support import SupportTotals
from streams.pulse_config import PulseConfig
from streams.reports import charts
from streams.reports.render import day, render
from streams.reports.timeline import Period, points

RISK_POINTS = 50.0
"""A measure scoring at most this many points (of 100) is listed as a risk."""

NEXT_STEPS: dict[str, str] = {
    "stickiness": "Review daily workflows with the champion: which daily work is not in the product yet?",
    "active_users_30d": "Map the teams that should be using the product and plan their roll-out.",
    "days_since_activity": "Reach out this week: nobody has used the product recently.",
    "sessions_7d_per_active_user": "Share usage tips and templates that bring people back during the week.",
    "license_utilisation": "Run a seat activation push: invite people to the unused seats, or right-size at renewal.",
    "plan_feature_adoption": "Schedule enablement on the entitled features the account does not use yet.",
    "urgent_tickets_open": "Escalate the open urgent tickets with support and update the customer daily.",
    "tickets_open": "Review the open tickets with support and agree dates with the customer.",
    "tickets_opened_30d": "Look for the root cause behind the ticket volume (training, a defect, a missing feature).",
    "csat": "Read the low-rated tickets and call back the people who rated them.",
    "nps": "Close the loop with detractors and turn their comments into a plan.",
    "ces": "Find where the product is hard to use for them and remove the friction.",
    "days_past_due": "Sort out the overdue payment with finance before the renewal conversation.",
    "mrr_change_30d_ratio": "Understand the contraction: which team or use case left, and can it come back?",
    "onboarding_progress": "Book a session to finish the remaining onboarding steps.",
    "days_since_onboarding_step": "Onboarding has stalled: contact the admin and unblock the next step.",
    "activated": "Drive the account to its activation milestone with a guided session.",
}


def _movers(first: dict[str, Any], last: dict[str, Any], count: int = 3) -> list[dict[str, Any]]:
    """The measures whose contribution to the score changed most between two records."""
    before = {item["measure"]: item for item in first["health"]["explanation"]}
    moved = []
    for item in last["health"]["explanation"]:
        then = before.get(item["measure"], {})
        old, new = then.get("contribution"), item["contribution"]
        if old is None and new is None:
            continue
        change = (new or 0.0) - (old or 0.0)
        if change:
            moved.append(
                {
                    **item,
                    "value_before": then.get("value"),
                    "contribution_before": old,
                    "change": change,
                }
            )
    moved.sort(key=lambda item: (-abs(item["change"]), item["measure"]))
    return moved[:count]


def _risks(record: dict[str, Any]) -> list[dict[str, Any]]:
    risks = [
        {
            **item,
            "next_step": NEXT_STEPS.get(
                item["measure"], f"Review {item['measure']} with the account team."
            ),
        }
        for item in record["health"]["explanation"]
        if item["points"] is not None and item["points"] <= RISK_POINTS
    ]
    risks.sort(key=lambda item: (item["points"], item["measure"]))
    return risks


def _support(totals: SupportTotals) -> dict[str, Any]:
    return {
        "first_responses_7d": totals.first_responses,
        "first_response_avg_seconds": totals.first_response_ms / totals.first_responses / 1000
        if totals.first_responses
        else None,
        "resolutions_7d": totals.resolutions,
        "resolution_avg_seconds": totals.resolution_ms / totals.resolutions / 1000
        if totals.resolutions
        else None,
        "resolved_7d": totals.resolved,
        "reopened_7d": totals.reopened,
    }


def qbr_context(
    files: tuple[str, ...], account_id: str, period: Period, config: PulseConfig
) -> dict[str, Any]:
    timeline = points(files, config, period.instants(), account_id)
    known = [(p.at, p.records[0], p.support[account_id]) for p in timeline if p.records]
    if not known or known[-1][0] != period.end:
        raise ReplayError(
            f"Account {account_id} has no events at or before --to {rfc3339_ms(period.end)}: "
            "check the account id (pulse accounts lists every account) and the period."
        )
    first, last = known[0][1], known[-1][1]
    labels = [day(at) for at, _, _ in known]

    def series(path: str) -> list[float | None]:
        values = []
        for _, record, _ in known:
            value: Any = record
            for key in path.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            values.append(None if value is None else float(value))
        return values

    supports = [_support(totals) for _, _, totals in known]
    currency = config.revenue.reporting_currency
    features = last["feature_adoption"]
    chart = {
        "health": charts.line(
            "Health score", labels, {"score": series("health.score")}, y_max=100.0
        ),
        "users": charts.line(
            "Active users",
            labels,
            {
                "1 day": series("active_users_1d"),
                "7 days": series("active_users_7d"),
                "30 days": series("active_users_30d"),
                "seats paid": series("seats_paid"),
            },
        ),
        "utilisation": charts.line(
            "License utilisation",
            labels,
            {"users 30d / seats paid": series("license_utilisation")},
            formatter="{:.0%}",
            y_max=max([1.0, *(v for v in series("license_utilisation") if v is not None)]),
            width=charts.HALF,
        ),
        "features": charts.bars(
            "Adoption of the plan's features (30 days)",
            list(features),
            {
                "users of the feature / active users": [
                    float(v) if v is not None else None for v in features.values()
                ]
            },
            formatter="{:.0%}",
            horizontal=True,
            width=charts.HALF,
        )
        if features
        else None,
        "support": charts.line(
            "Tickets",
            labels,
            {"open": series("tickets_open"), "opened in 30 days": series("tickets_opened_30d")},
            width=charts.HALF,
        ),
        "support_times": charts.support_times(
            labels,
            [s["first_response_avg_seconds"] for s in supports],
            [s["resolution_avg_seconds"] for s in supports],
        ),
        "sentiment": charts.sentiment(
            "NPS and CSAT (90 days)", labels, series("nps_90d"), series("csat_90d")
        ),
        "mrr": charts.line(
            f"MRR ({currency})", labels, {"MRR": series("mrr")}, formatter="{:,.2f}"
        ),
    }
    return {
        "account_id": account_id,
        "period": period,
        "first": first,
        "last": last,
        "first_at": known[0][0],
        "movers": _movers(first, last),
        "risks": _risks(last),
        "support": supports[-1],
        "chart": chart,
        "currency": currency,
        "mrr_change": float(last["mrr"]) - float(first["mrr"]),
        "points": len(known),
        "generated_from": ", ".join(files) or "stdin",
    }


def qbr_html(files: tuple[str, ...], account_id: str, period: Period, config: PulseConfig) -> str:
    return render("qbr.html.j2", **qbr_context(files, account_id, period, config))
