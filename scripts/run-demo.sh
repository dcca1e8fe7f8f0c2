#!/usr/bin/env bash
# `make run`: a local Kafka, the project's topics, one worker, a live demo feed and a local
# Prometheus (Debian's package) with the project's rules scraping the worker.
# Prints where /metrics and Prometheus answer; Ctrl-C stops everything this script started.
set -euo pipefail
BIN=${BIN:-.venv/bin}
KAFKA_PORT=${KAFKA_PORT:-9092}
PARTITIONS=${PARTITIONS:-4}
METRICS_PORT=${METRICS_PORT:-9108}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
BOOTSTRAP="127.0.0.1:${KAFKA_PORT}"
RUN_DIR=${RUN_DIR:-.cache/run}
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
prometheus_url=""
if command -v prometheus >/dev/null 2>&1; then
    "$BIN/python" -m streams.devtools.localprometheus --port "$PROMETHEUS_PORT" --worker "127.0.0.1:${METRICS_PORT}" \
        --dir "$RUN_DIR/prometheus" >"$RUN_DIR/prometheus.log" 2>&1 &
    prometheus_pid=$!
    pids+=("$prometheus_pid")
    prometheus_url="http://127.0.0.1:${PROMETHEUS_PORT}"
else
    echo "make run: no local Prometheus, as prometheus is not installed: run \`sh ops/install-prometheus.sh\` and make run again." >&2
fi

for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:${METRICS_PORT}/metrics" >/dev/null 2>&1; then break; fi
    sleep 1
done
if [ -n "$prometheus_url" ]; then
    for _ in $(seq 1 60); do
        if ! kill -0 "$prometheus_pid" 2>/dev/null; then
            echo "make run: no local Prometheus: $(tail -n 1 "$RUN_DIR/prometheus.log")" >&2
            prometheus_url=""
            break
        fi
        if curl -fsS "${prometheus_url}/-/ready" >/dev/null 2>&1; then break; fi
        sleep 1
    done
fi
echo
echo "cs-pulse is running:"
echo "  metrics:     http://127.0.0.1:${METRICS_PORT}/metrics   (try: curl -s localhost:${METRICS_PORT}/metrics | grep '^pulse_mrr')"
if [ -n "$prometheus_url" ]; then
echo "  prometheus:  ${prometheus_url}   (the project's rules; alerts on ${prometheus_url}/alerts; Grafana: docs/operations.md)"
fi
echo "  logs:        $RUN_DIR/worker.log, $RUN_DIR/feed.log, $RUN_DIR/prometheus.log"
echo "  Ctrl-C stops the worker, the demo feed, Prometheus and the Kafka broker this command started."
wait "${pids[@]}"
