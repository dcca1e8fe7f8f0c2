"""The worker's record cache (streams/worker/record_cache.py): the records of `pulse accounts`,
computed once per account and evaluation step, again when the account changes."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from streams.cli.accounts import records_from_files
from streams.cli.replay import ReplaySummary, _open_input, evaluation_time, ingest
from streams.engine.records import to_json_ready
from streams.generator import GeneratorConfig, generate
from streams.ingest.pipeline import Pipeline
from streams.pulse_config import load_config
from streams.worker.portfolio_query import portfolio_row
from streams.worker.record_cache import RecordCache


class Book:
    """The part of WorkerBook the cache reads, over a replayed engine."""

    def __init__(self, path) -> None:
        self.config = load_config(None)
        pipeline = Pipeline(self.config, clock=None, check_topic=False)
        with ExitStack() as stack:
            ingest(pipeline, [_open_input(str(path), stack)], ReplaySummary())
        self.as_of = evaluation_time(pipeline, None)
        pipeline.engine.prune()
        self.store = pipeline.engine.store
        self.touched: set[str] = set()
        self.gone: set[str] = set()
        self.generation = 0

    def account_state(self, account_id):
        return self.store.get(account_id)

    def account_ids(self):
        return iter(list(self.store.keys()))

    def account_states(self):
        return [(account_id, self.store.get(account_id)) for account_id in list(self.store.keys())]


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The events every test reads (each test replays them into a book of its own)."""
    path = tmp_path_factory.mktemp("record-cache") / "events.jsonl"
    path.write_bytes(
        b"".join(m.value + b"\n" for m in generate(GeneratorConfig(accounts=12, days=20, seed=4)))
    )
    return path


def frozen_cache(path: Path) -> tuple[Book, RecordCache, int]:
    """A fresh book over `path`, its cache on a frozen clock, and that clock's instant."""
    book = Book(path)
    cache = RecordCache(book, lambda: book.as_of, frozen=True)
    return book, cache, cache.as_of()


def count_computations(cache: RecordCache) -> list[str]:
    """The accounts the cache computes from now on, in order."""
    computed: list[str] = []
    compute = cache._compute

    def counting(account_id, at):
        computed.append(account_id)
        return compute(account_id, at)

    cache._compute = counting
    return computed


def test_cached_records_are_the_records_of_pulse_accounts_and_are_reused_until_the_account_changes(
    events,
):
    book, cache, as_of = frozen_cache(events)
    assert as_of == book.as_of  # a frozen clock is used exactly
    evaluated_at, expected = records_from_files((str(events),), None, None)
    assert evaluated_at == as_of
    assert cache.refresh(budget_s=10.0) is True  # the background task computes them
    assert cache.json_records(as_of) == [to_json_ready(record) for record in expected]

    first = expected[0]["account_id"]
    second = expected[1]["account_id"]
    kept = cache.record(first, as_of), cache.record(second, as_of)
    assert cache.record(first, as_of) is kept[0]  # computed once
    book.touched.add(first)  # an event changed the account
    assert cache.record(first, as_of) is not kept[0] and cache.record(first, as_of) == kept[0]
    assert cache.record(second, as_of) is kept[1]
    book.generation += 1  # the partitions were reloaded: nothing is kept
    assert cache.record(second, as_of) is not kept[1]
    assert cache.record("no-such-account", as_of) is None


def test_a_live_clock_is_stepped_and_a_new_step_computes_again(events):
    book = Book(events)
    now = [book.as_of + 30_000]
    cache = RecordCache(book, lambda: now[0], frozen=False, step_ms=60_000)
    step = cache.as_of()
    assert step % 60_000 == 0 and step <= now[0] < step + 60_000
    account = next(iter(book.store.keys()))
    kept = cache.record(account, step)
    now[0] += 10_000
    if cache.as_of() == step:
        assert cache.record(account, cache.as_of()) is kept
    now[0] += 60_000
    assert cache.as_of() > step and cache.record(account, cache.as_of()) is not kept
    assert cache.refresh(budget_s=10.0) is True  # everything computed within the budget


def test_the_portfolio_reads_cached_records_until_the_refresh_computes_the_changed_ones(events):
    book, cache, as_of = frozen_cache(events)
    assert cache.refresh(budget_s=10.0) is True
    before = cache.records(as_of)
    account = before[0]["account_id"]
    book.touched.add(account)
    assert cache.records(as_of)[0] is before[0]  # the portfolio does not wait for it
    assert cache.stale() == 1
    assert cache.refresh(budget_s=10.0) is True and cache.stale() == 0
    assert cache.records(as_of)[0] is not before[0] and cache.records(as_of)[0] == before[0]


