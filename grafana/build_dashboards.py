"""Generate cs-pulse's Grafana dashboards (grafana/dashboards/*.json) from this file.

This script is the source of the dashboards; the JSON files are its committed output, so
that Grafana's file provisioning can load them and a review can read the diff. Edit here,
then run `python grafana/build_dashboards.py` (or `--check` to fail when the committed
JSON is out of date). Plain Python and the standard library only.

Every panel reads the Prometheus data source by its fixed uid (provisioned from
grafana/provisioning/datasources/prometheus.yml) and, wherever one exists, a recording
rule of ops/prometheus/rules/recording.yml rather than a per-worker series: the global
ratios are only correct when recomputed from the summed numerators and denominators.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE_UID = "pulse-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
OUTPUT_DIR = Path(__file__).resolve().parent / "dashboards"
GRID_WIDTH = 24
# Template variables and their value in a query that must match every series
# (used by the end-to-end test, which runs each dashboard query against Prometheus).
ALL_VALUES = {"$plan": ".*"}

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """One panel: its kind, title, queries and display settings, before layout."""

    kind: str  # timeseries | stat | bargauge
    title: str
    queries: tuple[Query, ...]
    description: str
    unit: str = "short"
    width: int = 12
    height: int = 8
    decimals: int | None = None
    stacked: bool = False
    mappings: tuple[JSONDict, ...] = ()
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    plan_variable: bool = False
    tags: tuple[str, ...] = field(default=("cs-pulse",))


def timeseries(title: str, *queries: Query, description: str, **settings: Any) -> Panel:
    return Panel("timeseries", title, queries, description, **settings)


def stat(title: str, *queries: Query, description: str, **settings: Any) -> Panel:
    return Panel("stat", title, queries, description, **{"width": 4, "height": 4, **settings})


def bargauge(title: str, *queries: Query, description: str, **settings: Any) -> Panel:
    return Panel("bargauge", title, queries, description, **settings)


HEALTH_MAPPING: tuple[JSONDict, ...] = (
    {
        "type": "value",
        "options": {
            "0": {"text": "Degraded", "color": "red", "index": 0},
            "1": {"text": "Healthy", "color": "green", "index": 1},
        },
    },
)

PIPELINE_HEALTHY = stat(
    "Pipeline healthy",
    Query("pulse:pipeline_healthy"),
    description="Healthy when every worker is scraped, none is restoring state, every worker evaluated "
    "recently and no topic is stale. Business alerts are held while it is Degraded.",
    mappings=HEALTH_MAPPING,
)

CS_OVERVIEW = Dashboard(
    uid="pulse-overview",
    title="cs-pulse / CS overview",
    description="The customer-success headline figures: revenue, engagement, support, satisfaction.",
    plan_variable=True,
    panels=(
        stat("MRR", Query('sum(pulse:mrr:sum_by_plan{plan=~"$plan"})'), decimals=0,
             description="Monthly recurring revenue of the selected plans, normalised to a month."),
        stat("Paying accounts", Query('sum(pulse:paying_accounts:sum_by_plan{plan=~"$plan"})'), decimals=0,
             description="Accounts with at least one paid subscription in the selected plans."),
        stat("Net revenue retention (30d)", Query("pulse:net_revenue_retention:ratio30d"), unit="percentunit",
             decimals=1, description="MRR now of the accounts paying 30 days ago / their MRR 30 days ago."),
        stat("Gross revenue retention (30d)", Query("pulse:gross_revenue_retention:ratio30d"), unit="percentunit",
             decimals=1, description="As NRR, with each account capped at its MRR of 30 days ago."),
        stat("Customer churn (30d)", Query("pulse:customer_churn:ratio30d"), unit="percentunit", decimals=2,
             description="Accounts paying 30 days ago that pay nothing now / accounts paying 30 days ago."),
        PIPELINE_HEALTHY,
        stat("Monthly active users", Query('pulse:active_users:sum{window="30d"}'), decimals=0,
             description="Users (account, user) active in the last 30 days."),
        stat("Daily active users", Query('pulse:active_users:sum{window="1d"}'), decimals=0,
             description="Users active in the last 24 hours."),
        stat("Stickiness (DAU/MAU)", Query("pulse:stickiness:ratio"), unit="percentunit", decimals=1,
             description="1d active users / 30d active users."),
        stat("Open tickets", Query("pulse:tickets_open:sum"), decimals=0,
             description="Support tickets opened or reopened and not resolved."),
        stat("CSAT (90d)", Query("pulse:csat:ratio90d"), unit="percentunit", decimals=1,
             description="Ratings of 4-5 / all ratings over 90 days."),
        stat("NPS (90d)", Query("pulse:nps:score90d"), decimals=0, min_value=-100, max_value=100,
             description="% promoters (9-10) - % detractors (0-6) over 90 days, -100..100."),
        timeseries("MRR by plan", Query('pulse:mrr:sum_by_plan{plan=~"$plan"}', "{{plan}}"), stacked=True,
                   decimals=0, description="MRR per plan, stacked: the top line is the MRR of the selected plans."),
        timeseries("Active users", Query("pulse:active_users:sum", "{{window}}"), decimals=0,
                   description="Users active in the last 1, 7 and 30 days."),
    ),
)

ENGAGEMENT = Dashboard(
    uid="pulse-engagement",
    title="cs-pulse / Engagement",
    description="Who uses the product, how often, and which features.",
    panels=(
        timeseries("DAU / WAU / MAU", Query("pulse:active_users:sum", "{{window}}"), decimals=0,
                   description="Users (account, user) active in the rolling last 1, 7 and 30 days."),
        timeseries("Stickiness (DAU/MAU)", Query("pulse:stickiness:ratio", "stickiness"), unit="percentunit",
                   min_value=0, description="1d active users / 30d active users, recomputed across workers."),
        bargauge("Feature adoption (30d)", Query("pulse:feature_adoption:ratio30d", "{{feature}}"),
                 unit="percentunit", min_value=0, max_value=1,
                 description="Users of each feature in 30 days / active users in 30 days."),
        timeseries("Feature users (30d)", Query('pulse:feature_users:sum{window="30d"}', "{{feature}}"), decimals=0,
                   description="Users who used each feature in the last 30 days."),
        timeseries("Logins", Query("pulse:logins:sum", "{{window}}"), decimals=0,
                   description="Login events in the last 1 and 7 days."),
        timeseries("Signups and onboarding (30d)",
                   Query("pulse:signups:sum30d", "signups"),
                   Query("pulse:onboarding_completed:sum30d", "onboarding completed"), decimals=0,
                   description="Signup and onboarding_completed events in the last 30 days."),
        timeseries("Sessions (7d)", Query('pulse:sessions:sum{window="7d"}', "sessions"), decimals=0,
                   description="Sessions started in the last 7 days."),
        timeseries("Average session length (7d)", Query("pulse:session_length_seconds:avg7d", "average"), unit="s",
                   description="Total session time / sessions, over the last 7 days."),
    ),
)

REVENUE = Dashboard(
    uid="pulse-revenue",
    title="cs-pulse / Revenue",
    description="MRR by plan, its movements, retention and churn, payments.",
    plan_variable=True,
    panels=(
        timeseries("MRR by plan", Query('pulse:mrr:sum_by_plan{plan=~"$plan"}', "{{plan}}"), stacked=True,
                   decimals=0, width=16, description="MRR per plan, stacked."),
        stat("MRR (selected plans)", Query('sum(pulse:mrr:sum_by_plan{plan=~"$plan"})'), decimals=0, width=8,
             height=8, description="Monthly recurring revenue of the selected plans."),
        timeseries("Paying accounts by plan", Query('pulse:paying_accounts:sum_by_plan{plan=~"$plan"}', "{{plan}}"),
                   stacked=True, decimals=0, description="Accounts with a paid subscription, per plan."),
        timeseries("ARPA", Query("pulse:arpa:avg", "ARPA"), decimals=2,
                   description="Average revenue per paying account: MRR / paying accounts."),
        timeseries("MRR movements (30d)", Query("pulse:mrr_movement:sum30d", "{{kind}}"), decimals=0,
                   description="New, expansion, contraction, churn and reactivation MRR over the last 30 days."),
        timeseries("Net and gross revenue retention (30d)",
                   Query("pulse:net_revenue_retention:ratio30d", "NRR"),
                   Query("pulse:gross_revenue_retention:ratio30d", "GRR"), unit="percentunit",
                   description="NRR: MRR now of the accounts paying 30 days ago / their MRR then. "
                   "GRR: the same with each account capped at its MRR then."),
        timeseries("Churn (30d)",
                   Query("pulse:mrr_gross_churn:ratio30d", "gross MRR churn"),
                   Query("pulse:customer_churn:ratio30d", "customer churn"), unit="percentunit",
                   description="Gross MRR churn: (churn + contraction MRR) / MRR 30 days ago. "
                   "Customer churn: accounts lost / accounts paying 30 days ago."),
        timeseries("Payment failures (7d)", Query("pulse:payment_failure:ratio7d", "failed share"),
                   unit="percentunit", description="Failed payments / payment attempts over the last 7 days."),
        timeseries("Past-due and trialing accounts",
                   Query("pulse:past_due_accounts:sum", "past due"),
                   Query("pulse:trialing_accounts:sum", "trialing"), decimals=0,
                   description="Past due: paying accounts whose latest payment failed (in dunning). "
                   "Trialing: accounts in a trial that pay nothing yet."),
    ),
)

SUPPORT = Dashboard(
    uid="pulse-support",
    title="cs-pulse / Support and satisfaction",
    description="Ticket volume and backlog, CSAT, NPS and CES.",
    panels=(
        timeseries("Open tickets by priority", Query("pulse:tickets_open:sum_by_priority", "{{priority}}"),
                   stacked=True, decimals=0,
                   description="Tickets opened or reopened and not resolved (the backlog), stacked by priority."),
        timeseries("Tickets opened",
                   Query('pulse:tickets_opened:sum{window="1d"}', "last 1d"),
                   Query('pulse:tickets_opened:sum{window="7d"} / 7', "7d daily average"), decimals=1,
                   description="Tickets opened in the last 24 hours against the daily average of the last 7 days."),
        timeseries("Response and resolution time (7d)",
                   Query("pulse:ticket_first_response_seconds:avg7d", "first response"),
                   Query("pulse:ticket_resolution_seconds:avg7d", "resolution"), unit="s",
                   description="Mean time from opening to the first agent reply, and to the first resolution, "
                   "of the tickets first replied to / resolved in the last 7 days."),
        timeseries("CSAT (90d)", Query("pulse:csat:ratio90d", "CSAT"), unit="percentunit",
                   description="Ratings of 4-5 (tickets and CSAT surveys) / all ratings over 90 days."),
        timeseries("NPS (90d)", Query("pulse:nps:score90d", "NPS"), decimals=1, min_value=-100, max_value=100,
                   description="% promoters (9-10) - % detractors (0-6) of NPS responses over 90 days."),
        timeseries("CES (90d)", Query("pulse:ces:score90d", "CES"), decimals=2,
                   description="Mean customer effort score of responses over 90 days."),
        timeseries("Survey responses (90d)", Query('pulse:survey_responses:sum{window="90d"}', "{{survey}}"),
                   decimals=0, description="Survey responses over 90 days, per survey."),
    ),
)

PIPELINE = Dashboard(
    uid="pulse-pipeline",
    title="cs-pulse / Pipeline health",
    description="Workers, throughput, lag, latency, freshness, rejects and recovery.",
    panels=(
        PIPELINE_HEALTHY,
        stat("Workers up", Query("pulse:workers_up:sum"), decimals=0,
             description="pulse worker targets Prometheus scraped successfully."),
        stat("Workers known", Query("pulse:workers:count"), decimals=0,
             description="pulse worker targets service discovery returned."),
        stat("Recovering workers", Query("sum(pulse_recovery_in_progress)"), decimals=0,
             description="Workers restoring their state tables from the changelog."),
        stat("Dead-letter share (10m)", Query("pulse:dead_letter:ratio10m"), unit="percentunit", decimals=2,
             description="Rejected / decoded messages over the last 10 minutes."),
        stat("Event-to-state latency p99", Query("pulse:event_to_state_latency_seconds:p99_5m"), unit="s",
             description="99th percentile of the time from an event's arrival to its effect on state."),
        timeseries("Workers scraped", Query('up{job="pulse"}', "{{instance}}"), min_value=0, max_value=1,
                   description="1 when Prometheus scraped the worker, 0 when the scrape failed."),
        timeseries("Events processed", Query("pulse:events_processed:rate5m", "{{topic}}"), unit="ops",
                   description="Messages processed per second, per topic (5m rate)."),
        timeseries("Consumer lag by topic", Query("pulse:consumer_lag:sum", "{{topic}}"), decimals=0,
                   description="Messages not yet consumed, summed over each topic's partitions."),
        timeseries("Consumer lag by partition",
                   Query("sum by (topic, partition) (pulse_consumer_lag)", "{{topic}}/{{partition}}"), decimals=0,
                   description="Messages not yet consumed, per partition: a single growing line is a stuck partition."),
        timeseries("Event-to-state latency",
                   Query("pulse:event_to_state_latency_seconds:p50_5m", "p50"),
                   Query("pulse:event_to_state_latency_seconds:p99_5m", "p99"), unit="s",
                   description="Time from an event's arrival to its effect on state, 5m quantiles."),
        timeseries("Time since last event", Query("pulse:last_event_age_seconds", "{{topic}}"), unit="s",
                   description="Seconds since the last event was processed on each topic."),
        timeseries("Metrics age by worker", Query("pulse:evaluation_age_seconds", "{{instance}}"), unit="s",
                   description="Seconds since each worker last evaluated its metrics."),
        timeseries("Recovery in progress", Query("pulse_recovery_in_progress", "{{instance}}"), min_value=0,
                   max_value=1, description="1 while a worker restores its state tables."),
        timeseries("Events accepted by type", Query("pulse:events_accepted:rate5m", "{{type}}"), unit="ops",
                   description="Valid events applied per second, per event type (5m rate)."),
        timeseries("Events rejected by reason",
                   Query("pulse:events_rejected:rate5m", "{{reason}}"),
                   Query("pulse:events_duplicate:rate5m", "duplicate (dropped)"), unit="ops",
                   description="Messages sent to pulse.dead-letter per second by reason, and duplicates dropped."),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (CS_OVERVIEW, ENGAGEMENT, REVENUE, SUPPORT, PIPELINE)


def _plan_variable() -> JSONDict:
    definition = "label_values(pulse:mrr:sum_by_plan, plan)"
    return {
        "name": "plan",
        "label": "Plan",
        "type": "query",
        "datasource": DATASOURCE,
        "definition": definition,
        "query": {"query": definition, "refId": "PlanValues"},
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> JSONDict:
    defaults: JSONDict = {"unit": panel.unit, "mappings": list(panel.mappings)}
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.min_value is not None:
        defaults["min"] = panel.min_value
    if panel.max_value is not None:
        defaults["max"] = panel.max_value
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "fillOpacity": 20 if panel.stacked else 0,
            "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
            "showPoints": "never",
        }
        options: JSONDict = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif panel.kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "auto",
        }
    else:
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
        }
    instant = panel.kind != "timeseries"
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend or "__auto",
                "instant": instant,
                "range": not instant,
            }
            for index, query in enumerate(panel.queries)
        ],
    }


def dashboard_json(dashboard: Dashboard) -> JSONDict:
    """The Grafana JSON model of one dashboard; panels flow left to right, 24 columns wide."""
    panels, x, y, row_height = [], 0, 0, 0
    for panel_id, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        panels.append(_panel_json(panel, panel_id, x, y))
        x, row_height = x + panel.width, max(row_height, panel.height)
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": list(dashboard.tags),
        "editable": False,
        "graphTooltip": 1,
        "refresh": "1m",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-7d", "to": "now"},
        "timezone": "utc",
        "links": [
            {"type": "dashboards", "tags": ["cs-pulse"], "asDropdown": True, "title": "cs-pulse", "includeVars": True}
        ],
        "templating": {"list": [_plan_variable()] if dashboard.plan_variable else []},
        "annotations": {"list": []},
        "panels": panels,
    }


def render(dashboard: Dashboard) -> str:
    """The committed text of a dashboard: stable key order, two-space indent, final newline."""
    return json.dumps(dashboard_json(dashboard), indent=2, ensure_ascii=False) + "\n"


def output_path(dashboard: Dashboard) -> Path:
    return OUTPUT_DIR / f"{dashboard.uid}.json"


def queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every panel query, template variables as written."""
    return [
        (dashboard.uid, panel.title, query.expr)
        for dashboard in DASHBOARDS
        for panel in dashboard.panels
        for query in panel.queries
    ]


def expand_variables(expr: str) -> str:
    """A dashboard query with every template variable set to "all values"."""
    for variable, value in ALL_VALUES.items():
        expr = expr.replace(variable, value)
    return expr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed dashboard differs from its source")
    args = parser.parse_args(argv)
    stale = []
    for dashboard in DASHBOARDS:
        path, text = output_path(dashboard), render(dashboard)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run `python grafana/build_dashboards.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
