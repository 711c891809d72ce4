#!/bin/bash
# Cluster mode, cross-node figures for docs/benchmarks.md: one nats-server -js,
# gateways a and b in cluster mode and a single gateway s for reference (all
# with workers: 1), then tidegate-bench p2p with publishers on a and
# subscribers on b (--subscriber-port). Run from the repository root after a
# build; scratch files go to $WORK (default /tmp/tidegate-cluster-measure).
set -e
B=${B:-$PWD/build/bin}
WORK=${WORK:-/tmp/tidegate-cluster-measure}
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK"
nats-server -js -p 14444 -sd $WORK/js > nats.log 2>&1 & NATS=$!
sleep 1
for n in a b; do
  port=$([ $n = a ] && echo 18851 || echo 18852)
  cat > $n.json <<J
{"data_dir": "$WORK/data-$n", "workers": 1, "listeners": [{"port": $port, "bind": "127.0.0.1"}], "admin": {"port": 0}, "cluster": {"node": "$n", "nats": ["nats://127.0.0.1:14444"]}}
J
done
cat > single.json <<J
{"data_dir": "$WORK/data-s", "workers": 1, "listeners": [{"port": 18853, "bind": "127.0.0.1"}], "admin": {"port": 0}}
J
$B/tidegate --config a.json > a.log 2>&1 & A=$!
$B/tidegate --config b.json > b.log 2>&1 & BB=$!
$B/tidegate --config single.json > s.log 2>&1 & S=$!
sleep 2.5
run() { echo "== $*"; $B/tidegate-bench "$@" --duration 5 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print({k:d.get(k) for k in ("delivered_per_s","accepted_per_s","latency_us","errors")})' ; }
run p2p --qos 1 --port 18853 --rate 2000
run p2p --qos 1 --port 18851 --subscriber-port 18852 --rate 2000
run p2p --qos 0 --port 18851 --subscriber-port 18852 --rate 2000
run p2p --qos 1 --port 18853
run p2p --qos 1 --port 18851
run p2p --qos 1 --port 18851 --subscriber-port 18852
kill $A $BB $S; sleep 0.5; kill $NATS