def test_a_portfolio_query_reads_the_kept_rows_and_walks_no_account_and_a_deleted_account_leaves(
    events,
):
    """A query walking every account of the book to find the cached ones was the largest
    part of a portfolio query over 10,000 accounts (docs/performance.md): the cache keeps
    the rows of loaded accounts only, and drops the row of an account pruning deleted."""
    book, cache, as_of = frozen_cache(events)
    assert cache.refresh(budget_s=10.0) is True
    walks = []
    account_ids = book.account_ids
    book.account_ids = lambda: walks.append(1) or account_ids()
    rows = cache.rows(as_of)
    assert sorted(row[0]["account_id"] for row in rows) == sorted(book.store.keys())
    assert [portfolio_row(row[0]) for row in rows] == rows  # each row is its record's
    assert walks == []  # no walk over the book's accounts
    gone = sorted(book.store.keys())[0]
    del book.store[gone]  # what a prune that empties an account does...
    book.gone.add(gone)  # ...and what the worker's book then says
    assert gone not in {row[0]["account_id"] for row in cache.rows(as_of)}
    assert gone not in {record["account_id"] for record in cache.records(as_of)}
    assert len(cache.rows(as_of)) == len(book.store) and not book.gone
    assert cache.refresh(budget_s=10.0) is True and walks  # the refresh still walks them


def test_a_refresh_round_computes_accounts_never_computed_first(events):
    book, cache, as_of = frozen_cache(events)
    accounts = [account_id for account_id, _state in book.account_states()]
    for account_id in accounts[: len(accounts) // 2]:
        cache.record(account_id, as_of)
    for account_id in accounts[: len(accounts) // 2]:
        book.touched.add(account_id)  # changed since: due again, after the new ones
    computed = count_computations(cache)
    assert cache.refresh(budget_s=10.0) is True
    half = len(accounts) - len(accounts) // 2
    assert sorted(computed[:half]) == sorted(
        accounts[len(accounts) // 2 :]
    )  # never computed: first
    assert sorted(computed[half:]) == sorted(accounts[: len(accounts) // 2])


def test_the_account_samples_are_made_once_per_refresh_round_that_computed_something(events):
    from streams.engine.account_metrics import account_samples

    book, cache, _as_of = frozen_cache(events)
    assert cache.refresh(budget_s=10.0) is True
    first = cache.account_samples(1, 1)
    assert first == account_samples(cache.records(cache.as_of()), book.config.accounts, 1, 1)
    assert cache.account_samples(1, 1) is first  # a second scrape computes nothing
    account = cache.records(cache.as_of())[0]["account_id"]
    book.touched.add(account)
    assert cache.account_samples(1, 1) is first  # as of the last round, like the portfolio
    assert cache.refresh(budget_s=10.0) is True  # the round computes the changed account...
    assert cache.account_samples(1, 1) is not first  # ...and the next scrape makes them again
    assert cache.account_samples(1, 1) == first  # (the same figures: its events did not change)
    assert cache.account_samples(1, 2) is not cache.account_samples(1, 1)  # another share


def test_portfolio_rows_render_as_pulse_accounts_and_each_record_once(events):
    from streams.worker.portfolio_query import PortfolioQuery

    _book, cache, as_of = frozen_cache(events)
    _, expected = records_from_files((str(events),), None, None)
    assert cache.refresh(budget_s=10.0) is True
    query = PortfolioQuery.parse({"sort": "-mrr", "limit": "5"})
    total, selected = query.select_rows(cache.rows(as_of))
    assert (total, cache.rendered(selected)) == query.select([to_json_ready(r) for r in expected])
    again = cache.rendered(query.select_rows(cache.rows(as_of))[1])
    # rendered once
    assert all(a is b for a, b in zip(again, cache.rendered(selected), strict=True))
    first = selected[0]["account_id"]
    assert cache.json_bytes(first, as_of) is cache.json_bytes(first, as_of)


def test_a_portfolio_query_computes_nothing_an_account_never_computed_waits_for_the_refresh(
    events,
):
    """During a backlog new accounts arrive faster than the refresh computes them; a query
    computing them on the spot took seconds. It reads what the refresh has computed."""
    book, cache, as_of = frozen_cache(events)
    accounts = sorted(account_id for account_id, _state in book.account_states())
    computed = count_computations(cache)
    cache.record(accounts[0], as_of)  # one account asked for: always exact
    assert [r["account_id"] for r in cache.records(as_of)] == accounts[:1]
    assert len(cache.rows(as_of)) == 1 and cache.account_samples(1, 1)
    assert computed == accounts[:1]  # the portfolio and the account metrics computed nothing
    assert cache.refresh(budget_s=10.0) is True
    assert [r["account_id"] for r in cache.records(as_of)] == accounts


def test_the_refresh_share_of_the_loop_in_a_backlog_while_events_arrive_and_when_idle():
    from streams.worker.account_views import (
        REFRESH_BACKLOG_PAUSE_S,
        REFRESH_BUSY_PAUSE_S,
        REFRESH_IDLE_PAUSE_S,
        REFRESH_PAUSE_S,
        REFRESH_SLICE_S,
        refresh_pause,
    )

    def share(pause: float) -> float:
        return REFRESH_SLICE_S / (REFRESH_SLICE_S + pause)

    for busy in (True, False):
        for catching_up in (True, False):
            assert refresh_pause(True, busy, catching_up) == REFRESH_PAUSE_S  # all current
    assert refresh_pause(False, True, True) == REFRESH_BACKLOG_PAUSE_S
    assert share(REFRESH_BACKLOG_PAUSE_S) <= 0.05 + 1e-9
    assert refresh_pause(False, True, False) == REFRESH_BUSY_PAUSE_S
    assert share(REFRESH_BUSY_PAUSE_S) <= 0.1 + 1e-9
    assert refresh_pause(False, False, False) == REFRESH_IDLE_PAUSE_S < REFRESH_BUSY_PAUSE_S
