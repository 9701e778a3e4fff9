#!/usr/bin/env bash
# tools/run.sh - boot the kernel in QEMU with the serial console on this terminal.
#
# Settings come from the environment (make passes its command-line variables through):
#   CMDLINE="k=v ..."  kernel command line (-append), e.g. CMDLINE="exit=3"
#   MEM=128            guest memory in MiB
#   MACHINE=pc         pc (i440FX) or q35
#   ACCEL=tcg          tcg, or kvm where /dev/kvm is usable
#   NET=user           user: virtio-net-pci on QEMU's user-mode network; none: no NIC
#   ISO=1              boot build/kernel.iso through GRUB instead of -kernel (CMDLINE unused)
#   KERNEL=build/kernel.elf
#   QEMU=qemu-system-x86_64   QEMU_ARGS="..."  extra QEMU arguments (split on spaces)
#   GDB=1              start QEMU halted (-S) with a gdb stub on GDB_PORT (1234), and run gdb
#                      against it; the serial console then goes to a socket and a log file
#   GDB_ARGS="..."     extra gdb arguments, e.g. GDB_ARGS="-ex 'hbreak kmain' -ex continue"
#
# The guest's `exit N` leaves QEMU with status 2N+1 (isa-debug-exit); that is a normal end and
# this script returns 0. A fault or panic ends with status 33 (guest code 16), returned as is.
# shellcheck disable=SC2054 # commas inside QEMU's option values, not array separators
set -euo pipefail
cd "$(dirname "$0")/.."

KERNEL=${KERNEL:-build/kernel.elf}
ISO_IMAGE=${ISO_IMAGE:-build/kernel.iso}
QEMU=${QEMU:-qemu-system-x86_64}
CMDLINE=${CMDLINE:-}
MEM=${MEM:-128}
MACHINE=${MACHINE:-pc}
ACCEL=${ACCEL:-tcg}
NET=${NET:-user}
GDB=${GDB:-0}
GDB_PORT=${GDB_PORT:-1234}

die() {
	echo "run: $*" >&2
	exit 1
}

case "$MACHINE" in pc | q35) ;; *) die "MACHINE=$MACHINE: expected pc or q35" ;; esac
case "$ACCEL" in
tcg) ;;
kvm) if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	die "ACCEL=kvm but /dev/kvm is not usable here; use ACCEL=tcg"
fi ;;
*) die "ACCEL=$ACCEL: expected tcg or kvm" ;;
esac
[[ "$MEM" =~ ^[0-9]+$ ]] || die "MEM=$MEM: expected a size in MiB"
command -v "$QEMU" >/dev/null || die "$QEMU not found: run tools/deps.sh run"

args=(-machine "$MACHINE" -accel "$ACCEL" -m "$MEM" -display none -no-reboot
	-device isa-debug-exit,iobase=0xf4,iosize=0x04)
[ "$ACCEL" = kvm ] && args+=(-cpu host)

if [ "${ISO:-0}" = 1 ]; then
	[ -f "$ISO_IMAGE" ] || die "$ISO_IMAGE not found: run 'make iso' first"
	[ -z "$CMDLINE" ] || echo "run: note: CMDLINE is ignored when booting the ISO (boot/grub.cfg sets it)" >&2
	args+=(-cdrom "$ISO_IMAGE" -boot d)
	what=$ISO_IMAGE
else
	[ -f "$KERNEL" ] || die "$KERNEL not found: run 'make' first"
	args+=(-kernel "$KERNEL")
	[ -n "$CMDLINE" ] && args+=(-append "$CMDLINE")
	what=$KERNEL
fi

case "$NET" in
user) args+=(-netdev user,id=n0 -device virtio-net-pci,netdev=n0) ;;
none) ;;
*) die "NET=$NET: expected user or none" ;;
esac

# shellcheck disable=SC2206 # QEMU_ARGS is deliberately split into words
[ -n "${QEMU_ARGS:-}" ] && args+=(${QEMU_ARGS})

describe="$MACHINE, $ACCEL, $MEM MiB, net $NET${CMDLINE:+, cmdline \"$CMDLINE\"}"

if [ "$GDB" != 1 ]; then
	echo "run: booting $what in QEMU ($describe)"
	echo "run: quit with Ctrl-A x, or 'exit' at the vnet> prompt; Ctrl-A c switches to the QEMU monitor"
	status=0
	"$QEMU" "${args[@]}" -serial mon:stdio || status=$?
	case "$status" in
	0) echo "run: QEMU stopped (status 0)" ;;
	33) echo "run: the guest stopped on a fault or panic (QEMU status 33 = guest code 16)" >&2
		exit 33 ;;
	*)
		if [ $((status % 2)) -eq 1 ] && [ "$status" -lt 256 ]; then
			echo "run: guest exit code $(((status - 1) / 2)) (QEMU status $status)"
		else
			echo "run: QEMU failed with status $status" >&2
			exit "$status"
		fi
		;;
	esac
	exit 0
fi

# ---- GDB=1: QEMU halted in the background, gdb in the foreground ----------------------------
command -v gdb >/dev/null || die "gdb not found: run tools/deps.sh gdb"
# Is something listening on GDB_PORT? (/proc/net/tcp: local address, state 0A = LISTEN)
port_listening() {
	grep -qi ":$(printf '%04X' "$GDB_PORT") [0-9A-F:]* 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
port_listening && die "port $GDB_PORT is already in use: pick another with GDB_PORT=..."
mkdir -p build
sock=build/serial.sock
log=build/serial.log
rm -f "$sock"
: >"$log"
echo "run: QEMU halted at the first instruction, gdb stub on :$GDB_PORT ($describe)"
echo "run: serial console: tail -f $log (read) or socat -,raw,echo=0 UNIX-CONNECT:$sock (type); QEMU stops when gdb exits"
# setsid: QEMU gets its own session, so the Ctrl-C that interrupts the target in gdb does not
# reach QEMU (which would quit on SIGINT). It execs in place, so $! is QEMU's PID.
setsid "$QEMU" "${args[@]}" -S -gdb "tcp::$GDB_PORT" \
	-chardev "socket,id=ser0,path=$sock,server=on,wait=off,logfile=$log" -serial chardev:ser0 \
	-monitor none </dev/null &
qemu_pid=$!
# shellcheck disable=SC2317 # called by the EXIT trap
stop_qemu() {
	if kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	rm -f "$sock"
}
trap stop_qemu EXIT
trap 'exit 143' TERM HUP
trap ':' INT # Ctrl-C belongs to gdb; this script keeps waiting for it

# Wait for the stub to listen rather than racing gdb against QEMU's start-up.
for _ in $(seq 100); do
	kill -0 "$qemu_pid" 2>/dev/null || die "QEMU exited before gdb could attach"
	port_listening && break
	sleep 0.1
done

gdb_status=0
# shellcheck disable=SC2086 # GDB_ARGS is evaluated so that quoted -ex arguments survive
eval gdb -q "$KERNEL" -ex "'set architecture i386:x86-64'" -ex "'target remote :$GDB_PORT'" \
	"${GDB_ARGS:-}" || gdb_status=$?
exit "$gdb_status"
