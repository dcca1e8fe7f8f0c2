"""Generate cs-pulse's Grafana dashboards (grafana/dashboards/*.json) from this file.

This script is the source of the dashboards; the JSON files are its committed output, so
that Grafana's file provisioning can load them and a review can read the diff. Edit here,
then run `python grafana/build_dashboards.py` (or `--check` to fail when the committed
JSON is out of date). The panels are described below as plain data (`Panel`,
`Dashboard`), then built with the typed builders of Grafana's grafana-foundation-sdk
(PyPI `grafana-foundation-sdk`, the `dashboards` extra of pyproject.toml), which know the
dashboard schema, so a misspelt option fails here rather than in Grafana.

- **Data source**: a `datasource` variable (type prometheus); every panel and query reads
  `${datasource}`, so the boards work with any Prometheus data source, whatever its uid.
- **Recording rules**: wherever one exists, a panel reads a rule of
  ops/prometheus/rules/recording.yml rather than a per-worker series: the global ratios
  exist only there (workers export the additive parts).
- **Thresholds**: every panel has explicit thresholds, so Grafana's default (red at 80)
  never colours MRR red. Panels an alert watches take the alert's threshold from
  ops/prometheus/rules/thresholds.yml (read when the boards are generated, so a changed
  threshold shows after `python grafana/build_dashboards.py`); the others are neutral.
- **Units**: money panels use the reporting currency's unit (`--currency`, default USD,
  to match `[revenue] reporting_currency`); the overview shows `pulse_reporting_currency_info`.
- **Annotations**: Grafana's built-in "Annotations & Alerts" and the firing cs-pulse
  alerts from Prometheus' `ALERTS` series.
- **Runbooks**: a panel an alert watches links to the alert's section of
  docs/runbooks.md, from the base every alert's `runbook_url` uses: the `url` label of
  the `pulse:runbook:info` rule, read by the hidden `runbook_base` variable.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders import bargauge as bargauge_builder
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import prometheus as prometheus_builder
from grafana_foundation_sdk.builders import stat as stat_builder
from grafana_foundation_sdk.builders import table as table_builder
from grafana_foundation_sdk.builders import timeseries as timeseries_builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import prometheus as prometheus_model

REPO = Path(__file__).resolve().parents[1]
OUTPUT_DIR = Path(__file__).resolve().parent / "dashboards"
THRESHOLDS_FILE = REPO / "ops" / "prometheus" / "rules" / "thresholds.yml"
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = {"type": "prometheus", "uid": "${%s}" % DATASOURCE_VARIABLE}
RUNBOOK_VARIABLE = "runbook_base"
RUNBOOK_RULE = "pulse:runbook:info"
ACCOUNT_API_VARIABLE = "account_api"
ACCOUNT_API_DEFAULT = "http://localhost:9108"
DEFAULT_CURRENCY = "USD"
GRID_WIDTH = 24
NEUTRAL, GOOD, WARNING, BAD = "text", "green", "orange", "red"
# Template variables and their value in a query that must match every series
# (used by the end-to-end test, which runs each dashboard query against Prometheus).
ALL_VALUES = {"$plan": ".*"}
# Grafana's built-in currency units; any other ISO 4217 code is shown as a suffix.
GRAFANA_CURRENCIES = frozenset({
    "USD", "GBP", "EUR", "JPY", "RUB", "UAH", "BRL", "DKK", "ISK", "NOK", "SEK", "CZK", "CHF", "PLN", "ZAR", "INR",
    "KRW", "IDR", "PHP", "VND",
})
MONEY = "money"  # a Panel.unit placeholder: the reporting currency's unit

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Limit:
    """A panel's thresholds, by name of a `pulse:threshold:<name>` rule of thresholds.yml:
    `bad_above` turns red from that value on, `bad_below` is red below it; `warn_above`
    turns orange from its value on (below a `bad_above`)."""

    bad_above: str | None = None
    bad_below: str | None = None
    warn_above: str | None = None


@dataclass(frozen=True)
class Panel:
    """One panel: its kind, title, queries and display settings, before layout."""

    kind: str  # timeseries | stat | bargauge | table
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
    limit: Limit | None = None
    runbooks: tuple[str, ...] = ()  # the alerts that watch this panel's figure
    text_mode: str = "auto"
    row_link: tuple[str, str] | None = None  # table: (title, URL) of a link on the `account` column


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    plan_variable: bool = False
    account_api_variable: bool = False
    tags: tuple[str, ...] = field(default=("cs-pulse",))


def timeseries(title: str, *queries: Query, description: str, **settings: Any) -> Panel:
    return Panel("timeseries", title, queries, description, **settings)


def stat(title: str, *queries: Query, description: str, **settings: Any) -> Panel:
    return Panel("stat", title, queries, description, **{"width": 4, "height": 4, **settings})


def bargauge(title: str, *queries: Query, description: str, **settings: Any) -> Panel:
    return Panel("bargauge", title, queries, description, **settings)


def table(title: str, *queries: Query, description: str, **settings: Any) -> Panel:
    return Panel("table", title, queries, description, **settings)


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
    runbooks=("PulseWorkerDown", "PulseTopicStale", "PulseEvaluationStale", "PulseRecoveryStuck"),
)

CS_OVERVIEW = Dashboard(
    uid="pulse-overview",
    title="cs-pulse / CS overview",
    description="The customer-success headline figures: revenue, engagement, support, satisfaction.",
    plan_variable=True,
    panels=(
        stat("MRR", Query('sum(pulse:mrr:sum_by_plan{plan=~"$plan"})'), decimals=0, unit=MONEY, runbooks=("PulseMrrSuddenDrop",),
             description="Monthly recurring revenue of the selected plans, normalised to a month."),
        stat("Paying accounts", Query('sum(pulse:paying_accounts:sum_by_plan{plan=~"$plan"})'), decimals=0,
             description="Accounts with at least one paid subscription in the selected plans."),
        stat("Net revenue retention (30d)", Query("pulse:net_revenue_retention:ratio30d"), unit="percentunit",
             decimals=1, description="MRR now of the accounts paying 30 days ago / their MRR 30 days ago."),
        stat("Gross revenue retention (30d)", Query("pulse:gross_revenue_retention:ratio30d"), unit="percentunit",
             decimals=1, description="As NRR, with each account capped at its MRR of 30 days ago."),
        stat("Customer churn (30d)", Query("pulse:customer_churn:ratio30d"), unit="percentunit", decimals=2,
             runbooks=("PulseMrrChurnHigh",),
             description="Customers of 30 days ago that are no longer customers / customers of 30 days ago "
             "(an account on a free plan stays a customer by default)."),
        PIPELINE_HEALTHY,
        stat("Reporting currency", Query("max by (currency) (pulse_reporting_currency_info)", "{{currency}}"),
             text_mode="name", description="The currency every money figure is in ([revenue] reporting_currency)."),
        stat("Monthly active users", Query('pulse:active_users:sum{window="30d"}'), decimals=0,
             description="Users (account, user) active in the last 30 days."),
        stat("Daily active users", Query('pulse:active_users:sum{window="1d"}'), decimals=0, runbooks=("PulseActiveUsersDrop",),
             description="Users active in the last 24 hours."),
        stat("Stickiness (avg DAU/MAU, 30 days)", Query("pulse:average_stickiness:ratio30d"),
             unit="percentunit", decimals=1,
             description="Average daily active users over the 30 complete calendar days "
             "before today ([engine] time_zone) / the users active on any of those days "
             "(Pendo, Mixpanel)."),
        stat("Open tickets", Query("pulse:tickets_open:sum"), decimals=0,
             limit=Limit(bad_above="tickets_open_max"), runbooks=("PulseTicketBacklogHigh",),
             description="Support tickets opened or reopened and not resolved."),
        stat("CSAT (90d)", Query("pulse:csat:ratio90d"), unit="percentunit", decimals=1,
             limit=Limit(bad_below="csat_min_ratio"), runbooks=("PulseCsatLow",),
             description="Ratings of 4-5 / all ratings over 90 days."),
        stat("NPS (90d)", Query("pulse:nps:score90d"), decimals=0, min_value=-100, max_value=100,
             limit=Limit(bad_below="nps_min_score"), runbooks=("PulseNpsLow",),
             description="% promoters (9-10) - % detractors (0-6) over 90 days, -100..100."),
        timeseries("MRR by plan", Query('pulse:mrr:sum_by_plan{plan=~"$plan"}', "{{plan}}"), stacked=True, unit=MONEY,
                   decimals=0, width=10,
                   description="MRR per plan, stacked: the top line is the MRR of the selected plans."),
        timeseries("Active users", Query("pulse:active_users:sum", "{{window}}"), decimals=0, width=10,
                   runbooks=("PulseActiveUsersDrop",),
                   description="Users active in the last 1, 7 and 30 days."),
    ),
)

ENGAGEMENT = Dashboard(
    uid="pulse-engagement",
    title="cs-pulse / Engagement",
    description="Who uses the product, how often, and which features.",
    panels=(
        timeseries("DAU / WAU / MAU", Query("pulse:active_users:sum", "{{window}}"),
                   Query("pulse:daily_active_users:avg30d", "average DAU, 30 calendar days"),
                   decimals=0, runbooks=("PulseActiveUsersDrop",),
                   description="Users (account, user) active in the rolling last 1, 7 and 30 days, "
                   "and the average of the daily active users over the 30 complete calendar days "
                   "before today."),
        timeseries("Stickiness (DAU/MAU)",
                   Query("pulse:average_stickiness:ratio30d", "average DAU / MAU"),
                   Query("pulse:stickiness:ratio", "rolling 1d / 30d"), unit="percentunit",
                   min_value=0,
                   description="Average DAU over the 30 complete calendar days / the users active "
                   "on any of them (the headline figure); and the rolling 1d / 30d active users, "
                   "which swings with the hour and the weekday."),
        timeseries("Logged in but idle (30d)",
                   Query("pulse:login_only_users:sum30d", "logged in, no core feature"),
                   Query('pulse:active_users:sum{window="30d"}', "active users"), decimals=0,
                   description="Users who logged in over the last 30 days without using any core "
                   "feature ([engine] core_features; all features when unset), next to the 30-day "
                   "active users."),
        bargauge("Feature adoption (30d)", Query("pulse:feature_adoption:ratio30d", "{{feature}}"),
                 unit="percentunit", min_value=0, max_value=1,
                 description="Users of each feature in 30 days / active users in 30 days.", runbooks=("PulseFeatureAdoptionCollapse",)),
        timeseries("Feature users (30d)", Query('pulse:feature_users:sum{window="30d"}', "{{feature}}"), decimals=0,
                   description="Users who used each feature in the last 30 days."),
        timeseries("Logins", Query("pulse:logins:sum", "{{window}}"), decimals=0,
                   description="Login events in the last 1 and 7 days."),
        timeseries("Signups and onboarding (30d)",
                   Query("pulse:signups:sum30d", "signups"),
                   Query("pulse:onboarding_completed:sum30d", "onboarding completed"), decimals=0,
                   description="Signup and onboarding_completed events in the last 30 days."),
        timeseries("Sessions (7d)", Query('pulse:sessions:sum{window="7d"}', "sessions"),
                   Query('pulse:sessions_zero_length:sum{window="7d"}', "of 0 seconds"), decimals=0,
                   description="Closed sessions that ended in the last 7 days (per session_id when the events "
                               "carry one), and those of them that last 0 seconds (a lone login or logout)."),
        timeseries("Average session length (7d)", Query("pulse:session_length_seconds:avg7d", "average"), unit="s",
                   description="Total session time / sessions longer than 0 seconds, over the last 7 days."),
    ),
)

REVENUE = Dashboard(
    uid="pulse-revenue",
    title="cs-pulse / Revenue",
    description="MRR by plan, its movements, retention and churn, payments.",
    plan_variable=True,
    panels=(
        timeseries("MRR by plan", Query('pulse:mrr:sum_by_plan{plan=~"$plan"}', "{{plan}}"), stacked=True, unit=MONEY,
                   decimals=0, width=16, description="MRR per plan, stacked."),
        stat("MRR (selected plans)", Query('sum(pulse:mrr:sum_by_plan{plan=~"$plan"})'), decimals=0, width=8, unit=MONEY,
             runbooks=("PulseMrrSuddenDrop",),
             height=8, description="Monthly recurring revenue of the selected plans."),
        timeseries("Paying accounts by plan", Query('pulse:paying_accounts:sum_by_plan{plan=~"$plan"}', "{{plan}}"),
                   stacked=True, decimals=0, description="Accounts with a paid subscription, per plan."),
        timeseries("ARPA", Query("pulse:arpa:avg", "ARPA"), decimals=2, unit=MONEY,
                   description="Average revenue per paying account: MRR / paying accounts."),
        timeseries("MRR movements (30d)", Query("pulse:mrr_movement:sum30d", "{{kind}}"), decimals=0, unit=MONEY,
                   description="New, expansion, contraction, churn and reactivation MRR over the last 30 days."),
        timeseries("Net and gross revenue retention (30d)",
                   Query("pulse:net_revenue_retention:ratio30d", "NRR"),
                   Query("pulse:gross_revenue_retention:ratio30d", "GRR"), unit="percentunit",
                   description="NRR: MRR now of the accounts paying 30 days ago / their MRR then. "
                   "GRR: the same with each account capped at its MRR then."),
        timeseries("Net and gross revenue retention (90d, 365d)",
                   Query("pulse:net_revenue_retention:ratio365d", "NRR 365d"),
                   Query("pulse:gross_revenue_retention:ratio365d", "GRR 365d"),
                   Query("pulse:net_revenue_retention:ratio90d", "NRR 90d"),
                   Query("pulse:gross_revenue_retention:ratio90d", "GRR 90d"), unit="percentunit",
                   description="The annual figures benchmarks quote, and the quarter: MRR now of the accounts "
                   "paying 365 (90) days ago / their MRR then; GRR caps each account at its MRR then. "
                   "No line until the data reaches that far back."),
        timeseries("Churn (30d)",
                   Query("pulse:mrr_gross_churn:ratio30d", "gross MRR churn"),
                   Query("pulse:mrr_net_churn:ratio30d", "net MRR churn"),
                   Query("pulse:customer_churn:ratio30d", "customer churn"), unit="percentunit",
                   limit=Limit(bad_above="mrr_gross_churn_ratio_max"), runbooks=("PulseMrrChurnHigh",),
                   description="One churn family (ChartMogul's standard formulas). Gross MRR churn: "
                   "(churn + contraction MRR) / MRR 30 days ago. Net MRR churn: (churn + contraction "
                   "- expansion - reactivation MRR) / MRR 30 days ago, below 0 when gains outweigh losses. "
                   "Customer churn: customers lost / customers of 30 days ago."),
        timeseries("Payment failures (7d)", Query("pulse:payment_failure:ratio7d", "failed share"),
                   limit=Limit(warn_above="payment_failure_ratio_floor", bad_above="payment_failure_ratio_max"),
                   runbooks=("PulsePaymentFailuresRising",),
                   unit="percentunit", description="Failed payments / payment attempts over the last 7 days."),
        timeseries("Past-due and trialing accounts",
                   Query("pulse:past_due_accounts:sum", "past due"),
                   Query("pulse:trialing_accounts:sum", "trialing"), decimals=0,
                   description="Past due: paying accounts whose latest payment failed (in dunning). "
                   "Trialing: accounts in a trial that pay nothing yet."),
        timeseries("Dunning: past-due MRR and involuntary churn",
                   Query("pulse:past_due_mrr:sum", "past-due MRR"),
                   Query("pulse:mrr_churn_involuntary:sum30d", "involuntary churn (30d)"), decimals=0, unit=MONEY,
                   description="Past-due MRR: MRR of the accounts whose latest payment failed, inside their "
                   "dunning window ([revenue] dunning_window_days). Involuntary churn: MRR lost in 30 days "
                   "because a dunning window ended unpaid (part of the churn movement)."),
    ),
)

SUPPORT = Dashboard(
    uid="pulse-support",
    title="cs-pulse / Support and satisfaction",
    description="Ticket volume and backlog, CSAT, NPS and CES.",
    panels=(
        timeseries("Open tickets by priority", Query("pulse:tickets_open:sum_by_priority", "{{priority}}"),
                   limit=Limit(bad_above="tickets_open_max"), runbooks=("PulseTicketBacklogHigh",),
                   stacked=True, decimals=0,
                   description="Tickets opened or reopened and not resolved (the backlog), stacked by priority."),
        timeseries("Tickets opened",
                   Query('pulse:tickets_opened:sum{window="1d"}', "last 1d"),
                   Query('pulse:tickets_opened:sum{window="7d"} / 7', "7d daily average"), decimals=1, runbooks=("PulseTicketSpike",),
                   description="Tickets opened in the last 24 hours against the daily average of the last 7 days."),
        timeseries("Response and resolution time (7d)",
                   Query("pulse:ticket_first_response_seconds:avg7d", "first response"),
                   Query("pulse:ticket_resolution_seconds:avg7d", "resolution"), unit="s",
                   description="Mean time from opening to the first agent reply, and to the first resolution, "
                   "of the tickets first replied to / resolved in the last 7 days."),
        timeseries("CSAT (90d)", Query("pulse:csat:ratio90d", "CSAT"), unit="percentunit",
                   limit=Limit(bad_below="csat_min_ratio"), runbooks=("PulseCsatLow",),
                   description="Ratings of 4-5 (tickets and CSAT surveys) / all ratings over 90 days."),
        timeseries("NPS (90d)", Query("pulse:nps:score90d", "NPS"), decimals=1, min_value=-100, max_value=100,
                   limit=Limit(bad_below="nps_min_score"), runbooks=("PulseNpsLow",),
                   description="% promoters (9-10) - % detractors (0-6) of NPS responses over 90 days."),
        timeseries("CES (90d)", Query("pulse:ces:score90d", "CES"), decimals=2,
                   description="Mean customer effort score of responses over 90 days, 1..7 with 7 = very easy "
                   "(responses on the reversed scale are turned around): higher is better."),
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
        stat("Workers up", Query("pulse:workers_up:sum"), decimals=0, runbooks=("PulseWorkerDown",),
             description="pulse worker targets Prometheus scraped successfully."),
        stat("Workers known", Query("pulse:workers:count"), decimals=0, runbooks=("PulseNoWorkerTargets",),
             description="pulse worker targets service discovery returned."),
        stat("Recovering workers", Query("sum(pulse_recovery_in_progress)"), decimals=0, runbooks=("PulseRecoveryStuck",),
             description="Workers restoring their state tables from the changelog."),
        stat("Dead-letter share (10m)", Query("pulse:dead_letter:ratio10m"), unit="percentunit", decimals=2,
             limit=Limit(bad_above="dead_letter_ratio_max"), runbooks=("PulseDeadLetterRateHigh",),
             description="Rejected / decoded messages over the last 10 minutes."),
        stat("Event-to-state latency p99", Query("pulse:event_to_state_latency_seconds:p99_5m"), unit="s",
             description="99th percentile of the time from an event's arrival to its effect on state."),
        timeseries("Workers scraped", Query('up{job="pulse"}', "{{instance}}"), min_value=0, max_value=1, runbooks=("PulseWorkerDown",),
                   description="1 when Prometheus scraped the worker, 0 when the scrape failed."),
        timeseries("Events processed", Query("pulse:events_processed:rate5m", "{{topic}}"), unit="ops",
                   description="Messages processed per second, per topic (5m rate)."),
        timeseries("Consumer lag by topic", Query("pulse:consumer_lag:sum", "{{topic}}"), decimals=0,
                   limit=Limit(bad_above="consumer_lag_max"), runbooks=("PulseConsumerLagGrowing",),
                   description="Messages not yet consumed, summed over each topic's partitions."),
        timeseries("Consumer lag by partition",
                   Query("sum by (topic, partition) (pulse_consumer_lag)", "{{topic}}/{{partition}}"), decimals=0, runbooks=("PulseConsumerLagGrowing",),
                   description="Messages not yet consumed, per partition: a single growing line is a stuck partition."),
        timeseries("Event-to-state latency",
                   Query("pulse:event_to_state_latency_seconds:p50_5m", "p50"),
                   Query("pulse:event_to_state_latency_seconds:p99_5m", "p99"), unit="s",
                   description="Time from an event's arrival to its effect on state, 5m quantiles."),
        timeseries("Time since last event", Query("pulse:last_event_age_seconds", "{{topic}}"), unit="s", runbooks=("PulseTopicStale",),
                   description="Seconds since the last event was processed on each topic."),
        timeseries("Metrics age by worker", Query("pulse:evaluation_age_seconds", "{{instance}}"), unit="s",
                   limit=Limit(bad_above="evaluation_stale_seconds"), runbooks=("PulseEvaluationStale",),
                   description="Seconds since each worker last evaluated its metrics."),
        timeseries("Recovery in progress", Query("pulse_recovery_in_progress", "{{instance}}"), min_value=0, runbooks=("PulseRecoveryStuck",),
                   max_value=1, description="1 while a worker restores its state tables."),
        timeseries("Kafka refusals (auth or TLS)",
                   Query("sum by (instance) (increase(pulse_kafka_auth_failures_total[5m]))", "{{instance}}"),
                   decimals=0, min_value=0, runbooks=("PulseKafkaAuthFailures",),
                   description="Connections Kafka refused per worker over 5 minutes: credentials or certificates no longer match."),
        timeseries("Events accepted by type", Query("pulse:events_accepted:rate5m", "{{type}}"), unit="ops",
                   description="Valid events applied per second, per event type (5m rate)."),
        timeseries("Events rejected by reason",
                   Query("pulse:events_rejected:rate5m", "{{reason}}"),
                   Query("pulse:events_duplicate:rate5m", "duplicate (dropped)"), unit="ops", runbooks=("PulseDeadLetterRateHigh",),
                   description="Messages sent to pulse.dead-letter per second by reason, and duplicates dropped."),
    ),
)

WATCHLIST_LABELS = "account, segment, owner"

ACCOUNTS = Dashboard(
    uid="pulse-accounts",
    title="cs-pulse / Accounts",
    description="Health bands, MRR at risk, the watchlist accounts and the onboarding funnel "
    "(docs/accounts.md; per-account reads through the worker's /accounts API).",
    account_api_variable=True,
    panels=(
        stat("MRR at risk", Query("pulse:mrr_at_risk:sum"), unit=MONEY, decimals=0, width=6,
             runbooks=("PulseAccountRed",), description="MRR of the accounts whose health band is red."),
        stat("Red accounts", Query('pulse:accounts:sum_by_band{band="red"}'), decimals=0, width=6,
             runbooks=("PulseAccountRed",), description="Accounts in the red health band."),
        stat("Accounts stuck in onboarding", Query("pulse:onboarding_stuck_accounts:sum"), decimals=0, width=6,
             runbooks=("PulseAccountOnboardingStuck",),
             description="Accounts in onboarding with no step for [accounts.onboarding] stuck_days."),
        stat("Trial conversion", Query("pulse:trial_conversion:ratio"), unit="percentunit", decimals=1, width=6,
             description="Trials that ended in the trial window and pay / trials that ended."),
        timeseries("Accounts by health band", Query("pulse:accounts:sum_by_band", "{{band}}"), stacked=True,
                   decimals=0, description="Accounts per health band (red, yellow, green, unknown), stacked."),
        timeseries("MRR by health band", Query("pulse:accounts_mrr:sum_by_band", "{{band}}"), stacked=True,
                   unit=MONEY, decimals=0, description="MRR of the accounts in each health band, stacked."),
        table("Watchlist",
              Query(f"max by ({WATCHLIST_LABELS}) (pulse_watchlist_account_mrr)", "MRR"),
              Query(f"max by ({WATCHLIST_LABELS}) (pulse_watchlist_account_health_score)", "score"),
              Query(f"max by ({WATCHLIST_LABELS}) (pulse_watchlist_account_health_trend_7d)", "trend 7d"),
              Query(f"max by ({WATCHLIST_LABELS}) (pulse_watchlist_account_until_renewal_seconds) / 86400",
                    "days to renewal"),
              width=24, height=12, decimals=1,
              row_link=("Account record (API)", "${%s}/accounts/${__data.fields.account}" % ACCOUNT_API_VARIABLE),
              runbooks=("PulseAccountRed", "PulseAccountKeyFeatureUnused", "PulseAccountHealthDrop",
                        "PulseAccountInactive", "PulseAccountPaymentNotRecovered", "PulseAccountRenewalAtRisk"),
              description="The watchlist (the top accounts by MRR, then red accounts, up to [accounts.watchlist] "
              "cap): MRR, health score, its change over 7 days and days to renewal. The account links to the "
              "worker's API (the account_api variable; the API needs the bearer token)."),
        bargauge("Onboarding funnel",
                 Query("sum(pulse_onboarding_activation_cohort_accounts)", "activation cohort"),
                 Query("sum(pulse_onboarding_activated_accounts)", "activated"),
                 Query("sum(pulse_onboarding_completion_cohort_accounts)", "completion cohort"),
                 Query("sum(pulse_onboarding_completed_accounts)", "completed"),
                 decimals=0, min_value=0, runbooks=("PulseAccountOnboardingStuck",),
                 description="Accounts of the activation cohort and those activated in activation_days; of the "
                 "completion cohort and those that completed onboarding in completion_days."),
        timeseries("Onboarding rates",
                   Query("pulse:onboarding_activation:ratio", "activation"),
                   Query("pulse:onboarding_completion:ratio", "completion"),
                   Query("pulse:trial_conversion:ratio", "trial conversion"), unit="percentunit", min_value=0,
                   description="Activation, onboarding completion and trial conversion rates, from the sums."),
        timeseries("Time to value and completion time",
                   Query("pulse:onboarding_time_to_value_seconds:avg", "mean time to value"),
                   Query("pulse:onboarding_completion_time_seconds:avg", "mean completion time"), unit="s",
                   description="Mean signup-to-activation and signup-to-completion time of the cohorts "
                   "(medians and p90 per account: `pulse accounts`, the /accounts API)."),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (CS_OVERVIEW, ENGAGEMENT, REVENUE, SUPPORT, PIPELINE, ACCOUNTS)


# --- from the description to Grafana's JSON model, through the SDK's builders ------------


@dataclass(frozen=True)
class Settings:
    """What the generated JSON depends on besides the description above."""

    currency: str = DEFAULT_CURRENCY
    thresholds: dict[str, float] = field(default_factory=dict)


def threshold_values(path: Path = THRESHOLDS_FILE) -> dict[str, float]:
    """name -> value of every unlabelled `pulse:threshold:<name>` rule (`vector(X)`)."""
    values = {}
    for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            match = re.fullmatch(r"pulse:threshold:(\w+)", rule.get("record", ""))
            constant = re.fullmatch(r"\s*vector\(([-+0-9.eE]+)\)\s*", rule.get("expr", ""))
            if match and constant and not rule.get("labels"):
                values[match.group(1)] = float(constant.group(1))
    return values


def currency_unit(code: str) -> str:
    """Grafana's unit for money in `code` (its own currency unit, else a suffix)."""
    return f"currency{code}" if code in GRAFANA_CURRENCIES else f"suffix: {code}"


