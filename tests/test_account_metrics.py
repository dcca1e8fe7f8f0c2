"""The account layer's Prometheus samples (streams/engine/account_metrics.py): aggregates
equal the sums of the records, the watchlist is chosen as documented and its cap holds
for a worker's share as for the whole group."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streams.engine.account_metrics import BANDS, account_samples, share, watchlist
from streams.engine.accounts_config import AccountsConfig, WatchlistConfig
from streams.engine.cohorts import ADDITIVE
from streams.errors import ConfigError


def _record(i: int, mrr: str, band: str, *, stuck: int = 0, adoption: float | None = None) -> dict:
    onboarding = {name: 0 for name in ADDITIVE} | {
        "stuck": stuck,
        "days_since_step": 9 if stuck else None,
        "activation_cohort": 1,
        "ttv_days_sum": 0.5,
    }
    return {
        "account_id": f"a{i:04d}",
        "segment": "smb",
        "owner": None if i % 5 == 0 else f"csm-{i % 3}",
        "mrr": Decimal(mrr),
        "days_since_activity": i % 31,
        "days_past_due": None,
        "days_to_renewal": 40,
        "feature_adoption": {"export": adoption},
        "onboarding": onboarding,
        "health": {
            "band": band,
            "score": {"red": 30.0, "yellow": 60.0, "green": 90.0}.get(band),
            "trend_7d": None,
        },
    }


RECORDS = [
    _record(
        i,
        f"{(i * 37) % 500}.25",
        ("red", "yellow", "green", "unknown")[i % 4],
        stuck=i % 7 == 0,
        adoption=0.1 if i % 3 == 0 else None,
    )
    for i in range(400)
]


def _values(samples, name: str) -> dict:
    return {
        dict(s.labels).get("band") or dict(s.labels).get("account"): s.value
        for s in samples
        if s.name == name
    }


def test_aggregates_are_the_sums_of_the_records():
    samples = account_samples(RECORDS, AccountsConfig())
    counts, mrr = _values(samples, "pulse_accounts"), _values(samples, "pulse_accounts_mrr")
    for band in ("red", "yellow", "green", "unknown"):
        assert counts[band] == sum(1 for r in RECORDS if r["health"]["band"] == band)
        assert mrr[band] == sum(r["mrr"] for r in RECORDS if r["health"]["band"] == band)
    assert _values(samples, "pulse_mrr_at_risk")[None] == mrr["red"]
    assert _values(samples, "pulse_onboarding_stuck_accounts")[None] == sum(
        r["onboarding"]["stuck"] for r in RECORDS
    )
    assert _values(samples, "pulse_onboarding_activation_cohort_accounts")[None] == 400
    assert _values(samples, "pulse_onboarding_time_to_value_sum_seconds")[None] == pytest.approx(
        400 * 0.5 * 86400
    )


def test_aggregates_of_two_shares_add_up_to_the_whole():
    whole = account_samples(RECORDS, AccountsConfig())
    parts = [account_samples(RECORDS[i::2], AccountsConfig(), 2, 4) for i in range(2)]
    for name in ("pulse_accounts", "pulse_accounts_mrr", "pulse_onboarding_stuck_accounts"):
        expected = _values(whole, name)
        got = {k: sum(_values(p, name)[k] for p in parts) for k in expected}
        assert got == expected


def test_the_watchlist_is_the_top_by_mrr_then_red_accounts_within_the_cap():
    config = WatchlistConfig(cap=30, top_by_mrr=10)
    chosen = watchlist(RECORDS, config)
    assert len(chosen) == 30
    by_mrr = sorted(RECORDS, key=lambda r: (-r["mrr"], r["account_id"]))
    top = {r["account_id"] for r in by_mrr[:10]}
    reds = [
        r["account_id"]
        for r in by_mrr
        if r["health"]["band"] == "red" and r["account_id"] not in top
    ][:20]
    assert {r["account_id"] for r in chosen} == top | set(reds)


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_the_cap_holds_for_the_group_whatever_its_size(workers):
    config = AccountsConfig(watchlist=WatchlistConfig(cap=25, top_by_mrr=10))
    partitions = 12
    owned = [len(range(w, partitions, workers)) for w in range(workers)]
    exported = set()
    for w, count in enumerate(owned):
        samples = account_samples(RECORDS[w::workers], config, count, partitions)
        exported |= {
            dict(s.labels)["account"] for s in samples if s.name == "pulse_watchlist_account_red"
        }
    assert (
        len(exported) <= 25 + workers
    )  # each worker's share rounds up: at most one more per worker
    if workers == 1:
        assert len(exported) == 25
    assert share(25, 12, 12) == 25 and share(25, 1, 12) == 3


def test_watchlist_series_carry_account_segment_owner_and_skip_missing_values():
    config = AccountsConfig(
        watchlist=WatchlistConfig(cap=400, top_by_mrr=0, key_features=("export",))
    )
    samples = account_samples(RECORDS, config)
    score = [s for s in samples if s.name == "pulse_watchlist_account_health_score"]
    assert len(score) == 100  # every red account, nothing else (top_by_mrr = 0)
    assert {tuple(name for name, _ in s.labels) for s in score} == {("account", "segment", "owner")}
    assert not [
        s for s in samples if s.name == "pulse_watchlist_account_health_trend_7d"
    ]  # trend unknown: no sample
    adoption = [s for s in samples if s.name == "pulse_watchlist_account_feature_adoption_ratio"]
    assert adoption and all(
        dict(s.labels)["feature"] == "export" and s.value == 0.1 for s in adoption
    )
    inactivity = _values(samples, "pulse_watchlist_account_inactivity_seconds")
    assert inactivity["a0004"] == 4 * 86400


def test_a_cap_of_zero_exports_no_account():
    samples = account_samples(RECORDS, AccountsConfig(watchlist=WatchlistConfig(cap=0)))
    assert not [s for s in samples if s.name.startswith("pulse_watchlist_")]


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"cap": -1}, "cap must be a whole number from 0 to 10000"),
        ({"cap": "200"}, "cap must be a whole number"),
        ({"key_features": "export"}, "key_features must be a list"),
        ({"size": 3}, "Unknown key [accounts.watchlist] size"),
    ],
)
def test_a_bad_watchlist_configuration_is_one_sentence(table, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        AccountsConfig.from_mapping({"watchlist": table})


def _sorted_watchlist(records, config: WatchlistConfig, owned: int, partitions: int):
    """The watchlist's definition, by sorting every record (the module header's words)."""
    cap = share(config.cap, owned, partitions)
    top = share(min(config.top_by_mrr, config.cap), owned, partitions)
    by_mrr = sorted(records, key=lambda r: (-r["mrr"], r["account_id"]))
    chosen = [r for r in by_mrr if r["mrr"] > 0][:top]
    taken = {r["account_id"] for r in chosen}
    for record in by_mrr:
        if len(chosen) >= cap:
            break
        if record["health"]["band"] == "red" and record["account_id"] not in taken:
            chosen.append(record)
    return sorted(chosen[:cap], key=lambda r: r["account_id"])


@pytest.mark.parametrize("seed", range(6))
def test_the_watchlist_found_with_heaps_is_the_sorted_definition(seed):
    import random

    rng = random.Random(seed)
    records = [
        _record(i, rng.choice(["0.00", "10.00", "10.00", "99.50", "250.00"]), rng.choice(BANDS))
        for i in range(rng.randint(0, 60))
    ]
    for cap, top in ((0, 0), (5, 2), (10, 10), (40, 3), (200, 50)):
        config = WatchlistConfig(cap=cap, top_by_mrr=top)
        for owned, partitions in ((1, 1), (1, 4), (3, 4)):
            assert watchlist(records, config, owned, partitions) == _sorted_watchlist(
                records, config, owned, partitions
            )


@pytest.mark.parametrize("per_step", [1, 3, 7, 1000])
def test_the_account_samples_in_steps_yield_every_per_step_records_and_are_the_same(per_step):
    from streams.engine.account_metrics import account_samples_steps

    records = [_record(i, f"{i}.00", BANDS[i % 4]) for i in range(20)]
    config = AccountsConfig()
    steps = account_samples_steps(records, config, 1, 1, per_step)
    yields = 0
    while True:
        try:
            next(steps)
            yields += 1
        except StopIteration as done:
            samples = done.value
            break
    assert yields == len(records) // per_step
    assert samples == account_samples(records, config)


@pytest.mark.parametrize("seed", range(4))
def test_records_read_once_give_the_watchlist_of_the_sorted_definition(seed):
    """account_samples reads its records once and keeps the leaders only (a replay passes
    them one at a time): with many more records than the cap, the watchlist is still the
    definition's."""
    import random

    rng = random.Random(seed)
    records = [
        _record(
            i,
            rng.choice(["0.00", "10.00", "99.50", f"{rng.randint(1, 9999)}.00"]),
            rng.choice(BANDS),
        )
        for i in range(rng.randint(300, 900))
    ]
    rng.shuffle(records)
    for cap, top in ((3, 1), (5, 5), (20, 4)):
        config = AccountsConfig(watchlist=WatchlistConfig(cap=cap, top_by_mrr=top))
        once = account_samples(iter(records), config)
        expected = {r["account_id"] for r in _sorted_watchlist(records, config.watchlist, 1, 1)}
        assert set(_values(once, "pulse_watchlist_account_mrr")) == expected
        assert once == account_samples(records, config)
