#!/bin/sh
# Runs one tidegate-bench scenario against tidegate, FlashMQ and mosquitto,
# alternating, the way docs/benchmarks.md describes: a fresh broker per run,
# broker on core 0, bench on core 1, one generator thread, JSON lines out.
#
# usage: tools/measure/side_by_side.sh RUNS BROKERS -- BENCH-ARGS...
#   BROKERS: any of "tidegate flashmq mosquitto", in the order they run
#   TIDEGATE_BIN (default build/bin/tidegate), BENCH_BIN (default build/bin/tidegate-bench)
#   FLASHMQ_BIN: a FlashMQ binary, built as docs/benchmarks.md ("Against
#            FlashMQ") says; needed only when BROKERS names flashmq
#   WORKERS: tidegate's "workers" (default 1). BROKER_CPUS and BENCH_CPUS:
#            the taskset lists (default 0 and 1; "0,1" for both cores)
#   MOSQUITTO_EXTRA: lines appended to mosquitto's config (e.g. "max_queued_messages 0")
#   FLASHMQ_EXTRA: lines appended to FlashMQ's config (e.g. "thread_count 1")
#   NAGLE=1: Nagle's algorithm on everywhere (tidegate "tcp_nodelay": false,
#            mosquitto without set_tcp_nodelay, the bench with --nagle)
#   TLS=1:   MQTT over TLS (a throwaway CA and server certificate; the bench
#            verifies the broker with --tls --ca)
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
    i=$((i + 1)); [ $i -lt 100 ] || { echo "broker did not listen on $1:" >&2; tail -5 "$work/broker.log" >&2; exit 1; }
    sleep 0.1
  done
}

nodelay=true; mosquitto_nodelay="set_tcp_nodelay true"; bench_extra=""
if [ "${NAGLE:-0}" = 1 ]; then nodelay=false; mosquitto_nodelay=""; bench_extra="--nagle"; fi
protocol=mqtt; tls_keys=""; mosquitto_tls=""
if [ "${TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -out "$work/server.crt" 2>/dev/null
  protocol=mqtts
  tls_keys=", \"cert\": \"$work/server.crt\", \"key\": \"$work/server.key\""
  mosquitto_tls="certfile $work/server.crt
keyfile $work/server.key"
  bench_extra="$bench_extra --tls --ca $work/ca.crt"
fi

broker_cpus=${BROKER_CPUS:-0}
bench_cpus=${BENCH_CPUS:-1}
workers=${WORKERS:-1}
case " $brokers " in
  *" flashmq "*) [ -x "${FLASHMQ_BIN:-}" ] || { echo "FLASHMQ_BIN must name a FlashMQ binary" >&2; exit 2; } ;;
esac

r=1
while [ $r -le "$runs" ]; do
  for b in $brokers; do
    port=$(free_port)
    admin=$(free_port)
    rm -rf "$work/data"
    if [ "$b" = tidegate ]; then
      cat > "$work/tg.json" <<EOF
{"data_dir": "$work/data", "durability": "os", "workers": $workers, "max_connections": 20000, "tcp_nodelay": $nodelay,
 "admin": {"bind": "127.0.0.1", "port": $admin},
 "listeners": [{"protocol": "$protocol", "bind": "127.0.0.1", "port": $port$tls_keys}]}
EOF
      taskset -c "$broker_cpus" "$tidegate" --config "$work/tg.json" > "$work/broker.log" 2>&1 &
    elif [ "$b" = flashmq ]; then
      fmq_tls=""
      if [ -n "$tls_keys" ]; then fmq_tls="fullchain $work/server.crt
  privkey $work/server.key"; fi
      flashmq_config "$port" "$nodelay" "$fmq_tls" > "$work/fmq.conf"
      if [ -n "${FLASHMQ_EXTRA:-}" ]; then printf '%s\n' "$FLASHMQ_EXTRA" >> "$work/fmq.conf"; fi
      taskset -c "$broker_cpus" "$FLASHMQ_BIN" --config-file "$work/fmq.conf" > "$work/broker.log" 2>&1 &
    else
      printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 64\n%s\n%s\n' "$port" \
        "$mosquitto_nodelay" "$mosquitto_tls" > "$work/m.conf"
      if [ -n "${MOSQUITTO_EXTRA:-}" ]; then printf '%s\n' "$MOSQUITTO_EXTRA" >> "$work/m.conf"; fi
      taskset -c "$broker_cpus" /usr/sbin/mosquitto -c "$work/m.conf" > "$work/broker.log" 2>&1 &
    fi
    pid=$!
    wait_port "$port"
    # shellcheck disable=SC2086 # bench_extra is a list of words
    out=$(taskset -c "$bench_cpus" "$bench" "$@" --threads 1 --port "$port" --broker-pid "$pid" --json $bench_extra)
    metrics=""
    if [ "$b" = tidegate ]; then
      metrics=$(curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^tidegate_(messages_(received|sent)_total|dropped_total)' | tr "\n" " " | sed "s/\"/'/g")
    fi
    kill -TERM "$pid"; wait "$pid" || true
    echo "{\"broker\": \"$b\", \"run\": $r, \"result\": $out, \"metrics\": \"$metrics\"}"
  done
  r=$((r + 1))
done
