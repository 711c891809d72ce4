#!/bin/sh
# Kernel-side cost per delivered message, which callgrind does not see:
# system calls and context switches of all broker threads (perf software
# events and tracepoints work without hardware counters, unlike perf's
# instructions), and CPU time. Broker on core 0 (`workers: 1`), bench on core 1.
#
# Then one line per broker thread (that used CPU): the same per message, and
# with BY_SYSCALL=1 its system calls by name (recvfrom, epoll_ctl, futex, ...).
# BY_SYSCALL's tracepoints slow every system call: take CPU time from a run
# without it.
#
# usage: tools/measure/syscalls_per_message.sh tidegate|flashmq|mosquitto -- BENCH-ARGS...
#   (flashmq: FLASHMQ_BIN names the binary, as for side_by_side.sh)
#   e.g. tools/measure/syscalls_per_message.sh tidegate -- fan-in --publishers 10 --qos 0 --rate 20000 --duration 5
set -eu
broker=$1
shift 2
work_prefix=tgb-sc
. "$(dirname "$0")/common.sh"
port=$(free_port)
if [ "$broker" = tidegate ]; then
  printf '{"data_dir": "%s/data", "durability": "os", "workers": 1, "admin": {"bind": "127.0.0.1", "port": 0},\n "listeners": [{"protocol": "mqtt", "bind": "127.0.0.1", "port": %s}]}\n' "$work" "$port" > "$work/tg.json"
  taskset -c 0 "$tidegate" --config "$work/tg.json" > "$work/broker.log" 2>&1 &
elif [ "$broker" = flashmq ]; then
  flashmq_config "$port" true > "$work/fmq.conf"
  taskset -c 0 "${FLASHMQ_BIN:?FLASHMQ_BIN must name a FlashMQ binary}" --config-file "$work/fmq.conf" > "$work/broker.log" 2>&1 &
else
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 64\nset_tcp_nodelay true\n' "$port" > "$work/m.conf"
  taskset -c 0 /usr/sbin/mosquitto -c "$work/m.conf" > "$work/broker.log" 2>&1 &
fi
pid=$!
until /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; do sleep 0.1; done
events=context-switches,raw_syscalls:sys_enter,task-clock
if [ "${BY_SYSCALL:-0}" = 1 ]; then
  for call in read recvfrom recvmsg write writev sendto sendmsg epoll_wait epoll_ctl futex timerfd_settime pwrite64 fdatasync; do
    events="$events,syscalls:sys_enter_$call"
  done
fi
perf stat --per-thread -x, -e "$events" -p "$pid" -o "$work/perf.txt" &
perf_pid=$!
sleep 0.5
out=$(taskset -c 1 "$bench" "$@" --threads 1 --port "$port" --json)
kill -INT "$perf_pid"; wait "$perf_pid" || true
kill -TERM "$pid"; wait "$pid" || true
delivered=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["delivered"])')
/usr/bin/python3 - "$work/perf.txt" "$delivered" "$broker" <<'PY'
import collections, sys
# --per-thread -x, lines: thread,count,unit,event,...
threads = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    parts = line.strip().split(",")
    if len(parts) > 3 and parts[1] and parts[1][0].isdigit():
        threads[parts[0]][parts[3]] = float(parts[1])
n = max(1, int(sys.argv[2]))
total = collections.Counter()
for v in threads.values():
    total.update(v)
print("%s delivered=%d syscalls/msg=%.2f switches/msg=%.3f cpu_us/msg=%.2f" % (
    sys.argv[3], n, total["raw_syscalls:sys_enter"] / n, total["context-switches"] / n, total["task-clock"] * 1000 / n))
for thread, v in sorted(threads.items()):
    if v.get("task-clock", 0) * 1000 / n < 0.01:
        continue
    calls = " ".join("%s=%.3f" % (k.replace("syscalls:sys_enter_", ""), x / n)
                     for k, x in sorted(v.items()) if k.startswith("syscalls:") and x / n >= 0.001)
    print("  %s cpu_us/msg=%.2f switches/msg=%.3f %s" % (thread, v.get("task-clock", 0) * 1000 / n,
                                                      v.get("context-switches", 0) / n, calls))
PY
