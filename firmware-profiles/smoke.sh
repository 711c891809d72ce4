#!/usr/bin/env bash
# Smoke test of a (cross-)built gateway: start it (under qemu-user for an ARM
# profile) on 127.0.0.1 with a temporary data dir, do a publish/subscribe round
# trip with mosquitto_sub/mosquitto_pub at QoS 0 and QoS 1, stop it with SIGTERM
# by PID and check that it drained (exit 0). Bounded: about a minute at worst.
#
#   firmware-profiles/smoke.sh BUILD_DIR [CONFIG]
#
# CONFIG (a profile's tidegate.json) is the config to run with, its data_dir
# pointed at the temporary dir, every bind at 127.0.0.1 and every port at 0
# (the kernel picks free ones; the log says which): so the tuned config is
# checked too, with its workers and limits. Without it, a minimal config.
# BUILD_DIR is a configured profile build (build.sh makes build-fw/<profile>):
# the emulator command is read from its CMakeCache (CMAKE_CROSSCOMPILING_EMULATOR),
# so an arm64 multiarch build runs as `qemu-aarch64 tidegate` (no -L: with
# -L /usr/aarch64-linux-gnu pthread_create hangs on Debian 12) and a sysroot
# build as `qemu-arm -L SYSROOT tidegate`. Needs mosquitto-clients.
set -euo pipefail

build_dir="${1:?usage: smoke.sh BUILD_DIR [CONFIG]}"
base_config="${2:-}"
binary="$build_dir/bin/tidegate"
[ -x "$binary" ] || { echo "smoke: no $binary (build the tidegate target first)" >&2; exit 1; }
for tool in mosquitto_pub mosquitto_sub; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool missing (apt-get install mosquitto-clients)" >&2; exit 1; }
done

emulator=()
emulator_line="$(grep -E '^CMAKE_CROSSCOMPILING_EMULATOR:' "$build_dir/CMakeCache.txt" || true)"
if [ -n "$emulator_line" ]; then
  IFS=';' read -r -a emulator <<<"${emulator_line#*=}"
fi

work="$(mktemp -d /tmp/tidegate-smoke.XXXXXX)"
gateway_pid=""
cleanup() {
  if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
    kill -KILL "$gateway_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "$base_config" ]; then
  sed -E -e "s|\"data_dir\": *\"[^\"]*\"|\"data_dir\": \"$work/data\"|" \
    -e 's|"bind": *"[^"]*"|"bind": "127.0.0.1"|g' -e 's|"port": *[0-9]+|"port": 0|g' \
    "$base_config" >"$work/tidegate.json"
  grep -q "\"data_dir\": \"$work/data\"" "$work/tidegate.json" ||
    { echo "smoke: $base_config has no data_dir to point at $work/data" >&2; exit 1; }
else
  cat >"$work/tidegate.json" <<EOF
{
  "data_dir": "$work/data",
  "workers": 1,
  "listeners": [{"protocol": "mqtt", "bind": "127.0.0.1", "port": 0}],
  "admin": {"bind": "127.0.0.1", "port": 0},
  "sys_interval": 0
}
EOF
fi

echo "smoke: starting ${emulator[*]:+${emulator[*]} }$binary${base_config:+ with $base_config}"
"${emulator[@]}" "$binary" --config "$work/tidegate.json" >"$work/log" 2>&1 &
gateway_pid=$!

port=""
for _ in $(seq 1 300); do  # up to 30 s: qemu starts slower than the real board
  port="$(sed -n 's/.*listening: mqtt 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log" | head -n 1)"
  [ -n "$port" ] && grep -q 'tidegate ready' "$work/log" && break
  kill -0 "$gateway_pid" 2>/dev/null || break
  port=""
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "smoke: FAIL: the gateway did not come up; its log:" >&2
  cat "$work/log" >&2
  exit 1
fi
echo "smoke: gateway pid $gateway_pid listening on 127.0.0.1:$port"

fail=0
for qos in 0 1; do
  topic="smoke/q$qos"
  payload="hello from $(uname -m) host, qos $qos, $$"
  # -C 1: exit after one message; -W: give up after 20 s.
  mosquitto_sub -h 127.0.0.1 -p "$port" -q "$qos" -t "$topic" -C 1 -W 20 -i "smoke-sub-$qos" \
    >"$work/received.$qos" 2>"$work/sub.err" &
  sub_pid=$!
  # Publish until the subscriber has its message (it may not have subscribed yet).
  for _ in $(seq 1 40); do
    timeout 10 mosquitto_pub -h 127.0.0.1 -p "$port" -q "$qos" -t "$topic" -m "$payload" -i "smoke-pub-$qos" \
      2>>"$work/pub.err" || true
    [ -s "$work/received.$qos" ] && break
    kill -0 "$sub_pid" 2>/dev/null || break
    sleep 0.5
  done
  wait "$sub_pid" || true
  if [ "$(cat "$work/received.$qos")" = "$payload" ]; then
    echo "smoke: QoS $qos round trip ok"
  else
    echo "smoke: FAIL: QoS $qos: sent '$payload', received '$(cat "$work/received.$qos")'" >&2
    cat "$work/sub.err" "$work/pub.err" >&2 || true
    fail=1
  fi
done

kill -TERM "$gateway_pid"
status=0
for _ in $(seq 1 150); do  # up to 15 s to drain
  kill -0 "$gateway_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$gateway_pid" 2>/dev/null; then
  echo "smoke: FAIL: still running 15 s after SIGTERM; killed" >&2
  kill -KILL "$gateway_pid" 2>/dev/null || true
  fail=1
fi
wait "$gateway_pid" || status=$?
gateway_pid=""
if [ "$status" -ne 0 ]; then
  echo "smoke: FAIL: exit status $status after SIGTERM" >&2
  fail=1
fi
if [ "$fail" -ne 0 ]; then
  echo "smoke: gateway log:" >&2
  cat "$work/log" >&2
  echo "smoke: FAILED"
  exit 1
fi
echo "smoke: PASSED"
