#!/usr/bin/env bash
# Lists a built .deb's files and checks it carries what the README and
# firmware-profiles/README.md promise: the three programs, their man pages,
# bash completion, the config, the unit and the docs the README links to.
#   package-check.sh build-fw/<profile>/tidegate_<version>_<arch>.deb [--no-console]
set -euo pipefail
deb="$1"
console=1
[ "${2:-}" = "--no-console" ] && console=0
contents="$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')"
echo "$contents"
missing=0
expect() {
  if ! grep -qx "$1" <<<"$contents"; then
    echo "package-check: $deb lacks $1" >&2
    missing=1
  fi
}
for program in tidegate tidegatectl tidegate-passwd; do
  expect "/usr/bin/$program"
  expect "/usr/share/man/man1/$program.1.gz"
done
expect /usr/share/bash-completion/completions/tidegatectl
expect /etc/tidegate/tidegate.json
expect /lib/systemd/system/tidegate.service
expect /usr/share/doc/tidegate/README.md
expect /usr/share/doc/tidegate/firmware-profiles/README.md
# The console embeds uPlot: its licence ships with it, and the console's screenshots with its doc.
if [ "$console" = 1 ]; then
  expect /usr/share/doc/tidegate/LICENSE.uPlot
  expect /usr/share/doc/tidegate/docs/console/overview.png
fi
# Every docs/*.md the README links to is there, so its links work.
root="$(cd "$(dirname "$0")/.." && pwd)"
for doc in $(grep -o 'docs/[a-z_-]*\.md' "$root/README.md" | sort -u); do
  expect "/usr/share/doc/tidegate/$doc"
done
# A man page that is not empty, made from --help.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
zcat "$tmp/usr/share/man/man1/tidegatectl.1.gz" | grep -q 'sessions list' ||
  { echo "package-check: tidegatectl.1 does not carry the --help text" >&2; missing=1; }
zcat "$tmp/usr/share/man/man1/tidegate.1.gz" | grep -q 'check\\\?-config' ||
  { echo "package-check: tidegate.1 does not carry --check-config" >&2; missing=1; }
exit "$missing"
