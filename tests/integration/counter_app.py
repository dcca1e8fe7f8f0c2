"""A minimal Faust app for the foundation tests: JSON events in, a changelogged RocksDB
table of per-account counts and amounts out, readable over the worker's web port.

Run as `python -m tests.integration.counter_app worker`; configured by environment:
COUNTER_BOOTSTRAP, COUNTER_APP_ID, COUNTER_TOPIC, COUNTER_DATADIR, COUNTER_WEB_PORT,
COUNTER_PARTITIONS.
"""

from __future__ import annotations

import os

import faust
import orjson

app = faust.App(
    os.environ["COUNTER_APP_ID"],
    broker=f"kafka://{os.environ['COUNTER_BOOTSTRAP']}",
    store="rocksdb://",
    datadir=os.environ["COUNTER_DATADIR"],
    topic_partitions=int(os.environ.get("COUNTER_PARTITIONS", "4")),
    topic_replication_factor=1,
    processing_guarantee=os.environ.get("COUNTER_GUARANTEE", "exactly_once"),
    web_bind="127.0.0.1",
    web_port=int(os.environ["COUNTER_WEB_PORT"]),
    web_host="127.0.0.1",
    consumer_auto_offset_reset="earliest",
)
events = app.topic(
    os.environ["COUNTER_TOPIC"],
    key_type=bytes,
    value_type=bytes,
    value_serializer="raw",
    key_serializer="raw",
)
# value = [event count, sum of amounts in cents]
totals = app.Table(
    "totals", default=lambda: [0, 0], partitions=int(os.environ.get("COUNTER_PARTITIONS", "4"))
)
applied_here = 0  # events this process applied itself (not recovered from the changelog)


@app.agent(events, concurrency=1)
async def count(stream):
    global applied_here
    async for value in stream:
        applied_here += 1
        event = orjson.loads(value)
        current = list(totals[event["account_id"]])
        totals[event["account_id"]] = [current[0] + 1, current[1] + event["amount_cents"]]


@app.page("/totals")
async def read_totals(web, request):
    body = {"totals": dict(totals.items()), "applied_here": applied_here}
    return web.bytes(orjson.dumps(body), content_type="application/json")


@app.page("/ready")
async def ready(web, request):
    """200 once every assigned partition of the table is recovered and the agent runs."""
    recovering = app.tables.recovery.in_recovery or not app.tables.recovery.completed.is_set()
    return web.bytes(b"recovering" if recovering else b"ok", status=503 if recovering else 200)


if __name__ == "__main__":
    app.main()
