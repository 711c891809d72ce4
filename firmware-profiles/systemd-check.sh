#!/usr/bin/env bash
# Checks the x86_64 .deb and its hardened unit under a real systemd: boots a
# Debian 12 container with systemd as its PID 1 (systemd-nspawn), installs the
# package in it and checks what the unit promises. A manual check (not in CI),
# from a fresh Debian 12 amd64 machine, as root:
#
#   firmware-profiles/systemd-check.sh [--deb FILE] [--rebuild-root] [-jN]
#
#   --deb FILE      check this package instead of building one
#                   (default: build.sh x86_64 --package -jN, then its .deb)
#   --rebuild-root  debootstrap the container's root again
#   -jN             build jobs for build.sh (default 1)
#
# TIDEGATE_SYSTEMD_ROOT=DIR  the cached container root (default
#   /var/tmp/tidegate-systemd-root: debootstrap --variant=minbase bookworm with
#   systemd, dbus, mosquitto-clients and the package's dependencies, made once,
#   about 2 minutes and 250 MB). The container boots it with --volatile=overlay:
#   what the check changes lives in memory and is gone at power-off.
# DEBIAN_MIRROR=URL  for debootstrap (default http://deb.debian.org/debian).
# TIDEGATE_MAX_EXPOSURE=N  highest `systemd-analyze security` figure accepted (1.2).
# TIDEGATE_CHECK_LIMIT=S  seconds allowed for the container part (600).
#
# In the container (own network namespace, so 127.0.0.1:1883 is its own):
# dpkg -i; the service enabled and active; QoS 0 and 1 round trips with
# mosquitto_sub/mosquitto_pub on 127.0.0.1:1883; the process runs as
# tidegate:tidegate with no capabilities, no_new_privs and a seccomp filter;
# in the service's own mount namespace (nsenter -m) the tidegate user can write
# only /var/lib/tidegate, /var/log/tidegate and its private /tmp and /var/tmp,
# and even root gets "Read-only file system" in /etc, /usr, /var, /srv, /run,
# /dev/shm ...; the gateway itself cannot put its log_file outside its dirs;
# systemctl reload (SIGHUP) re-reads the config, same PID; Restart=on-failure
# after a SIGKILL, none after a refused config (exit 2); systemctl stop sends
# SIGTERM, the gateway drains and exits 0; systemd-analyze verify and security;
# the arm64 and armhf units started the same way; dpkg -r stops the service and
# dpkg --purge keeps /var/lib/tidegate. Then the container is powered off
# (by PID: poweroff inside, then SIGTERM/SIGKILL to systemd-nspawn).
#
# Bounded: debootstrap 20 min, the build 60 min, the container part 10 min
# (each command in it 2 min at most). Exit 0 when every check passed; on a
# failure the logs (the container's console, dpkg) stay in /var/tmp.
set -eEuo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/firmware-profiles"

deb="" rebuild_root=0 jobs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) deb="${2:?--deb FILE}"; shift ;;
    --deb=*) deb="${1#--deb=}" ;;
    --rebuild-root) rebuild_root=1 ;;
    -j*) jobs="${1#-j}" ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
    *) echo "systemd-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
cache="${TIDEGATE_SYSTEMD_ROOT:-/var/tmp/tidegate-systemd-root}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
max_exposure="${TIDEGATE_MAX_EXPOSURE:-1.2}"
container_limit="${TIDEGATE_CHECK_LIMIT:-600}"
export DEBIAN_FRONTEND=noninteractive