def runbook_url(alert: str) -> str:
    """The link to an alert's section of docs/runbooks.md (the anchor is its lower-cased name)."""
    return "${%s}#%s" % (RUNBOOK_VARIABLE, alert.lower())


def threshold_steps(panel: Panel, settings: Settings) -> list[dashboard_model.Threshold]:
    """Explicit steps for every panel: the alert's limits, or one neutral colour."""
    limit, values = panel.limit, settings.thresholds
    if panel.mappings:
        return [dashboard_model.Threshold(value=None, color=BAD), dashboard_model.Threshold(value=1, color=GOOD)]
    if limit is None:
        return [dashboard_model.Threshold(value=None, color=NEUTRAL)]
    if limit.bad_below is not None:
        return [dashboard_model.Threshold(value=None, color=BAD),
                dashboard_model.Threshold(value=values[limit.bad_below], color=GOOD)]
    steps = [dashboard_model.Threshold(value=None, color=GOOD)]
    if limit.warn_above is not None:
        steps.append(dashboard_model.Threshold(value=values[limit.warn_above], color=WARNING))
    if limit.bad_above is not None:
        steps.append(dashboard_model.Threshold(value=values[limit.bad_above], color=BAD))
    return steps


def _datasource() -> dashboard_model.DataSourceRef:
    return dashboard_model.DataSourceRef(type_val=DATASOURCE["type"], uid=DATASOURCE["uid"])


