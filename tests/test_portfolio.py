"""The portfolio query (streams/worker/portfolio_query.py): parsing, the 400 reasons, order and merge."""

from __future__ import annotations

import random

import pytest

from streams.worker.portfolio_query import MAX_LIMIT, PortfolioQuery, QueryError


def _record(
    account_id: str,
    mrr: float,
    band: str,
    score: float | None,
    owner: str = "csm-a",
    segment: str = "smb",
    stage: str = "active",
) -> dict:
    return {
        "account_id": account_id,
        "mrr": mrr,
        "owner": owner,
        "segment": segment,
        "stage": stage,
        "plan": "pro",
        "health": {"band": band, "score": score},
    }


RECORDS = [
    _record("a1", 100.0, "red", 10.0),
    _record("a2", 300.0, "green", 90.0, owner="csm-b"),
    _record("a3", 300.0, "red", 40.0, segment="enterprise"),
    _record("a4", 0.0, "unknown", None, stage="churned"),
    _record("a5", 50.0, "yellow", 60.0, owner="csm-b"),
]


def _ids(records) -> list[str]:
    return [r["account_id"] for r in records]


def test_filters_sort_descending_ties_by_account_id_and_limit():
    total, records = PortfolioQuery.parse({"band": "red", "sort": "-mrr", "limit": "50"}).select(
        RECORDS
    )
    assert total == 2 and _ids(records) == ["a3", "a1"]
    total, records = PortfolioQuery.parse({"sort": "-mrr", "limit": "3"}).select(RECORDS)
    assert total == 5 and _ids(records) == [
        "a2",
        "a3",
        "a1",
    ]  # a2 and a3 tie at 300: the smaller id first
    _, records = PortfolioQuery.parse(
        {"owner": "csm-b,csm-a", "segment": "smb", "sort": "mrr"}
    ).select(RECORDS)
    assert _ids(records) == ["a4", "a5", "a1", "a2"]


def test_accounts_without_a_value_come_last_in_both_directions():
    assert _ids(PortfolioQuery.parse({"sort": "score"}).select(RECORDS)[1])[-1] == "a4"
    assert _ids(PortfolioQuery.parse({"sort": "-score"}).select(RECORDS)[1])[-1] == "a4"
    assert _ids(PortfolioQuery.parse({"sort": "-score"}).select(RECORDS)[1])[0] == "a2"


def test_merging_the_workers_answers_equals_the_answer_over_all_accounts():
    rng = random.Random(5)
    records = [
        _record(
            f"x{i:03d}",
            float(rng.randint(0, 9) * 10),
            rng.choice(["red", "yellow", "green"]),
            rng.choice([None, 20.0, 50.0, 80.0]),
            owner=rng.choice(["o1", "o2"]),
        )
        for i in range(200)
    ]
    for params in (
        {"sort": "-mrr", "limit": "7"},
        {"band": "red", "sort": "score", "limit": "20"},
        {"owner": "o2", "sort": "-score"},
    ):
        query = PortfolioQuery.parse(params)
        parts = [records[i::3] for i in range(3)]
        assert query.merge(query.select(part) for part in parts) == query.select(records)


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"band": "purple"}, "band", "purple is not one of green, red, unknown, yellow"),
        ({"stage": "gone"}, "stage", "is not one of"),
        ({"sort": "-colour"}, "sort", "is not a sort key"),
        ({"limit": "0"}, "limit", f"from 1 to {MAX_LIMIT}"),
        ({"limit": "ten"}, "limit", "not a whole number"),
        ({"limit": str(MAX_LIMIT + 1)}, "limit", "not a whole number"),
        ({"owner": " , "}, "owner", "is empty"),
        ({"colour": "red"}, "colour", "unknown parameter colour"),
    ],
)
def test_a_bad_parameter_is_named(params, parameter, words):
    with pytest.raises(QueryError) as caught:
        PortfolioQuery.parse(params)
    assert caught.value.parameter == parameter and words in str(caught.value)


def test_a_parameter_given_twice_is_refused():
    with pytest.raises(QueryError, match="given twice"):
        PortfolioQuery.parse([("band", "red"), ("band", "green")])


def test_selecting_computed_records_then_rendering_equals_selecting_rendered_records(tmp_path):
    from streams.cli.accounts import records_from_files
    from streams.engine.records import to_json_ready
    from streams.generator import GeneratorConfig, generate

    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"".join(m.value + b"\n" for m in generate(GeneratorConfig(accounts=40, days=30, seed=6)))
    )
    _as_of, records = records_from_files((str(path),), None, None)
    rendered = [to_json_ready(record) for record in records]
    for params in (
        {"sort": "-mrr", "limit": "10"},
        {"band": "red,yellow", "sort": "score"},
        {"sort": "days_to_renewal"},
        {"stage": "active", "sort": "-arr", "limit": "5"},
    ):
        query = PortfolioQuery.parse(params)
        total, selected = query.select(records)
        assert (total, [to_json_ready(r) for r in selected]) == query.select(rendered)


def test_the_heap_selection_equals_sorting_every_matching_record():
    """select/select_rows take the top `limit` with a heap; the answer must be exactly the
    matching records fully sorted (None last, ties by account_id) and cut at `limit`."""
    rng = random.Random(11)
    records = [
        _record(
            f"y{rng.randint(0, 10**6):07d}",
            rng.choice([0.0, 10.0, 20.0, 30.0]),
            rng.choice(["red", "yellow", "green", "unknown"]),
            rng.choice([None, 20.0, 50.0, 80.0]),
            owner=rng.choice(["o1", "o2", "o3"]),
            segment=rng.choice(["smb", "mid"]),
        )
        for _ in range(400)
    ]
    for _ in range(300):
        params = {
            "sort": rng.choice(["", "-"])
            + rng.choice(["mrr", "score", "owner", "account_id", "arr"]),
            "limit": str(rng.choice([1, 2, 5, 50, 399, 1000])),
        }
        if rng.random() < 0.5:
            params["band"] = ",".join(
                rng.sample(["red", "yellow", "green", "unknown"], rng.randint(1, 3))
            )
        if rng.random() < 0.3:
            params["owner"] = rng.choice(["o1", "o2,o3"])
        query = PortfolioQuery.parse(params)
        matching = [record for record in records if query.matches(record)]
        expected = (len(matching), query.order(matching)[: query.limit])
        assert query.select(records) == expected, params
