# Sourced by the measurement scripts in this folder (after they set
# work_prefix): where the binaries are, a scratch directory removed on exit,
# and free_port for a free loopback port.
here=$(cd "$(dirname "$0")/../.." && pwd)
tidegate=${TIDEGATE_BIN:-$here/build/bin/tidegate}
bench=${BENCH_BIN:-$here/build/bin/tidegate-bench}
work=$(mktemp -d "/tmp/${work_prefix:-tgb}.XXXXXX")
trap 'rm -rf "$work"' EXIT
# FlashMQ's config for the comparisons (docs/benchmarks.md, "Against FlashMQ"):
# in memory (no storage_dir), its default thread count (one per CPU), anonymous
# clients, IPv4 only, the most files this box allows.
# usage: flashmq_config PORT TCP_NODELAY(true|false) [EXTRA-LISTENER-LINES] > FILE
flashmq_config() {
  printf 'allow_anonymous true\nrlimit_nofile %s\nlog_level notice\nlisten {\n  protocol mqtt\n  inet_protocol ip4\n  inet4_bind_address 127.0.0.1\n  port %s\n  tcp_nodelay %s\n  %s\n}\n' \
    "$(ulimit -Hn)" "$1" "$2" "${3:-}"
}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
