#!/usr/bin/env bash
# Fetches the console's one third-party asset, uPlot (the charts), from the npm
# registry into gateway/console/vendor/uplot/ (not in git), checks its SHA-256,
# and keeps its licence next to it. The build compiles it into the gateway
# (docs/console.md). Run by tools/bootstrap.sh; does nothing when present.
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.6.32
sha256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
target=gateway/console/vendor/uplot
if [ -f "$target/VERSION" ] && [ "$(cat "$target/VERSION")" = "$version" ]; then exit 0; fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
url="https://registry.npmjs.org/uplot/-/uplot-$version.tgz"
echo "console-assets: fetching $url"
curl -fsSL --retry 3 -o "$scratch/uplot.tgz" "$url"
echo "$sha256  $scratch/uplot.tgz" | sha256sum -c --quiet - || { echo "console-assets: $url has the wrong SHA-256" >&2; exit 1; }
tar -xzf "$scratch/uplot.tgz" -C "$scratch" package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE
mkdir -p "$target"
cp "$scratch/package/dist/uPlot.iife.min.js" "$scratch/package/dist/uPlot.min.css" "$target/"
cp "$scratch/package/LICENSE" "$target/LICENSE"
echo "$version" > "$target/VERSION"
echo "console-assets: uPlot $version in $target"
