#!/bin/sh
# Instructions the broker executes per delivered message, under callgrind
# (repeatable on a VM without hardware counters, unlike perf). tidegate runs
# under valgrind with `workers: 1`; the counters are zeroed once the bench's
# clients are connected and subscribed... approximately: zeroed just before the
# bench starts (connect and subscribe of a dozen clients are noise next to
# thousands of messages), dumped when it ends.
#
# usage: tools/measure/callgrind_per_message.sh OUT_PREFIX -- BENCH-ARGS...
#   e.g. tools/measure/callgrind_per_message.sh /tmp/cg-fanin -- fan-in --publishers 10 --qos 0 --rate 2000 --duration 5
# Prints: total Ir, delivered messages, Ir per delivered message; leaves
# OUT_PREFIX.callgrind for callgrind_annotate --inclusive=yes.
set -eu
prefix=$1
shift 2
work_prefix=tgb-cg
. "$(dirname "$0")/common.sh"
port=$(free_port)
cat > "$work/tg.json" <<EOF
{"data_dir": "$work/data", "durability": "os", "workers": 1,
 "admin": {"bind": "127.0.0.1", "port": 0},
 "listeners": [{"protocol": "mqtt", "bind": "127.0.0.1", "port": $port}]}
EOF
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$prefix.callgrind" --dump-instr=no \
  "$tidegate" --config "$work/tg.json" > "$work/broker.log" 2>&1 &
pid=$!
i=0
until /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 600 ] || { echo "broker did not listen" >&2; cat "$work/broker.log" >&2; exit 1; }
  sleep 0.1
done
sleep 1  # the probe connection above closes and is forgotten
callgrind_control -z "$pid" > /dev/null
out=$(taskset -c 1 "$bench" "$@" --threads 1 --port "$port" --json)
callgrind_control -d "$pid" > /dev/null
kill -TERM "$pid"; wait "$pid" || true
# The dump written by -d is OUT_PREFIX.callgrind.1 (the final one at exit is OUT_PREFIX.callgrind).
ir=$(grep -h '^summary:' "$prefix.callgrind.1" | awk '{print $2}')
delivered=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(r.get("delivered") or r.get("received") or 0)')
echo "$out" > "$prefix.bench.json"
echo "Ir=$ir delivered=$delivered Ir_per_msg=$(/usr/bin/python3 -c "print(round($ir/max(1,$delivered)))")"