def _panel_builder(panel: Panel, settings: Settings):
    if panel.kind == "timeseries":
        builder = (
            timeseries_builder.Panel()
            .draw_style(common_model.GraphDrawStyle.LINE)
            .fill_opacity(20 if panel.stacked else 0)
            .stacking(common_builder.StackingConfig()
                      .mode(common_model.StackingMode.NORMAL if panel.stacked else common_model.StackingMode.NONE)
                      .group("A"))
            .show_points(common_model.VisibilityMode.NEVER)
            .thresholds_style(common_builder.GraphThresholdsStyleConfig().mode(
                common_model.GraphTresholdsStyleMode.DASHED if panel.limit else common_model.GraphTresholdsStyleMode.OFF))
            .legend(common_builder.VizLegendOptions().display_mode(common_model.LegendDisplayMode.LIST)
                    .placement(common_model.LegendPlacement.BOTTOM).show_legend(True))
            .tooltip(common_builder.VizTooltipOptions().mode(common_model.TooltipDisplayMode.MULTI)
                     .sort(common_model.SortOrder.DESCENDING))
        )
    elif panel.kind == "stat":
        builder = (
            stat_builder.Panel()
            .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
            .color_mode(common_model.BigValueColorMode.VALUE)
            .graph_mode(common_model.BigValueGraphMode.NONE)
            .text_mode(common_model.BigValueTextMode(panel.text_mode))
        )
    elif panel.kind == "table":
        builder = (
            table_builder.Panel()
            # one row per account: the queries joined on their labels, the time column hidden
            .with_transformation(dashboard_model.DataTransformerConfig(id_val="merge", options={}))
            .with_transformation(dashboard_model.DataTransformerConfig(
                id_val="organize", options={"excludeByName": {"Time": True}, "renameByName": {
                    f"Value #{chr(ord('A') + index)}": query.legend for index, query in enumerate(panel.queries)}}))
        )
        if panel.row_link is not None:
            title, url = panel.row_link
            builder = builder.override_by_name("account", [dashboard_model.DynamicConfigValue(
                id_val="links", value=[{"title": title, "url": url, "targetBlank": True}])])
    else:
        builder = (
            bargauge_builder.Panel()
            .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
            .orientation(common_model.VizOrientation.HORIZONTAL)
            .display_mode(common_model.BarGaugeDisplayMode.GRADIENT)
        )
    unit = currency_unit(settings.currency) if panel.unit == MONEY else panel.unit
    builder = (
        builder.title(panel.title)
        .description(panel.description)
        .datasource(_datasource())
        .span(panel.width)
        .height(panel.height)
        .unit(unit)
        # stat and bar gauge colours follow the thresholds; time series keep one colour per
        # series and draw the thresholds as dashed lines
        .color_scheme(dashboard_builder.FieldColor().mode(dashboard_model.FieldColorModeId.PALETTE_CLASSIC
                                                          if panel.kind == "timeseries"
                                                          else dashboard_model.FieldColorModeId.THRESHOLDS))
        .thresholds(dashboard_builder.ThresholdsConfig().mode(dashboard_model.ThresholdsMode.ABSOLUTE)
                    .steps(threshold_steps(panel, settings)))
        .mappings([dashboard_model.ValueMap(options={
            value: dashboard_model.ValueMappingResult(text=result["text"], color=result["color"], index=result["index"])
            for value, result in mapping["options"].items()}) for mapping in panel.mappings])
    )
    if panel.decimals is not None:
        builder = builder.decimals(panel.decimals)
    if panel.min_value is not None:
        builder = builder.min(panel.min_value)
    if panel.max_value is not None:
        builder = builder.max(panel.max_value)
    if panel.runbooks:
        builder = builder.links([
            dashboard_builder.DashboardLink(f"Runbook: {alert}").type(dashboard_model.DashboardLinkType.LINK)
            .url(runbook_url(alert)).target_blank(True)
            for alert in panel.runbooks
        ])
    instant = panel.kind != "timeseries"
    for index, query in enumerate(panel.queries):
        target = (prometheus_builder.Dataquery().ref_id(chr(ord("A") + index)).datasource(_datasource())
                  .expr(query.expr).legend_format(query.legend or "__auto"))
        if panel.kind == "table":
            target = target.format(prometheus_model.PromQueryFormat.TABLE)
        builder = builder.with_target(target.instant() if instant else target.range())
    return builder


