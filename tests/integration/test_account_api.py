"""The worker's account API on the real broker, two workers: `/accounts/{id}` for every
account and the portfolio queries, asked of either worker, equal `pulse accounts` over the
same events at the same T; and again after one worker is killed with kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.parse

import orjson
import pytest

from streams.worker.portfolio_query import PortfolioQuery
from tests.integration.helpers import REPO, produce, unique, wait_until
from tests.integration.worker_harness import WorkerRun, fresh_topics, kafka_messages, make_dataset

pytestmark = pytest.mark.kafka
CATCH_UP_S = 300
TOKEN = "test-token-accounts-0123456789"
AUTH = {"Authorization": "Bearer " + TOKEN}
QUERIES = (
    {"sort": "-mrr", "limit": "50"},
    {"band": "red", "sort": "-mrr", "limit": "5"},
    {"band": "red,yellow", "sort": "score"},
    {"sort": "days_to_renewal", "limit": "7"},
    {"stage": "active", "sort": "-score", "limit": "1000"},
)


def _get(url: str) -> tuple[int, object]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=AUTH)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, orjson.loads(body)
        except orjson.JSONDecodeError:
            return error.code, body.decode(
                errors="replace"
            )  # not JSON: a defect the comparisons show
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, None


def replay_records(path, as_of: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "accounts", str(path), "--as-of", as_of],
        cwd=REPO,
        capture_output=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr.decode()
    return orjson.loads(result.stdout)


def _mismatches(run: WorkerRun, expected: list[dict]) -> list[str]:
    """What this worker answers differently from the replay (empty: all equal)."""
    base = f"http://127.0.0.1:{run.port}"
    wrong = []
    for record in expected:
        status, body = _get(f"{base}/accounts/{urllib.parse.quote(record['account_id'])}")
        if status != 200 or body != record:
            wrong.append(f"/accounts/{record['account_id']}: {status} {str(body)[:200]}")
    for params in QUERIES:
        total, selected = PortfolioQuery.parse(params).select(expected)
        status, body = _get(f"{base}/accounts?{urllib.parse.urlencode(params)}")
        if status != 200 or body["total"] != total or body["accounts"] != selected:
            wrong.append(
                f"/accounts?{urllib.parse.urlencode(params)}: {status} "
                f"{body.get('total') if isinstance(body, dict) else body} != {total}"
            )
    return wrong


def _wait_agree(runs: list[WorkerRun], expected: list[dict], what: str) -> None:
    last: list[str] = []

    def agree() -> bool:
        nonlocal last
        last = [line for run in runs for line in _mismatches(run, expected)]
        return not last

    try:
        wait_until(agree, CATCH_UP_S, runs[0].process, what)
    except AssertionError as error:
        raise AssertionError(f"{error}\nfirst mismatches:\n" + "\n".join(last[:10])) from None


def test_account_api_on_two_workers_equals_pulse_accounts_also_after_kill_9(
    kafka_bootstrap, tmp_path
):
    dataset = make_dataset(tmp_path, seed=31, accounts=30, days=45, duplicate_fraction=0.01)
    expected = replay_records(dataset.path, dataset.as_of)
    assert len(expected) >= 20 and {r["health"]["band"] for r in expected} >= {"red", "green"}
    prefix = fresh_topics(kafka_bootstrap)
    app_id = unique("acct")
    runs = [
        WorkerRun(
            kafka_bootstrap,
            tmp_path,
            app_id=app_id,
            prefix=prefix,
            as_of=dataset.as_of,
            name=name,
            extra=["--batch-size", "50", "--checkpoint-events", "200"],
            env={"PULSE_WEB_TOKEN": TOKEN},
        )
        for name in ("a", "b")
    ]
    first, second = runs
    try:
        produce(kafka_bootstrap, kafka_messages(dataset, prefix))
        _wait_agree(runs, expected, "both workers to serve the replay's records")
        # each worker owns some partitions, so some answers above were routed to the other one
        for run in runs:
            assert "pulse_assigned_partitions 0.0" not in (run.scrape() or "")
        base = f"http://127.0.0.1:{first.port}"
        status, body = _get(f"{base}/accounts/no-such-account")
        assert status == 404 and body["error"] == "unknown_account"
        status, body = _get(f"{base}/accounts?band=purple")
        assert status == 400 and body["parameter"] == "band"
        status, body = _get(f"{base}/accounts?sort=-mrr&colour=red")
        assert status == 400 and body["parameter"] == "colour"
        status, body = _get(f"{base}/accounts?limit=0")
        assert status == 400 and body["parameter"] == "limit"

        second.process.stop(signal.SIGKILL)
        _wait_agree([first], expected, "the survivor to serve the replay's records alone")
    finally:
        for run in runs:
            run.process.stop()
