#!/usr/bin/env bash
# Installs what tidegate needs to build (and, with "test", to run its tests) on
# Debian 12, as root. Does nothing for packages already installed.
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libboost1.81-dev libssl-dev liblmdb-dev nlohmann-json3-dev doctest-dev libnats-dev)
# The console's charting library comes from the npm registry (tools/console-assets.sh).
packages+=(curl ca-certificates)
if [ "${1:-}" = "test" ]; then
  packages+=(mosquitto mosquitto-clients libmosquitto-dev python3 python3-pytest python3-paho-mqtt)
  # Cluster tests: real JetStream servers (tests/system/test_cluster.py).
  packages+=(nats-server)
  # tests/fuzz: clang++ with libFuzzer and the sanitizer runtimes.
  packages+=(clang libclang-rt-14-dev)
  # The console's tests drive a real headless browser (tests/system/test_console.py).
  packages+=(chromium chromium-driver python3-selenium)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The console's browser assets that are not ours (uPlot), checked by hash.
"$(dirname "$0")/console-assets.sh"