def _datasource_variable():
    return (dashboard_builder.DatasourceVariable(DATASOURCE_VARIABLE).label("Data source").type("prometheus")
            .description("The Prometheus that scrapes the cs-pulse workers and runs ops/prometheus/rules."))


def _runbook_variable():
    query = f"label_values({RUNBOOK_RULE}, url)"
    return (dashboard_builder.QueryVariable(RUNBOOK_VARIABLE).label("Runbooks")
            .description("Base address of docs/runbooks.md: the url label of pulse:runbook:info, "
                         "the base the alerts' runbook_url uses.")
            .datasource(_datasource()).query({"query": query, "refId": "RunbookBase"})
            .refresh(dashboard_model.VariableRefresh.ON_DASHBOARD_LOAD)
            .hide(dashboard_model.VariableHide.HIDE_VARIABLE))


def _account_api_variable():
    return (dashboard_builder.TextBoxVariable(ACCOUNT_API_VARIABLE).label("Account API")
            .description("Base address of a worker's HTTP port, for the links to /accounts/{id}.")
            .default_value(ACCOUNT_API_DEFAULT))


def _plan_variable():
    definition = "label_values(pulse:mrr:sum_by_plan, plan)"
    return (dashboard_builder.QueryVariable("plan").label("Plan").datasource(_datasource())
            .query({"query": definition, "refId": "PlanValues"})
            .refresh(dashboard_model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True).all_value(".*").multi(True).sort(dashboard_model.VariableSort.ALPHABETICAL_ASC)
            .current(dashboard_model.VariableOption(selected=True, text=["All"], value=["$__all"])))


