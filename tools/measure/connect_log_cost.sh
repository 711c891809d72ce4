#!/usr/bin/env bash
# The cost of the info-level connect/disconnect log lines: tidegate-bench
# conn-ramp (4000 connections) against the gateway with log_level info and
# warn, alternating, three rounds; the log goes to a file in the current
# directory. docs/benchmarks.md, "Connection log lines".
#   cd "$(mktemp -d)" && /path/to/tools/measure/connect_log_cost.sh
set -u
BIN="$(cd "$(dirname "$0")/../.." && pwd)/build/bin"
for round in 1 2 3; do
  for level in info warn; do
    rm -rf data gw.log; port=$((20000 + RANDOM % 20000))
    printf '{"data_dir":"data","listeners":[{"bind":"127.0.0.1","port":%d}],"admin":{"enabled":false},"log_level":"%s","log_file":"gw.log","max_connections":20000}' $port $level > c.json
    $BIN/tidegate --config c.json 2>/dev/null & pid=$!
    for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done  # poll until it listens
    out=$($BIN/tidegate-bench conn-ramp --port $port --connections 4000 --duration 1 --broker-pid $pid --json 2>&1)
    kill $pid; wait $pid 2>/dev/null
    echo "$level $(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print({k:v for k,v in d.items() if "connect" in k or "cpu" in k or "rss" in k})') lines=$(wc -l < gw.log)"
  done
done
