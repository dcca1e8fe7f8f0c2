#!/usr/bin/env bash
# `make run`: a local Kafka, the project's topics, one worker and a live demo feed.
# Prints where /metrics answers; Ctrl-C stops everything this script started.
set -euo pipefail
BIN=${BIN:-.venv/bin}
KAFKA_PORT=${KAFKA_PORT:-9092}
PARTITIONS=${PARTITIONS:-4}
METRICS_PORT=${METRICS_PORT:-9108}
BOOTSTRAP="127.0.0.1:${KAFKA_PORT}"
RUN_DIR=.cache/run
mkdir -p "$RUN_DIR"

started_kafka=0
"$BIN/pulse" dev kafka status --port "$KAFKA_PORT" | grep -q "), answering" || started_kafka=1
"$BIN/pulse" dev kafka up --port "$KAFKA_PORT" --partitions "$PARTITIONS"
"$BIN/pulse" dev topics --bootstrap "$BOOTSTRAP" --partitions "$PARTITIONS" >/dev/null

pids=()
cleanup() {
    trap - EXIT INT TERM
    echo "stopping the demo ..."
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$started_kafka" = 1 ]; then "$BIN/pulse" dev kafka down --port "$KAFKA_PORT"; fi
}
trap cleanup EXIT INT TERM

"$BIN/pulse" worker --bootstrap "$BOOTSTRAP" --partitions "$PARTITIONS" --metrics-port "$METRICS_PORT" \
    --data-dir "$RUN_DIR/worker-data" >"$RUN_DIR/worker.log" 2>&1 &
pids+=($!)
"$BIN/pulse" generate --bootstrap "$BOOTSTRAP" --accounts 100 --days 35 --end now --seed 1 --live \
    >"$RUN_DIR/feed.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:${METRICS_PORT}/metrics" >/dev/null 2>&1; then break; fi
    sleep 1
done
echo
echo "cs-pulse is running:"
echo "  metrics:  http://127.0.0.1:${METRICS_PORT}/metrics   (try: curl -s localhost:${METRICS_PORT}/metrics | grep '^pulse_mrr')"
echo "  logs:     $RUN_DIR/worker.log, $RUN_DIR/feed.log"
echo "  Ctrl-C stops the worker, the demo feed and the Kafka broker this command started."
wait "${pids[@]}"