def _annotations():
    builtin = (dashboard_builder.AnnotationQuery().name("Annotations & Alerts").type("dashboard")
               .datasource(dashboard_model.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
               .enable(True).hide(True).icon_color("rgba(0, 211, 255, 1)"))
    firing = (dashboard_builder.AnnotationQuery().name("cs-pulse alerts").datasource(_datasource())
              .enable(True).hide(False).icon_color("red")
              .expr('ALERTS{alertstate="firing", alertname=~"Pulse.*"}'))
    return [builtin, firing]


def dashboard_json(dashboard: Dashboard, settings: Settings | None = None) -> JSONDict:
    """The Grafana JSON model of one dashboard; panels flow left to right, 24 columns wide."""
    if settings is None:
        settings = Settings(thresholds=threshold_values())
    builder = (
        dashboard_builder.Dashboard(dashboard.title)
        .uid(dashboard.uid)
        .description(dashboard.description)
        .tags(list(dashboard.tags))
        .readonly()
        .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
        .refresh("1m")
        .version(1)
        .time("now-7d", "now")
        .timezone("utc")
        .link(dashboard_builder.DashboardLink("cs-pulse").type(dashboard_model.DashboardLinkType.DASHBOARDS)
              .tags(["cs-pulse"]).as_dropdown(True).include_vars(True).keep_time(True))
        .with_variable(_datasource_variable())
        .with_variable(_runbook_variable())
        .annotations(_annotations())
    )
    if dashboard.plan_variable:
        builder = builder.with_variable(_plan_variable())
    if dashboard.account_api_variable:
        builder = builder.with_variable(_account_api_variable())
    for panel in dashboard.panels:
        builder = builder.with_panel(_panel_builder(panel, settings))
    model = json.loads(JSONEncoder().encode(builder.build()))
    # What the SDK's schema (Grafana 10.1) has no field for: the built-in flag of
    # "Annotations & Alerts" (Grafana would add a second copy without it), panel ids.
    model["annotations"]["list"][0]["builtIn"] = 1
    for panel_id, panel_model in enumerate(model["panels"], start=1):
        panel_model["id"] = panel_id
    for variable in model["templating"]["list"]:
        variable.pop("id", None)  # the SDK's all-zero placeholder
    return model


def render(dashboard: Dashboard, settings: Settings | None = None) -> str:
    """The committed text of a dashboard: sorted keys, two-space indent, final newline."""
    return json.dumps(dashboard_json(dashboard, settings), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


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
    parser.add_argument("--currency", default=DEFAULT_CURRENCY, metavar="CODE",
                        help="ISO 4217 code of the reporting currency for money panels (default: %(default)s)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Z]{3}", args.currency):
        parser.error(f"--currency {args.currency!r} is not an ISO 4217 code: give three upper-case letters, e.g. EUR.")
    settings = Settings(currency=args.currency, thresholds=threshold_values())
    stale = []
    for dashboard in DASHBOARDS:
        path, text = output_path(dashboard), render(dashboard, settings)
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
