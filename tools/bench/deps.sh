#!/usr/bin/env bash
# tools/bench/deps.sh PKG... - make sure the Debian packages `make bench` needs are installed.
# Silent when they are. As root, installs what is missing with apt-get; otherwise prints the
# command to run and fails. (The Linux guest's packages are not installed: tools/bench/mklinux.py
# fetches them with `apt-get download` and unpacks them under build/bench/linux.)
set -euo pipefail
missing=()
for p in "$@"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "bench: installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/vnet-bench-deps.XXXXXX)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	exit 1
fi
