#!/usr/bin/env bash
# Makes a private sysroot for cross-building tidegate: downloads the target
# architecture's .debs with apt-get download under an apt configuration of its
# own (its own sources list, package lists and cache; the host's dpkg database,
# architectures and packages are never touched) and unpacks them with dpkg -x.
#
#   firmware-profiles/sysroot.sh DEB_ARCH DIR      e.g. armhf build-fw/armhf-sysroot
#
# The sources are the host's Debian entries (/etc/apt/sources.list.d/*.sources
# and /etc/apt/sources.list), restricted to DEB_ARCH. An index that fails to
# download (Debian's armhf security index does when the mirror is mid-sync) is
# tolerated: the packages then come from the indexes that did download, and
# only a package that cannot be found at all fails the script.
set -euo pipefail
arch="${1:?usage: sysroot.sh DEB_ARCH DIR}"
dir="${2:?usage: sysroot.sh DEB_ARCH DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

# What the cross g++ needs from the target beside its own libstdc++ and libgcc
# (those come with g++-<triplet>): libc and kernel headers, the libraries
# tidegate links, the header-only libraries, and what qemu needs to run it.
packages=(libc6 libc6-dev linux-libc-dev libgcc-s1 libstdc++6
  libssl3 libssl-dev liblmdb0 liblmdb-dev
  libboost1.81-dev nlohmann-json3-dev doctest-dev)

stamp="$dir/.tidegate-sysroot"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$arch ${packages[*]}" ]; then
  echo "sysroot.sh: $dir is up to date"
  exit 0
fi

apt_dir="$dir.apt"
rm -rf "$dir" "$apt_dir"
mkdir -p "$dir" "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs"
touch "$apt_dir/status" "$apt_dir/sources.list"

# The host's Debian sources, for DEB_ARCH only. deb822 files get an
# Architectures field; one-line entries an [arch=...] option.
found=0
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  grep -q 'debian-archive-keyring' "$f" || continue
  grep -v '^Architectures:' "$f" | sed "/^Types:/a Architectures: $arch" >"$apt_dir/sources.list.d/$(basename "$f")"
  found=1
done
if [ -f /etc/apt/sources.list ]; then
  grep -E '^deb[[:space:]]' /etc/apt/sources.list | grep -i debian |
    sed -E "s/^deb[[:space:]]+(\[([^]]*)\][[:space:]]+)?/deb [arch=$arch \2] /" \
      >"$apt_dir/sources.list.d/host.list" || true
  [ -s "$apt_dir/sources.list.d/host.list" ] && found=1
fi
[ "$found" = 1 ] || { echo "sysroot.sh: no Debian entry in the host's apt sources" >&2; exit 1; }

cat >"$apt_dir/apt.conf" <<EOF
Dir::Etc::sourcelist "$apt_dir/sources.list";
Dir::Etc::sourceparts "$apt_dir/sources.list.d/";
Dir::State "$apt_dir/";
Dir::State::lists "$apt_dir/lists/";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir/";
Dir::Cache::archives "$apt_dir/archives/";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
Acquire::Languages "none";
APT::Sandbox::User "root";
EOF
export APT_CONFIG="$apt_dir/apt.conf"

# Up to three tries; a partial failure (one index) is reported and tolerated.
for attempt in 1 2 3; do
  if apt-get update -qq 2>"$apt_dir/update.err"; then break; fi
  echo "sysroot.sh: apt-get update ($arch), try $attempt: some indexes failed:" >&2
  grep -E '^(E|W):' "$apt_dir/update.err" | head -n 5 >&2 || true
  sleep 2
done
ls "$apt_dir/lists/"*_Packages* >/dev/null 2>&1 || { echo "sysroot.sh: no $arch index downloaded" >&2; exit 1; }

echo "sysroot.sh: downloading ${packages[*]} ($arch)"
(cd "$apt_dir/debs" && apt-get download -qq "${packages[@]/%/:$arch}")
for deb in "$apt_dir/debs"/*.deb; do
  dpkg -x "$deb" "$dir"
done
ls "$apt_dir/debs"

# Absolute symlinks inside the sysroot (e.g. lib/ld-linux-armhf.so.3 ->
# /lib/arm-linux-gnueabihf/ld-linux-armhf.so.3) would point into the host:
# make them relative.
find "$dir" -type l -lname '/*' | while read -r link; do
  target="$(readlink "$link")"
  ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$dir$target")" "$link"
done
echo "$arch ${packages[*]}" >"$stamp"
echo "sysroot.sh: $dir ready"
