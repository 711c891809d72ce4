# Sourced by the measurement scripts in this folder (after they set
# work_prefix): where the binaries are, a scratch directory removed on exit,
# and free_port for a free loopback port.
here=$(cd "$(dirname "$0")/../.." && pwd)
tidegate=${TIDEGATE_BIN:-$here/build/bin/tidegate}
bench=${BENCH_BIN:-$here/build/bin/tidegate-bench}
work=$(mktemp -d "/tmp/${work_prefix:-tgb}.XXXXXX")
trap 'rm -rf "$work"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
