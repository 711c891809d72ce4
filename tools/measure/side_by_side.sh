#!/bin/sh
# Runs one tidegate-bench scenario against tidegate and mosquitto, alternating,
# the way docs/benchmarks.md describes: a fresh broker per run, broker on
# core 0, bench on core 1, one generator thread, JSON lines out.
#
# usage: tools/measure/side_by_side.sh RUNS BROKERS -- BENCH-ARGS...
#   BROKERS: "tidegate mosquitto", "tidegate" or "mosquitto"
#   TIDEGATE_BIN (default build/bin/tidegate), BENCH_BIN (default build/bin/tidegate-bench)
#   MOSQUITTO_EXTRA: lines appended to mosquitto's config (e.g. "max_queued_messages 0")
# Example:
#   tools/measure/side_by_side.sh 2 "tidegate mosquitto" -- fan-in --publishers 10 --qos 0 --duration 5
set -eu
runs=$1
brokers=$2
shift 3
work_prefix=tgb-sbs
. "$(dirname "$0")/common.sh"

wait_port() {
  i=0
  until /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "broker did not listen on $1" >&2; exit 1; }
    sleep 0.1
  done
}

r=1
while [ $r -le "$runs" ]; do
  for b in $brokers; do
    port=$(free_port)
    admin=$(free_port)
    rm -rf "$work/data"
    if [ "$b" = tidegate ]; then
      cat > "$work/tg.json" <<EOF
{"data_dir": "$work/data", "durability": "os", "workers": 1, "max_connections": 20000,
 "admin": {"bind": "127.0.0.1", "port": $admin},
 "listeners": [{"protocol": "mqtt", "bind": "127.0.0.1", "port": $port}]}
EOF
      taskset -c 0 "$tidegate" --config "$work/tg.json" > "$work/broker.log" 2>&1 &
    else
      printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 64\nset_tcp_nodelay true\n' "$port" > "$work/m.conf"
      if [ -n "${MOSQUITTO_EXTRA:-}" ]; then printf '%s\n' "$MOSQUITTO_EXTRA" >> "$work/m.conf"; fi
      taskset -c 0 /usr/sbin/mosquitto -c "$work/m.conf" > "$work/broker.log" 2>&1 &
    fi
    pid=$!
    wait_port "$port"
    out=$(taskset -c 1 "$bench" "$@" --threads 1 --port "$port" --broker-pid "$pid" --json)
    metrics=""
    if [ "$b" = tidegate ]; then
      metrics=$(curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^tidegate_(messages_(received|sent)_total|dropped_total)' | tr "\n" " " | sed "s/\"/'/g")
    fi
    kill -TERM "$pid"; wait "$pid" || true
    echo "{\"broker\": \"$b\", \"run\": $r, \"result\": $out, \"metrics\": \"$metrics\"}"
  done
  r=$((r + 1))
done
