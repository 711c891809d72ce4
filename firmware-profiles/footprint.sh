#!/usr/bin/env bash
# Measures a profile build's footprint for docs/footprint.md: the stripped
# binary size, the gateway's idle RSS, and its RSS holding 1,000 and 10,000 idle
# MQTT connections (tidegate-bench conn-ramp, a native host build).
#
#   firmware-profiles/footprint.sh BUILD_DIR CONFIG [BENCH]
#
# BUILD_DIR: a profile build (build-fw/<profile>); an ARM build runs under the
# qemu-user command of its CMakeCache, and then every RSS is the qemu process's:
# the guest's memory plus qemu itself and its translated code — an upper bound,
# not the board's figure. CONFIG: the profile's tidegate.json, run as smoke.sh
# runs it (temporary data_dir, 127.0.0.1, port 0), with max_connections raised
# to 11000 for the connection ramps only. BENCH: build/bin/tidegate-bench (or
# build-fw/x86_64/bin/tidegate-bench); without it only size and idle RSS.
# Each measurement starts a fresh gateway; each is bounded in time.
set -euo pipefail
build_dir="${1:?usage: footprint.sh BUILD_DIR CONFIG [BENCH]}"
config="${2:?usage: footprint.sh BUILD_DIR CONFIG [BENCH]}"
bench="${3:-}"
binary="$build_dir/bin/tidegate"

cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt"; }
emulator=()
IFS=';' read -r -a emulator <<<"$(cache_value CMAKE_CROSSCOMPILING_EMULATOR)"
strip_tool="$(cache_value CMAKE_STRIP)"
[ -n "$strip_tool" ] || strip_tool=strip

work="$(mktemp -d /tmp/tidegate-footprint.XXXXXX)"
gateway_pid=""
cleanup() {
  [ -n "$gateway_pid" ] && kill -KILL "$gateway_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$strip_tool" -o "$work/tidegate.stripped" "$binary"
stripped=$(stat -c %s "$work/tidegate.stripped")
echo "binary: $(stat -c %s "$binary") bytes unstripped, $stripped bytes stripped ($(awk "BEGIN{printf \"%.2f\", $stripped/1048576}") MiB)"

# Descriptors: as many as allowed.
ulimit -n "$(ulimit -Hn)"  # 10,000 connections need 10,000+ on each side

status_kb() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }

start_gateway() {  # $1: max_connections override or ""
  rm -rf "$work/data"
  sed -E -e "s|\"data_dir\": *\"[^\"]*\"|\"data_dir\": \"$work/data\"|" \
    -e 's|"bind": *"[^"]*"|"bind": "127.0.0.1"|g' -e 's|"port": *[0-9]+|"port": 0|g' \
    ${1:+-e "s|\"max_connections\": *[0-9]+|\"max_connections\": $1|"} \
    "$config" >"$work/tidegate.json"
  : >"$work/log"
  "${emulator[@]}" "$binary" --config "$work/tidegate.json" >"$work/log" 2>&1 &
  gateway_pid=$!
  port=""
  for _ in $(seq 1 300); do
    port="$(sed -n 's/.*listening: mqtt 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log" | head -n 1)"
    [ -n "$port" ] && grep -q 'tidegate ready' "$work/log" && return 0
    kill -0 "$gateway_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "footprint: the gateway did not come up:" >&2
  cat "$work/log" >&2
  exit 1
}

stop_gateway() {
  kill -TERM "$gateway_pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$gateway_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$gateway_pid" 2>/dev/null || true
  wait "$gateway_pid" 2>/dev/null || true
  gateway_pid=""
}

start_gateway ""
sleep 3  # past start-up: workers, store and admin API all up, nothing connected
echo "idle: VmRSS $(status_kb "$gateway_pid" VmRSS) kB (anon $(status_kb "$gateway_pid" RssAnon) kB, file $(status_kb "$gateway_pid" RssFile) kB), VmHWM $(status_kb "$gateway_pid" VmHWM) kB, threads $(sed -n 's/^Threads:[[:space:]]*//p' "/proc/$gateway_pid/status")"
# What the process costs beyond the shared libraries' pages that other
# processes map too: PSS shares each page among its mappers; private pages
# (USS) are its alone.
awk '/^Pss:/{pss=$2} /^Private_(Clean|Dirty):/{priv+=$2} END{print "idle: PSS " pss " kB, private (USS) " priv " kB"}' \
  "/proc/$gateway_pid/smaps_rollup"
echo "idle: resident pages by mapping (kB):"
awk '/^[0-9a-f]+-[0-9a-f]+ /{name=($6 == "" ? "[anon]" : $6)} /^Rss:/{rss[name]+=$2}
  END{for (n in rss) if (rss[n] >= 64) printf "  %6d %s\n", rss[n], n}' "/proc/$gateway_pid/smaps" | sort -rn
stop_gateway

[ -n "$bench" ] || exit 0
for n in 1000 10000; do
  start_gateway 11000
  sleep 1
  # --duration: the hold time once all are connected (at least 2 s settle).
  timeout 300 "$bench" conn-ramp --connections "$n" --duration 3 --connect-concurrency 64 \
    --port "$port" --broker-pid "$gateway_pid" --json >"$work/bench.json" 2>"$work/bench.err" ||
    { echo "footprint: conn-ramp $n failed:" >&2; cat "$work/bench.err" >&2; stop_gateway; continue; }
  python3 - "$n" "$work/bench.json" <<'EOF'
import json, sys
n, r = sys.argv[1], json.load(open(sys.argv[2]))
print(f"{n} connections: broker RSS {r['broker_rss_mb']:.1f} MiB (anon {r['broker_rss_anon_mb']:.1f} MiB), "
      f"start {r['broker_rss_start_mb']:.1f} MiB, connected {r.get('connections_ok')}, "
      f"{r.get('connect_per_s') or 0:.0f} connects/s")
EOF
  stop_gateway
done
