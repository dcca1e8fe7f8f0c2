"""Stock Faust agent that only decodes: the framework ceiling for bench_worker.py.

Configured by environment (BENCH_BOOTSTRAP, BENCH_APP_ID, BENCH_TOPICS comma-separated,
BENCH_WEB_PORT); GET /count answers {"count": messages decoded so far}. With
BENCH_FAST_DRAIN=1 the consumer drain loop runs streams.worker.faust.fastpath (see
bench/bench_fastpath.py), and /count also says how many messages took each path.
BENCH_SWITCH_INTERVAL sets the interpreter's switch interval in seconds (Python's
default is 0.005; `pulse worker` runs with 0.05).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

import faust
import orjson

FAST_DRAIN = os.environ.get("BENCH_FAST_DRAIN") == "1"
if "BENCH_SWITCH_INTERVAL" in os.environ:
    sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
if FAST_DRAIN:
    from streams.worker.faust import fastpath as faust_fastpath

    faust_fastpath.install()

# Faust's default data directory is "<app id>-data" in the working directory: keep it out of the repository.
datadir = tempfile.mkdtemp(prefix="faust-decode-")
atexit.register(shutil.rmtree, datadir, ignore_errors=True)

app = faust.App(
    os.environ["BENCH_APP_ID"],
    datadir=datadir,
    broker=f"kafka://{os.environ['BENCH_BOOTSTRAP']}",
    store="memory://",
    topic_partitions=4,
    consumer_auto_offset_reset="earliest",
    web_bind="127.0.0.1",
    web_port=int(os.environ["BENCH_WEB_PORT"]),
    web_host="127.0.0.1",
)
source = app.topic(
    *os.environ["BENCH_TOPICS"].split(","),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)
decoded = 0


@app.agent(source, concurrency=1)
async def decode(stream):
    global decoded
    async for value in stream:
        orjson.loads(value)
        decoded += 1


@app.page("/count")
async def count(web, request):
    body = {"count": decoded, "fast_drain": FAST_DRAIN}
    if FAST_DRAIN:
        body["drain"] = faust_fastpath.counts
    return web.bytes(orjson.dumps(body), content_type="application/json")


if __name__ == "__main__":
    app.main()
