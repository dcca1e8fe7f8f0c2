"""The account layer in Prometheus: aggregates over the account records, and a capped watchlist.

Prometheus gets aggregates, never every account (docs/accounts.md, "Prometheus"). From the
records at T (streams.engine.records) this module makes samples:

Additive (a worker's figures sum to the global one over workers):
- `pulse_accounts{band}`: accounts per health band (red, yellow, green, unknown).
- `pulse_accounts_mrr{band}`: their MRR, in the reporting currency.
- `pulse_mrr_at_risk`: the MRR of the red accounts (paying accounts whose health is red).
- `pulse_onboarding_*`: the onboarding cohorts' numerators and denominators, the sums of
  the accounts' additive onboarding fields (streams.engine.cohorts.ADDITIVE); the ratios
  (activation rate, mean time to value, completion rate, mean completion time, trial
  conversion) are made by the recording rules from their sums. Median and p90 time to
  value are not additive: they are in `pulse accounts` and the account API only.

Per account, only for the watchlist, labelled account, segment and owner:
- Who is on it: the `top_by_mrr` accounts with the most MRR, then red accounts by MRR
  (ties to the smaller account_id), up to `cap` accounts. A worker owns some partitions
  only, so it uses its share: ceil(cap x owned partitions / partitions) (and the same for
  top_by_mrr); accounts spread evenly over partitions, so all workers together export at
  most about `cap` accounts (at most cap + one per worker), whatever the group's size.
- `pulse_watchlist_account_health_score`, `..._red` and `..._green` (1 when the band is that),
  `..._health_trend_7d` (when known), `..._mrr`, `..._inactivity_seconds`,
  `..._past_due_seconds`, `..._until_renewal_seconds` (the record's whole days, in
  seconds), `..._onboarding_stuck` and `..._onboarding_idle_seconds` (while onboarding), and
  `..._feature_adoption_ratio{feature}` for the configured key features the plan includes.
  A value the record does not have (None) gives no sample.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from streams.engine.accounts_config import AccountsConfig, WatchlistConfig
from streams.engine.cohorts import ADDITIVE
from streams.engine.engine import Steps, run_steps
from streams.engine.samples import Labels, Sample
from streams.engine.timeline import DAY_MS

BANDS: tuple[str, ...] = ("red", "yellow", "green", "unknown")
ONBOARDING_SAMPLES: dict[str, tuple[str, float]] = {
    # additive field of the onboarding block -> (metric, scale)
    "activation_cohort": ("pulse_onboarding_activation_cohort_accounts", 1),
    "activated": ("pulse_onboarding_activated_accounts", 1),
    "ttv_days_sum": ("pulse_onboarding_time_to_value_sum_seconds", DAY_MS / 1000),
    "completion_cohort": ("pulse_onboarding_completion_cohort_accounts", 1),
    "completed": ("pulse_onboarding_completed_accounts", 1),
    "completion_days_sum": ("pulse_onboarding_completion_time_sum_seconds", DAY_MS / 1000),
    "trials_ended": ("pulse_onboarding_trials_ended", 1),
    "trials_converted": ("pulse_onboarding_trials_converted", 1),
    "stuck": ("pulse_onboarding_stuck_accounts", 1),
}
if tuple(ONBOARDING_SAMPLES) != ADDITIVE:
    raise RuntimeError("ONBOARDING_SAMPLES must name every additive onboarding field, in its order")
DAY_SECONDS = DAY_MS // 1000
WATCHLIST_FIELDS: dict[str, tuple[str, int]] = {
    # metric suffix -> (the record's field, scale): durations in whole days become seconds
    "health_score": ("score", 1),
    "health_trend_7d": ("trend_7d", 1),
    "mrr": ("mrr", 1),
    "inactivity_seconds": ("days_since_activity", DAY_SECONDS),
    "past_due_seconds": ("days_past_due", DAY_SECONDS),
    "until_renewal_seconds": ("days_to_renewal", DAY_SECONDS),
}
ACCOUNT_HELP: dict[str, str] = {
    "pulse_accounts": "Accounts at T by health band (red, yellow, green, unknown).",
    "pulse_accounts_mrr": "MRR at T of the accounts in each health band, in the reporting currency.",
    "pulse_mrr_at_risk": "MRR at T of the accounts whose health band is red, in the reporting currency.",
    "pulse_onboarding_activation_cohort_accounts": "Accounts of the activation cohort (signed up in the cohort window, activation_days ago).",
    "pulse_onboarding_activated_accounts": "Accounts of the activation cohort that reached the activation event within activation_days.",
    "pulse_onboarding_time_to_value_sum_seconds": "Sum of signup-to-activation times of the activated cohort accounts.",
    "pulse_onboarding_completion_cohort_accounts": "Accounts of the completion cohort (signed up in the cohort window, completion_days ago).",
    "pulse_onboarding_completed_accounts": "Accounts of the completion cohort that completed onboarding within completion_days.",
    "pulse_onboarding_completion_time_sum_seconds": "Sum of signup-to-completion times of the completed cohort accounts.",
    "pulse_onboarding_trials_ended": "Trials that ended in the trial window.",
    "pulse_onboarding_trials_converted": "Trials that ended in the trial window with a paying subscription.",
    "pulse_onboarding_stuck_accounts": "Accounts in onboarding with no step for stuck_days.",
    "pulse_watchlist_account_health_score": "Health score 0..100 of a watchlist account.",
    "pulse_watchlist_account_red": "1 when a watchlist account's health band is red, else 0.",
    "pulse_watchlist_account_green": "1 when a watchlist account's health band is green, else 0.",
    "pulse_watchlist_account_health_trend_7d": "Change of a watchlist account's health score against 7 days earlier.",
    "pulse_watchlist_account_mrr": "MRR at T of a watchlist account, in the reporting currency.",
    "pulse_watchlist_account_inactivity_seconds": "Whole days since a watchlist account's last activity, in seconds (30 days = 30 or more).",
    "pulse_watchlist_account_past_due_seconds": "Whole days a paying watchlist account's payment has been failing, in seconds (0 when current).",
    "pulse_watchlist_account_until_renewal_seconds": "Whole days from T to a watchlist account's renewal date, in seconds (negative: passed).",
    "pulse_watchlist_account_onboarding_stuck": "1 when a watchlist account is stuck in onboarding, else 0 (while onboarding).",
    "pulse_watchlist_account_onboarding_idle_seconds": "Whole days since a watchlist account's latest onboarding step, in seconds (while onboarding).",
    "pulse_watchlist_account_feature_adoption_ratio": "Users of a key feature in 30 days / active users in 30 days, of a watchlist account.",
}


def account_samples(
    records: Iterable[Mapping[str, Any]],
    config: AccountsConfig,
    owned: int = 1,
    partitions: int = 1,
) -> list[Sample]:
    """The aggregate samples of `records` and the watchlist samples of this share (`owned`
    of `partitions` partitions: a worker's share of the cap)."""
    return run_steps(account_samples_steps(records, config, owned, partitions, 0))


def account_samples_steps(
    records: Iterable[Mapping[str, Any]],
    config: AccountsConfig,
    owned: int,
    partitions: int,
    records_per_step: int,
) -> Steps[list[Sample]]:
    """`account_samples` as steps: yields after every `records_per_step` records summed (0:
    never) and returns the samples (a worker's scrape serves requests between steps).
    Reads `records` once and keeps only the watchlist's candidates: a replay passes its
    records one at a time."""
    tally = AccountTally(config.watchlist, owned, partitions)
    for index, record in enumerate(records, 1):
        tally.add(record)
        if records_per_step and index % records_per_step == 0:
            yield
    return tally.samples(config)


AccountRow = tuple[str, str, Decimal, tuple[float, ...]]
"""What the aggregates read of one record: (account_id, band, mrr, the onboarding block's
`ADDITIVE` fields in that order)."""


def account_row(record: Mapping[str, Any]) -> AccountRow:
    onboarding = record["onboarding"]
    return (
        record["account_id"],
        record["health"]["band"],
        record["mrr"],
        tuple(onboarding[name] for name in ADDITIVE),
    )


class AccountTally:
    """The account samples of records read once, in account_id order: the aggregates'
    sums and the watchlist's candidates (`_Leaders`), nothing else of a record.

    Mergeable: `pulse replay --jobs N` tallies each job's records in its child (`add`), and
    the parent sums the jobs' `rows` in account_id order (`add_row`, the order one process
    sums them in, so the floats come out the same) and takes the union of their
    `candidates` (each job's leaders hold every account of the union's leaders)."""

    def __init__(self, config: WatchlistConfig, owned: int = 1, partitions: int = 1) -> None:
        self.watchlist_config, self.owned, self.partitions = config, owned, partitions
        self.counts = dict.fromkeys(BANDS, 0)
        self.mrr = {band: Decimal("0.00") for band in BANDS}
        self.onboarding: list[float] = [0] * len(ADDITIVE)
        cap, top = _limits(config, owned, partitions)
        self.paying = _Leaders(top)
        self.red = _Leaders(cap)

    def add(self, record: Mapping[str, Any]) -> None:
        self.add_row(account_row(record))
        self.add_candidate(record)

    def add_row(self, row: AccountRow) -> None:
        _, band, mrr, onboarding = row
        self.counts[band] += 1
        self.mrr[band] += mrr
        sums = self.onboarding
        for position, value in enumerate(onboarding):
            sums[position] += value

    def add_candidate(self, record: Mapping[str, Any]) -> None:
        if record["mrr"] > 0:
            self.paying.add(record)
        if record["health"]["band"] == "red":
            self.red.add(record)

    def candidates(self) -> list[Mapping[str, Any]]:
        """The records that can be on the watchlist, each once."""
        kept = {record["account_id"]: record for record in (*self.paying.kept(), *self.red.kept())}
        return list(kept.values())

    def samples(self, config: AccountsConfig) -> list[Sample]:
        counts, mrr = self.counts, self.mrr
        out = [Sample("pulse_accounts", (("band", band),), counts[band]) for band in BANDS]
        out += [Sample("pulse_accounts_mrr", (("band", band),), mrr[band]) for band in BANDS]
        out.append(Sample("pulse_mrr_at_risk", (), mrr["red"]))
        for value, (metric, scale) in zip(
            self.onboarding, ONBOARDING_SAMPLES.values(), strict=True
        ):
            out.append(Sample(metric, (), value * scale if scale != 1 else value))
        chosen = watchlist(self.candidates(), self.watchlist_config, self.owned, self.partitions)
        for record in chosen:
            out += _watchlist_samples(record, config)
        return out


def share(value: int, owned: int, partitions: int) -> int:
    """ceil(value x owned / partitions): a worker's part of a group-wide number."""
    return -(-value * owned // partitions)


def _limits(config: WatchlistConfig, owned: int, partitions: int) -> tuple[int, int]:
    """(cap, top_by_mrr) of this share (see the module header)."""
    return (
        share(config.cap, owned, partitions),
        share(min(config.top_by_mrr, config.cap), owned, partitions),
    )


def _by_mrr(record: Mapping[str, Any]) -> tuple[Decimal, str]:
    return -record["mrr"], record["account_id"]


class _Leaders:
    """The `size` first records by MRR (ties to the smaller account_id) of those added: a
    list trimmed to them whenever it reaches twice that (plus a little), so it holds O(size)
    records whatever their number. Exact: a record trimmed away has `size` records ahead
    of it already."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.records: list[Mapping[str, Any]] = []

    def add(self, record: Mapping[str, Any]) -> None:
        self.records.append(record)
        if len(self.records) >= 2 * self.size + 64:
            self.records = heapq.nsmallest(self.size, self.records, key=_by_mrr)

    def kept(self) -> list[Mapping[str, Any]]:
        return heapq.nsmallest(self.size, self.records, key=_by_mrr)


def watchlist(
    records: list[Mapping[str, Any]], config: WatchlistConfig, owned: int = 1, partitions: int = 1
) -> list[Mapping[str, Any]]:
    """The watchlist accounts of `records` (see the module header), in account_id order."""
    cap, top = _limits(config, owned, partitions)
    # The `top` first paying accounts by MRR, then red ones in the same order: only the
    # `cap` first of each can be chosen, so a heap finds them without sorting every record.
    chosen = heapq.nsmallest(top, (r for r in records if r["mrr"] > 0), key=_by_mrr)
    taken = {r["account_id"] for r in chosen}
    red = heapq.nsmallest(cap, (r for r in records if r["health"]["band"] == "red"), key=_by_mrr)
    for record in red:
        if len(chosen) >= cap:
            break
        if record["account_id"] not in taken:
            chosen.append(record)
    return sorted(chosen[:cap], key=lambda r: r["account_id"])


def _watchlist_samples(record: Mapping[str, Any], config: AccountsConfig) -> list[Sample]:
    labels: Labels = (
        ("account", record["account_id"]),
        ("segment", record["segment"] or ""),
        ("owner", record["owner"] or ""),
    )
    health = record["health"]
    values = {**record, "score": health["score"], "trend_7d": health["trend_7d"]}
    out = [
        Sample(
            f"pulse_watchlist_account_{suffix}",
            labels,
            values[field] * scale if scale != 1 else values[field],
        )
        for suffix, (field, scale) in WATCHLIST_FIELDS.items()
        if values[field] is not None
    ]
    out.append(Sample("pulse_watchlist_account_red", labels, int(health["band"] == "red")))
    out.append(Sample("pulse_watchlist_account_green", labels, int(health["band"] == "green")))
    onboarding = record["onboarding"]
    if onboarding["days_since_step"] is not None:
        out.append(Sample("pulse_watchlist_account_onboarding_stuck", labels, onboarding["stuck"]))
        out.append(
            Sample(
                "pulse_watchlist_account_onboarding_idle_seconds",
                labels,
                onboarding["days_since_step"] * DAY_SECONDS,
            )
        )
    adoption = record["feature_adoption"]
    for feature in config.watchlist.key_features:
        if adoption.get(feature) is not None:
            out.append(
                Sample(
                    "pulse_watchlist_account_feature_adoption_ratio",
                    (*labels, ("feature", feature)),
                    adoption[feature],
                )
            )
    return out
