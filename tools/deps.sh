#!/usr/bin/env bash
# tools/deps.sh MODE - make sure the Debian packages that MODE needs are installed.
#
#   run    QEMU, and ip + nc for its TAP network      (make run)
#   gdb    run + gdb                                (make gdb)
#   hostside  test + strace                         (make lab-hostside, make lab-answers)
#   iso    run + what grub-mkrescue needs           (make iso)
#   test   iso + pytest, scapy, the network tools   (make test)
#          the QEMU tests drive (ip, tshark, dnsmasq, ping, arping), and clang with its
#          libFuzzer runtime, so the short fuzz run in make test happens on every machine;
#          pytest-xdist runs the QEMU tests one per CPU
#   fuzz   the same as test                         (make fuzz)
#   dpdk   DPDK's testpmd: dpdk-dev, which brings the net_vhost and net_pcap drivers through
#          libdpdk-dev (make test-full and make bench ask for it; plain make test does not:
#          its DPDK checks skip, saying why, when testpmd is missing)
#
# Every mode also checks for gcc and make. When everything is there this is one dpkg-query
# call and prints nothing. When something is missing: as root it runs apt-get quietly (one
# line of output unless apt fails); otherwise it prints the one command to run and exits 1.
set -euo pipefail

usage() {
	echo "usage: $0 run|gdb|iso|test|fuzz|hostside|dpdk" >&2
	exit 2
}

[ $# -eq 1 ] || usage

run_pkgs=(qemu-system-x86 iproute2 netcat-openbsd)
iso_pkgs=("${run_pkgs[@]}" grub-pc-bin grub-common xorriso mtools)
# libclang-rt-dev holds libFuzzer; clang only recommends it, and we install without recommends.
test_pkgs=("${iso_pkgs[@]}" python3-pytest python3-pytest-xdist python3-scapy iproute2 tshark dnsmasq-base
	iputils-ping iputils-arping procps clang libclang-rt-dev cppcheck)

case "$1" in
run) pkgs=("${run_pkgs[@]}") ;;
gdb) pkgs=("${run_pkgs[@]}" gdb) ;;
iso) pkgs=("${iso_pkgs[@]}") ;;
test | fuzz) pkgs=("${test_pkgs[@]}") ;;
hostside) pkgs=("${test_pkgs[@]}" strace) ;;
dpdk) pkgs=(dpdk-dev) ;;
*) usage ;;
esac

# The build itself: checked by command rather than by package, so a compiler installed some
# other way (or a CROSS_COMPILE toolchain beside the host gcc) is accepted.
command -v gcc >/dev/null 2>&1 || pkgs+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || pkgs+=(make)

# One query for all packages; names dpkg has never heard of print nothing and count as missing.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${pkgs[@]}" 2>/dev/null |
	awk '$2 == "installed" { print $1 }' || true)
missing=()
for p in "${pkgs[@]}"; do
	grep -qxF -- "$p" <<<"$installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: '$1' needs Debian packages that are not installed: ${missing[*]}" >&2
	echo "deps: install them with this command, then run make again:" >&2
	echo "sudo apt-get install -y ${missing[*]}"
	exit 1
fi

echo "deps: installing ${missing[*]} (apt-get, quiet)"
log=$(mktemp /tmp/vnet-deps.XXXXXX)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "deps: apt-get failed installing: ${missing[*]} (its last lines are above)" >&2
	exit 1
fi
