#!/usr/bin/env bash
# Writes the man page OUT (gzipped) of a program from its own --help and
# --version, with help2man, so the page says what --help says.
#   man_page.sh OUT.1.gz "one-line summary" [EMULATOR ARGS...] PROGRAM
# For a cross build the program runs under the emulator (qemu-user): help2man
# is given a wrapper of the program's name that runs it there.
set -euo pipefail
out="$1" summary="$2"
shift 2
program="${!#}"
name="$(basename "$program")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\nexec %s "$@"\n' "$(printf '%q ' "$@")" > "$tmp/$name"
chmod +x "$tmp/$name"
help2man --no-info --no-discard-stderr --name "$summary" --section 1 --output "$tmp/$name.1" "$tmp/$name"
gzip -9n -c "$tmp/$name.1" > "$out"
