#!/usr/bin/env bash
# Builds tidegate for one board profile, from a fresh Debian 12 machine, as root:
# installs the (cross) toolchain and the target's -dev packages, configures
# build-fw/<profile> with the profile's toolchain file, builds, and on request
# runs the unit tests (under qemu-user for ARM), the smoke test and packages a
# .deb with CPack.
#
#   firmware-profiles/build.sh PROFILE [--test] [--smoke] [--package] [--sysroot] [--no-console] [-jN]
#
#   PROFILE    arm64 | armhf | x86_64
#   --test     build unit_tests and run them (ctest; qemu-user for ARM)
#   --smoke    start the built gateway (under qemu for ARM) and do a pub/sub round trip
#   --package  build tidegatectl, tidegate-passwd and the man pages too, make
#              build-fw/<profile>/tidegate_<version>_<arch>.deb and check its files
#   --deps-only  install what the build needs (packages, sysroot, console
#              assets) and stop: CI does this before it builds in the background
#   --no-console  leave the web console's files out (-DTIDEGATE_CONSOLE=OFF:
#              about 90 KiB less; the admin API stays; docs/console.md)
#   --sysroot  arm64: take the target libraries from a private sysroot instead of
#              multiarch (armhf always does; arm64 falls back to it when the
#              multiarch install fails)
#   -jN        parallel build jobs (default 1)
#
# TIDEGATE_BUILD_DIR=DIR builds elsewhere than build-fw/<profile>.
#
# Host packages are never removed: for multiarch the install is simulated first
# and not done if apt would remove anything (the private sysroot is used then).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/firmware-profiles"

profile="" test=0 smoke=0 package=0 use_sysroot=0 console=1 deps_only=0 jobs=1
for arg in "$@"; do
  case "$arg" in
    --test) test=1 ;;
    --smoke) smoke=1 ;;
    --package) package=1 ;;
    --sysroot) use_sysroot=1 ;;
    --no-console) console=0 ;;
    --deps-only) deps_only=1 ;;
    -j*) jobs="${arg#-j}" ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
    -*) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
    *) [ -z "$profile" ] || { echo "build.sh: one profile at a time" >&2; exit 2; }; profile="$arg" ;;
  esac
done
case "$profile" in
  arm64) deb_arch=arm64 triplet=aarch64-linux-gnu qemu=qemu-aarch64 ;;
  armhf) deb_arch=armhf triplet=arm-linux-gnueabihf qemu=qemu-arm use_sysroot=1 ;;
  x86_64) deb_arch=amd64 triplet="" qemu="" ;;
  *) echo "usage: build.sh arm64|armhf|x86_64 [--test] [--smoke] [--package] [--sysroot] [--no-console] [-jN]" >&2; exit 2 ;;
esac
build_dir="${TIDEGATE_BUILD_DIR:-$root/build-fw/$profile}"
export DEBIAN_FRONTEND=noninteractive

log() { echo "build.sh[$profile]: $*"; }

apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  # A mirror mid-sync fails one index now and then: try again, then go on with
  # what downloaded (the install below says whether it is enough).
  local attempt
  for attempt in 1 2 3; do
    apt-get update -qq && break
    log "apt-get update failed (try $attempt)"
    sleep 5
  done
  apt_updated=1
}
# Installs the packages that are missing (names may carry :arch).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_update
  # Never let a target-architecture package take a host one away.
  local removals
  removals="$(apt-get install -s --no-install-recommends "${missing[@]}" | grep '^Remv' || true)"
  if [ -n "$removals" ]; then
    echo "build.sh: installing ${missing[*]} would remove host packages; not installing:" >&2
    echo "$removals" >&2
    return 1
  fi
  log "installing ${missing[*]}"
  # dpkg's progress stays out of the log unless the install fails.
  local apt_log
  apt_log="$(mktemp)"
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1; then
    cat "$apt_log" >&2
    rm -f "$apt_log"
    return 1
  fi
  rm -f "$apt_log"
}