log() { echo "systemd-check: $*"; }
checks=0 failures=0
ok() { checks=$((checks + 1)); echo "systemd-check: ok: $*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "systemd-check: FAIL: $*" >&2; }
note() { echo "systemd-check: NOTE: $*"; }
die() { echo "systemd-check: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, systemd-nspawn)"
[ "$(dpkg --print-architecture)" = amd64 ] || die "an amd64 host is needed (the x86_64 package runs in the container)"

work="$(mktemp -d /var/tmp/tidegate-systemd-check.XXXXXX)"
nspawn_pid="" leader="" watchdog=""

# Unmounts whatever is left mounted under DIR (an interrupted debootstrap leaves
# /proc and /sys there) and removes DIR, never crossing into another file system.
remove_tree() {
  local dir="$1" m
  [ -e "$dir" ] || return 0
  findmnt -rno TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r m; do
    umount -l "$m" || true
  done
  rm -rf --one-file-system "$dir"
}

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM ERR
  [ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    log "powering the container off"
    [ -n "$leader" ] && timeout 10 nsenter -t "$leader" -a -- systemctl poweroff --no-block >/dev/null 2>&1
    for _ in $(seq 1 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$nspawn_pid" 2>/dev/null; then
      log "still running 30 s after poweroff: SIGTERM to systemd-nspawn (pid $nspawn_pid)"
      kill -TERM "$nspawn_pid"
      for _ in $(seq 1 40); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    fi
    if kill -0 "$nspawn_pid" 2>/dev/null; then
      log "SIGKILL to the container's init (pid $leader) and systemd-nspawn (pid $nspawn_pid)"
      [ -n "$leader" ] && kill -KILL "$leader"
      kill -KILL "$nspawn_pid"
    fi
    wait "$nspawn_pid" 2>/dev/null
  fi
  if [ "$status" -eq 0 ]; then
    rm -rf "$work"
  else
    echo "systemd-check: logs kept in $work (console.log: the container's console)" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo "systemd-check: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'trap - ERR; exit 130' INT
trap 'trap - ERR; exit 143' TERM

# --- the host's tools -------------------------------------------------------
missing=()
for p in systemd-container debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; die "apt-get install ${missing[*]}"; }
fi

# --- the package --------------------------------------------------------------
if [ -z "$deb" ]; then
  log "building the x86_64 package (build.sh x86_64 --package -j$jobs)"
  timeout 3600 "$here/build.sh" x86_64 --package -j"$jobs" || die "build.sh x86_64 --package"
  deb="$(ls -t "${TIDEGATE_BUILD_DIR:-$root/build-fw/x86_64}"/tidegate_*_amd64.deb | head -n 1)"
fi
[ -f "$deb" ] || die "no package $deb"
# Copies: a rebuild during the check changes nothing under it.
mkdir -p "$work/share/units"
cp "$deb" "$work/share/tidegate.deb"
for p in arm64 armhf x86_64; do cp "$here/$p/tidegate.service" "$work/share/units/$p.service"; done
log "package: $deb"

# --- the container's root, made once ------------------------------------------
root_packages="systemd,systemd-sysv,dbus,mosquitto-clients,libssl3,liblmdb0,libstdc++6,libgcc-s1,passwd,init-system-helpers,util-linux,procps"
stamp="bookworm minbase $root_packages"
exec 9>"$cache.lock"
flock -w 1800 9 || die "$cache.lock: another check holds it"
if [ "$rebuild_root" = 1 ] || [ "$(cat "$cache/.tidegate-systemd-check" 2>/dev/null)" != "$stamp" ]; then
  log "debootstrap bookworm into $cache (once; a few minutes)"
  remove_tree "$cache.new"
  if ! timeout 1200 debootstrap --variant=minbase --include="$root_packages" bookworm "$cache.new" "$mirror" \
      >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    remove_tree "$cache.new"
    die "debootstrap (log: $work/debootstrap.log)"
  fi
  echo tidegate-check >"$cache.new/etc/hostname"
  chroot "$cache.new" apt-get clean
  echo "$stamp" >"$cache.new/.tidegate-systemd-check"
  remove_tree "$cache"
  mv "$cache.new" "$cache"
fi
flock -s 9  # others may boot the same root, nobody rebuilds it meanwhile

# --- boot -------------------------------------------------------------------------
( trap 'kill $s 2>/dev/null; exit 0' TERM
  sleep "$container_limit" & s=$!
  wait "$s" && { echo "systemd-check: FAIL: the container part took over ${container_limit}s" >&2; kill -TERM $$; } ) &
watchdog=$!

machine="tidegate-check-$$"
nspawn_args=(-D "$cache" -b -M "$machine" --volatile=overlay --private-network --register=no
  --console=read-only "--bind-ro=$work/share:/root/check")
# No systemd on the host (a sandbox, a container): nspawn cannot ask it for a
# scope unit; the container stays in the caller's cgroup.
[ -d /run/systemd/system ] || nspawn_args+=(--keep-unit)
log "booting: systemd-nspawn ${nspawn_args[*]}"
systemd-nspawn "${nspawn_args[@]}" </dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!

# The container's PID 1 is systemd-nspawn's descendant named systemd.
find_leader() {
  local queue=("$nspawn_pid") next p c
  for _ in 1 2 3; do
    next=()
    for p in "${queue[@]}"; do
      for c in $(cat /proc/"$p"/task/*/children 2>/dev/null || true); do
        [ "$(cat /proc/"$c"/comm 2>/dev/null)" = systemd ] && { echo "$c"; return 0; }
        next+=("$c")
      done
    done
    queue=("${next[@]}")
  done
  return 1
}
for _ in $(seq 1 100); do
  leader="$(find_leader || true)"
  [ -n "$leader" ] && break
  kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/console.log" >&2; die "systemd-nspawn exited"; }
  sleep 0.1
done
[ -n "$leader" ] || { cat "$work/console.log" >&2; die "no systemd in the container after 10 s"; }

# A command in the container (all its namespaces), bounded.
ct() { timeout "${T:-60}" nsenter -t "$leader" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 SYSTEMD_COLORS=0 SYSTEMD_PAGER= "$@"; }

state=""
for _ in $(seq 1 120); do
  state="$(T=10 ct systemctl is-system-running 2>/dev/null || true)"
  case "$state" in running|degraded) break ;; esac
  kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/console.log" >&2; die "the container stopped while booting"; }
  sleep 1
done
case "$state" in
  running) ok "systemd $(ct systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') is PID 1 of the container (pid $leader here), system running" ;;
  degraded) ok "systemd is PID 1 of the container, system degraded"
    note "failed units in the container (not ours): $(ct systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')" ;;
  *) tail -n 40 "$work/console.log" >&2; die "the container did not boot (state '$state')" ;;
esac
cgroup_fs="$(ct stat -fc %T /sys/fs/cgroup)"

# --- helpers ----------------------------------------------------------------------
prop() { ct systemctl show -p "$1" --value tidegate; }
main_pid() { prop MainPID; }
# The gateway's lines of one run of the service (its stderr in the journal).
run_log() { ct journalctl -o cat --no-pager "_SYSTEMD_INVOCATION_ID=$1"; }
wait_ready() {  # INVOCATION_ID: up to 20 s for "tidegate ready"
  for _ in $(seq 1 100); do
    run_log "$1" | grep -q 'tidegate ready' && return 0
    sleep 0.2
  done
  return 1
}
wait_prop() {  # PROPERTY VALUE SECONDS
  for _ in $(seq 1 $(($3 * 5))); do
    [ "$(prop "$1")" = "$2" ] && return 0
    sleep 0.2
  done
  return 1
}
# Publishes until the subscriber has the message; prints what it received.
round_trip() {  # QOS TOPIC PAYLOAD
  T=70 ct sh -c '
    out=$(mktemp)
    mosquitto_sub -h 127.0.0.1 -p 1883 -q "$1" -t "$2" -C 1 -W 30 -i "check-sub-$1" >"$out" 2>/dev/null &
    sub=$!
    for i in $(seq 1 40); do
      timeout 10 mosquitto_pub -h 127.0.0.1 -p 1883 -q "$1" -t "$2" -m "$3" -i "check-pub-$1" 2>/dev/null || true
      [ -s "$out" ] && break
      kill -0 "$sub" 2>/dev/null || break
      sleep 0.5
    done
    wait "$sub"
    cat "$out"
    rm -f "$out"' sh "$@"
}
check_round_trips() {  # LABEL
  local qos payload got
  for qos in 0 1; do
    payload="systemd-check $1 qos $qos $$"
    got="$(round_trip "$qos" "check/$1/q$qos" "$payload" || true)"
    if [ "$got" = "$payload" ]; then ok "$1: QoS $qos round trip through 127.0.0.1:1883"
    else bad "$1: QoS $qos round trip: sent '$payload', received '$got'"; fi
  done
}

# What the service's process is and what it can write.
check_process() {  # LABEL UNIT_NOFILE
  local label="$1" unit_nofile="$2" pid who status soft hard
  pid="$(main_pid)"
  who="$(ct ps -o user=,group= -p "$pid" | xargs)"
  [ "$who" = "tidegate tidegate" ] && ok "$label: runs as tidegate:tidegate (pid $pid)" ||
    bad "$label: runs as '$who', not tidegate tidegate"
  status="$(ct cat /proc/"$pid"/status)"
  if echo "$status" | grep -qx 'CapEff:[[:space:]]*0000000000000000' &&
     echo "$status" | grep -qx 'CapBnd:[[:space:]]*0000000000000000' &&
     echo "$status" | grep -qx 'NoNewPrivs:[[:space:]]*1' &&
     echo "$status" | grep -qx 'Seccomp:[[:space:]]*2'; then
    ok "$label: no capabilities (effective and bounding), no_new_privs, seccomp filter on"
  else
    bad "$label: capabilities/no_new_privs/seccomp not as the unit says: $(echo "$status" | grep -E '^(Cap(Eff|Bnd)|NoNewPrivs|Seccomp):' | xargs)"
  fi
  read -r soft hard < <(ct awk '/^Max open files/ {print $4, $5}' /proc/"$pid"/limits)
  if [ "$soft" = "$unit_nofile" ]; then
    ok "$label: open files limit $soft (LimitNOFILE)"
  else
    local pid1_hard
    pid1_hard="$(ct awk '/^Max open files/ {print $5}' /proc/1/limits)"
    if [ "$pid1_hard" -lt "$unit_nofile" ] && [ "$soft" = "$pid1_hard" ]; then
      note "$label: LimitNOFILE=$unit_nofile clamped to $soft: the container's systemd has a hard limit of $pid1_hard (this host's: no CAP_SYS_RESOURCE to raise it); systemd as PID 1 of a booted box raises it"
    else
      bad "$label: open files limit $soft/$hard, the unit says $unit_nofile"
    fi
  fi

  # The service's own mount namespace: the tidegate user can write these only.
  local writable unexpected
  writable="$(ct nsenter -t "$pid" -m -- setpriv --reuid=tidegate --regid=tidegate --clear-groups -- \
    find / \( -path /proc -o -path /sys \) -prune -o \( -type d -o -type f \) -writable -print 2>/dev/null || true)"
  unexpected="$(echo "$writable" | grep -vE '^(/tmp|/var/tmp|/var/lib/tidegate|/var/log/tidegate)(/|$)' || true)"
  if [ -z "$unexpected" ] && echo "$writable" | grep -qx /var/lib/tidegate && echo "$writable" | grep -qx /var/log/tidegate; then
    ok "$label: in the service's mount namespace the tidegate user can write only $(echo "$writable" | grep -vE '^(/var/lib/tidegate|/var/log/tidegate)/' | xargs)"
  else
    bad "$label: the tidegate user can write outside its dirs, in the service's namespace: $(echo "$unexpected" | xargs)"
  fi
  local dir denied="" allowed=""
  for dir in /etc /usr /var /var/lib /var/cache /var/log /opt /srv /home /root /run /run/lock /dev/shm /dev/mqueue; do
    if ct nsenter -t "$pid" -m -- sh -c "touch '$dir/.tidegate-probe' 2>/dev/null && rm -f '$dir/.tidegate-probe'"; then
      allowed+=" $dir"
    else
      denied+=" $dir"
    fi
  done
  [ -z "$allowed" ] && ok "$label: even root, in the service's mount namespace, cannot write$denied" ||
    bad "$label: root in the service's mount namespace can write$allowed"
  if ct nsenter -t "$pid" -m -- setpriv --reuid=tidegate --regid=tidegate --clear-groups -- sh -c \
      'touch /var/lib/tidegate/.probe /var/log/tidegate/.probe /tmp/.probe-private /var/tmp/.probe-private &&
       rm /var/lib/tidegate/.probe /var/log/tidegate/.probe'; then
    if ct sh -c '[ ! -e /tmp/.probe-private ] && [ ! -e /var/tmp/.probe-private ]'; then
      ok "$label: the tidegate user writes /var/lib/tidegate, /var/log/tidegate and a /tmp, /var/tmp of its own (PrivateTmp)"
    else
      bad "$label: the service's /tmp or /var/tmp is the box's (PrivateTmp)"
    fi
  else
    bad "$label: the tidegate user cannot write its data, log or tmp dirs"
  fi

  # Memory and task limits: enforced only where the container has the controllers.
  local cg mem tasks
  cg="$(ct sh -c "awk -F: '\$1 == \"0\" {print \$3}' /proc/$pid/cgroup")"
  mem="$(prop MemoryMax)" tasks="$(prop TasksMax)"
  if [ "$cgroup_fs" = cgroup2fs ] && ct test -r "/sys/fs/cgroup$cg/memory.max"; then
    [ "$(ct cat "/sys/fs/cgroup$cg/memory.max")" = "$mem" ] && ok "$label: memory.max $mem (MemoryMax)" ||
      bad "$label: memory.max $(ct cat "/sys/fs/cgroup$cg/memory.max"), MemoryMax=$mem"
    [ "$(ct cat "/sys/fs/cgroup$cg/pids.max")" = "$tasks" ] && ok "$label: pids.max $tasks (TasksMax)" ||
      bad "$label: pids.max $(ct cat "/sys/fs/cgroup$cg/pids.max" 2>&1), TasksMax=$tasks"
  else
    note "$label: MemoryMax=$mem TasksMax=$tasks set but not enforced here: the container's cgroup file system is $cgroup_fs without the memory and pids controllers (this host's v1 controllers are not delegated to it)"
  fi
}

check_security() {  # LABEL
  local label="$1" out score
  out="$(ct systemd-analyze security tidegate --no-pager 2>&1 || true)"
  score="$(echo "$out" | sed -n 's/.*Overall exposure level for tidegate.service: \([0-9.]*\).*/\1/p')"
  if [ -n "$score" ] && awk -v s="$score" -v m="$max_exposure" 'BEGIN {exit !(s <= m)}'; then
    ok "$label: systemd-analyze security: $(echo "$out" | grep 'Overall exposure' | sed 's/^[^O]*//')"
  else
    bad "$label: systemd-analyze security: '$score', above $max_exposure: $(echo "$out" | tail -n 1)"
  fi
  echo "$out" | grep '✗' | sed 's/^/    /' || true
}

# Stops the service with a subscriber connected: SIGTERM, drained, exit 0.
check_stop() {  # LABEL
  local label="$1" inv start elapsed
  inv="$(prop InvocationID)"
  ct sh -c 'mosquitto_sub -h 127.0.0.1 -p 1883 -q 1 -c -i check-keeper -t "check/keep/#" -W 20 >/dev/null 2>&1 &'
  # Connected: an established TCP connection to port 1883 (075B) in the container.
  local clients=0
  for _ in $(seq 1 50); do
    clients="$(ct sh -c 'cat /proc/net/tcp /proc/net/tcp6 2>/dev/null || true' | awk '$2 ~ /:075B$/ && $4 == "01"' | wc -l)"
    [ "$clients" -ge 1 ] && break
    sleep 0.2
  done
  start=$(date +%s%N)
  T=60 ct systemctl stop tidegate || bad "$label: systemctl stop failed"
  elapsed="$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN {printf "%.2f", ns / 1e9}')"
  local result code st
  result="$(prop Result)" code="$(prop ExecMainCode)" st="$(prop ExecMainStatus)"
  # ExecMainCode 1 is CLD_EXITED: the process exited by itself (not killed by the signal).
  if [ "$(prop ActiveState)" = inactive ] && [ "$result" = success ] && [ "$code" = 1 ] && [ "$st" = 0 ] &&
     run_log "$inv" | grep -q 'signal 15: draining' && run_log "$inv" | grep -q 'info stopped'; then
    ok "$label: systemctl stop with $clients client(s) connected: SIGTERM (KillSignal=$(prop KillSignal)), drained, exit 0 in ${elapsed} s"
  else
    bad "$label: systemctl stop: state $(prop ActiveState), Result=$result ExecMainCode=$code ExecMainStatus=$st after ${elapsed} s; the gateway's last lines: $(run_log "$inv" | tail -n 3 | tr '\n' '|')"
  fi
}

# --- install -------------------------------------------------------------------
if T=120 ct dpkg -i /root/check/tidegate.deb >"$work/dpkg.log" 2>&1; then
  ok "dpkg -i $(basename "$deb")"
else
  cat "$work/dpkg.log" >&2
  die "dpkg -i failed"
fi
verify="$(ct systemd-analyze verify /lib/systemd/system/tidegate.service 2>&1 || true)"
[ -z "$verify" ] && ok "systemd-analyze verify tidegate.service: no complaint" ||
  bad "systemd-analyze verify tidegate.service: $verify"
[ "$(ct systemctl is-enabled tidegate || true)" = enabled ] && ok "tidegate.service enabled by the postinst" ||
  bad "tidegate.service is $(ct systemctl is-enabled tidegate || true), not enabled"
wait_prop ActiveState active 10 && ok "tidegate.service active (started by the postinst)" ||
  bad "tidegate.service is $(prop ActiveState) after dpkg -i: $(ct systemctl status tidegate --no-pager -n 10 | tr '\n' '|')"
inv="$(prop InvocationID)"
wait_ready "$inv" || bad "no 'tidegate ready' in the journal: $(run_log "$inv" | tail -n 5 | tr '\n' '|')"
[ "$(ct stat -c %U /var/lib/tidegate/data.mdb 2>/dev/null)" = tidegate ] &&
  ok "the store is /var/lib/tidegate/data.mdb, owned by tidegate" || bad "no /var/lib/tidegate/data.mdb owned by tidegate"

label=x86_64
check_round_trips "$label"
check_process "$label" "$(ct sed -n 's/^LimitNOFILE=//p' /lib/systemd/system/tidegate.service)"
check_security "$label"

# --- reload (SIGHUP) -----------------------------------------------------------
pid="$(main_pid)"
ct cp /etc/tidegate/tidegate.json /root/tidegate.json.orig
# log_file into its LogsDirectory: the gateway opens it after the reload.
ct sed -i '0,/{/s//{"log_file": "\/var\/log\/tidegate\/tidegate.log", /' /etc/tidegate/tidegate.json
ct systemctl reload tidegate || bad "systemctl reload failed"
found=0
for _ in $(seq 1 50); do
  ct grep -q 'reloaded /etc/tidegate/tidegate.json' /var/log/tidegate/tidegate.log 2>/dev/null && { found=1; break; }
  sleep 0.2
done
if [ "$found" = 1 ] && [ "$(main_pid)" = "$pid" ] && [ "$(prop ActiveState)" = active ]; then
  ok "systemctl reload: SIGHUP, config read again (log_file now /var/log/tidegate/tidegate.log, $(ct stat -c '%U:%G %a' /var/log/tidegate/tidegate.log)), same pid $pid"
else
  bad "systemctl reload: no 'reloaded' line in /var/log/tidegate/tidegate.log, or the pid changed ($pid -> $(main_pid))"
fi
# A log_file outside its dirs, in a directory the tidegate user owns: the
# gateway itself must get "Read-only file system" (ProtectSystem), keep running.
ct install -d -o tidegate -g tidegate /srv/tidegate-probe
ct sed -i 's|/var/log/tidegate/tidegate.log|/srv/tidegate-probe/tidegate.log|' /etc/tidegate/tidegate.json
ct systemctl reload tidegate || true
found=0
for _ in $(seq 1 50); do
  ct grep -q 'log_file: cannot open /srv/tidegate-probe/tidegate.log: Read-only file system' /var/log/tidegate/tidegate.log && { found=1; break; }
  sleep 0.2
done
if [ "$found" = 1 ] && [ -z "$(ct ls -A /srv/tidegate-probe)" ] && [ "$(main_pid)" = "$pid" ]; then
  ok "the gateway cannot open a log_file in /srv (a tidegate-owned dir): 'Read-only file system', reload refused, still running"
else
  bad "log_file in /srv/tidegate-probe: expected 'Read-only file system'; the gateway's log: $(ct tail -n 2 /var/log/tidegate/tidegate.log | tr '\n' '|'); /srv/tidegate-probe: $(ct ls -A /srv/tidegate-probe | xargs)"
fi
ct cp /root/tidegate.json.orig /etc/tidegate/tidegate.json
ct systemctl reload tidegate || true
found=0
for _ in $(seq 1 50); do
  [ "$(run_log "$inv" | grep -c 'reloaded /etc/tidegate/tidegate.json')" -ge 1 ] && { found=1; break; }
  sleep 0.2
done
[ "$found" = 1 ] && ok "reload back to the packaged config: the log is in the journal again" ||
  bad "after the reload to the packaged config the journal has no 'reloaded' line"

# --- Restart=on-failure, RestartPreventExitStatus=2 ------------------------------
pid="$(main_pid)"
ct systemctl kill -s SIGKILL --kill-who=main tidegate
restarted=0
for _ in $(seq 1 75); do  # RestartSec=2
  new="$(main_pid)"
  [ "$new" != 0 ] && [ "$new" != "$pid" ] && [ "$(prop ActiveState)" = active ] && { restarted=1; break; }
  sleep 0.2
done
if [ "$restarted" = 1 ] && [ "$(prop NRestarts)" = 1 ] && wait_ready "$(prop InvocationID)"; then
  ok "SIGKILL: restarted by systemd (Restart=on-failure), new pid $(main_pid), NRestarts=1"
  got="$(round_trip 1 check/after-kill "after kill $$" || true)"
  [ "$got" = "after kill $$" ] && ok "QoS 1 round trip after the restart" || bad "QoS 1 round trip after the restart: got '$got'"
else
  bad "SIGKILL: not restarted (state $(prop ActiveState), pid $(main_pid), NRestarts=$(prop NRestarts))"
fi
echo '{"no_such_key": 1}' | ct tee /etc/tidegate/tidegate.json >/dev/null
ct systemctl restart tidegate || true
if wait_prop ActiveState failed 10; then
  sleep 4  # twice RestartSec: a restart would have come
  if [ "$(prop ActiveState)" = failed ] && [ "$(prop ExecMainStatus)" = 2 ] && [ "$(prop NRestarts)" = 0 ]; then
    ok "refused config: exit 2, failed, not restarted (RestartPreventExitStatus=2): $(ct journalctl -u tidegate -o cat --no-pager | grep 'bad config' | tail -n 1)"
  else
    bad "refused config: state $(prop ActiveState), ExecMainStatus=$(prop ExecMainStatus), NRestarts=$(prop NRestarts)"
  fi
else
  bad "refused config: the service is $(prop ActiveState), not failed"
fi
ct cp /root/tidegate.json.orig /etc/tidegate/tidegate.json
ct systemctl reset-failed tidegate || true
ct systemctl start tidegate || bad "systemctl start with the packaged config failed"
wait_ready "$(prop InvocationID)" || bad "not ready again after the refused config"

check_stop "$label"

# --- the other profiles' units (same hardening, other limits) ------------------
for p in arm64 armhf; do
  ct cp "/root/check/units/$p.service" /lib/systemd/system/tidegate.service
  ct systemctl daemon-reload
  ct systemctl start tidegate || bad "$p unit: systemctl start failed"
  if wait_prop ActiveState active 10 && wait_ready "$(prop InvocationID)"; then
    ok "$p unit: started, ready"
    check_round_trips "$p"
    check_process "$p" "$(ct sed -n 's/^LimitNOFILE=//p' /lib/systemd/system/tidegate.service)"
    check_security "$p"
    check_stop "$p"
  else
    bad "$p unit: not active: $(ct systemctl status tidegate --no-pager -n 10 | tr '\n' '|')"
  fi
done

# --- removal ---------------------------------------------------------------------
ct systemctl start tidegate || true
wait_prop ActiveState active 10 || true
T=120 ct dpkg -r tidegate >>"$work/dpkg.log" 2>&1 || bad "dpkg -r failed"
[ "$(prop ActiveState)" = inactive ] && [ "$(prop LoadState)" != loaded ] &&
  ok "dpkg -r: service stopped, unit gone" || bad "dpkg -r: service $(prop ActiveState), unit $(prop LoadState)"
T=120 ct dpkg --purge tidegate >>"$work/dpkg.log" 2>&1 || bad "dpkg --purge failed"
if ct test ! -e /etc/tidegate/tidegate.json -a ! -e /etc/systemd/system/multi-user.target.wants/tidegate.service \
   -a -e /var/lib/tidegate/data.mdb && ct getent passwd tidegate >/dev/null; then
  ok "dpkg --purge: config and enable link gone, /var/lib/tidegate and the tidegate user kept"
else
  bad "dpkg --purge: $(ct ls -d /etc/tidegate /etc/systemd/system/multi-user.target.wants/tidegate.service /var/lib/tidegate/data.mdb 2>&1 | tr '\n' ' ')"
fi

if [ "$failures" -eq 0 ]; then
  log "PASSED: $checks checks"
  exit 0
fi
log "FAILED: $failures of $checks checks"
exit 1