# The host part: cmake, ninja, the native g++ and the host's -dev packages
# (header-only Boost, nlohmann_json and doctest serve multiarch cross builds too).
"$root/tools/bootstrap.sh"
host_packages=()
[ -n "$triplet" ] && host_packages+=("g++-$triplet" qemu-user)
[ "$smoke" = 1 ] && host_packages+=(mosquitto-clients)
[ "$package" = 1 ] && host_packages+=(help2man)
[ "$console" = 1 ] && host_packages+=(curl ca-certificates)
[ ${#host_packages[@]} -gt 0 ] && apt_install "${host_packages[@]}"
# The console's charting library (from the npm registry, checked by hash).
[ "$console" = 1 ] && "$root/tools/console-assets.sh"

# Target libraries for the ARM profiles.
sysroot=""
if [ -n "$triplet" ] && [ "$use_sysroot" = 0 ]; then
  if ! dpkg --print-foreign-architectures | grep -qx "$deb_arch"; then
    log "dpkg --add-architecture $deb_arch"
    dpkg --add-architecture "$deb_arch"
    apt_updated=0
  fi
  # Multi-Arch: same packages must match the host's versions: apt upgrades the
  # amd64 libssl-dev/libssl3 to the same version if they are older. When that
  # cannot be done without removing a host package, or the target's index is
  # out of step with the host's, the private sysroot does the job instead.
  if ! apt_install "libssl-dev:$deb_arch" "liblmdb-dev:$deb_arch" "libstdc++6:$deb_arch"; then
    log "multiarch install failed: using a private sysroot instead"
    use_sysroot=1
  fi
fi
if [ -n "$triplet" ] && [ "$use_sysroot" = 1 ]; then
  sysroot="$root/build-fw/$profile-sysroot"
  "$here/sysroot.sh" "$deb_arch" "$sysroot"
fi

if [ "$deps_only" = 1 ]; then
  log "dependencies installed"
  exit 0
fi

cmake_args=(-S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=MinSizeRel -DTIDEGATE_CLUSTER=OFF
  "-DCMAKE_TOOLCHAIN_FILE=$here/$profile/toolchain.cmake" "-DTIDEGATE_PROFILE=$profile")
[ -n "$sysroot" ] && cmake_args+=("-DTIDEGATE_SYSROOT=$sysroot")
[ "$console" = 0 ] && cmake_args+=(-DTIDEGATE_CONSOLE=OFF)
# The unit tests need doctest; a build for flashing only does not.
if [ "$test" = 1 ]; then cmake_args+=(-DTIDEGATE_BUILD_TESTS=ON); else cmake_args+=(-DTIDEGATE_BUILD_TESTS=OFF); fi
log "configuring $build_dir"
cmake "${cmake_args[@]}" >/dev/null

targets=(tidegate)
[ "$test" = 1 ] && targets+=(unit_tests)
[ "$package" = 1 ] && targets+=(tidegatectl tidegate-passwd man_pages)
log "building ${targets[*]} (-j$jobs)"
cmake --build "$build_dir" -j"$jobs" --target "${targets[@]}"

strip_tool=strip
[ -n "$triplet" ] && strip_tool="$triplet-strip"
"$strip_tool" -o "$build_dir/tidegate.stripped" "$build_dir/bin/tidegate"
log "tidegate: $(stat -c %s "$build_dir/bin/tidegate") bytes, $(stat -c %s "$build_dir/tidegate.stripped") bytes stripped"

if [ "$test" = 1 ]; then
  log "unit tests${qemu:+ under $qemu}"
  ctest --test-dir "$build_dir" --output-on-failure -R '^unit$'
fi
if [ "$smoke" = 1 ]; then
  log "smoke test${qemu:+ under $qemu}"
  "$here/smoke.sh" "$build_dir" "$here/$profile/tidegate.json"
fi
if [ "$package" = 1 ]; then
  log "packaging"
  (cd "$build_dir" && cpack -G DEB >/dev/null)
  deb="$(ls -t "$build_dir"/tidegate_*_"$deb_arch".deb | head -n 1)"
  dpkg-deb --field "$deb" Package Version Architecture Depends
  check_args=("$deb")
  [ "$console" = 0 ] && check_args+=(--no-console)
  "$here/package-check.sh" "${check_args[@]}" >/dev/null
  log "package: $deb (package-check.sh: every promised file is in it)"
fi
