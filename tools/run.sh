#!/usr/bin/env bash
# tools/run.sh - boot the kernel in QEMU with the serial console on this terminal.
#
# Settings come from the environment (make passes its command-line variables through):
#   CMDLINE="k=v ..."  kernel command line (-append), e.g. CMDLINE="exit=3"
#   MEM=128            guest memory in MiB
#   MACHINE=pc         pc (i440FX) or q35
#   ACCEL=tcg          tcg, or kvm where /dev/kvm is usable
#   NET=tap            the default: virtio-net-pci on a TAP inside a network namespace made for
#                      this run (host side 10.0.2.2/24, the guest 10.0.2.15), deleted when QEMU
#                      ends; the script prints how to reach the guest from another terminal.
#                      Without root the namespace lives inside a user namespace of the run's
#                      own (tools/privnet.sh): no privilege needed where the system allows
#                      unprivileged user namespaces
#   NET=user           the default where no TAP can be made: QEMU's user-mode network, the guest
#                      takes its address by DHCP (ip=dhcp unless CMDLINE sets ip=); none: no NIC
#   GUESTS=2           two guests joined by a link of their own (docs/backends.md): 10.0.3.1 and
#                      10.0.3.2, MACs 52:54:00:00:03:01/02, CMDLINE added to both. Both consoles
#                      in tmux panes when tmux is there, else guest 1 here and guest 2 in the
#                      background (console in build/run2/guest2.log). No root, no IP socket:
#                      the link is -netdev dgram on two unix sockets in build/run2.
#   ISO=1              boot build/kernel.iso through GRUB instead of -kernel (CMDLINE unused)
#   KERNEL=build/kernel.elf
#   QEMU=qemu-system-x86_64   QEMU_ARGS="..."  extra QEMU arguments (split on spaces)
#   GDB=1              start QEMU halted (-S) with a gdb stub on GDB_PORT (1234), and run gdb
#                      against it; the serial console then goes to a socket and a log file
#   GDB_ARGS="..."     extra gdb arguments, e.g. GDB_ARGS="-ex 'hbreak kmain' -ex continue"
#   TRACE=1            trace=1 on the kernel command line (the guest's data-path trace), the
#                      console also copied to build/trace/guest.log, and QEMU's virtio_* and
#                      virtqueue_* trace events into build/trace/qemu.log (docs/data-path.md)
#   PCAP=file.pcap     record every frame of the NIC (QEMU filter-dump) for Wireshark/tshark
#   INCOMING=file      take the guest from a state file written by the monitor's
#                      migrate "exec:cat > file" (QEMU -incoming): the saved guest runs on here,
#                      and announces itself on its new wire (docs/migration.md). Same MACHINE,
#                      MEM, NET and kernel as the run that saved it.
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
# NET=tap (asked for, or the default with one guest) goes through tools/privnet.sh, which gives
# a user namespace when not root and says in VNET_NET whether a TAP can be made at all.
NET_ASKED=${NET_ASKED:-${NET:-}}
NET=${NET:-tap} # GUESTS=2 makes it NET=pair below
if [ "$NET" = tap ] && [ "${GUESTS:-1}" = 1 ] && { [ -z "${VNET_PRIVNET:-}" ] || [ "${VNET_USERNS:-0}" = 1 ]; }; then
	NET_ASKED=$NET_ASKED exec tools/privnet.sh "$PWD/tools/run.sh"
fi
if [ "$NET" = tap ] && [ "${VNET_NET:-tap}" != tap ]; then
	[ -z "$NET_ASKED" ] || { echo "run: NET=tap: no TAP device can be made here: ${VNET_NET_WHY:-}" >&2; exit 1; }
	echo "run: no TAP device here, so QEMU's user-mode network instead (NET=user)" >&2
	NET=user
fi
GDB=${GDB:-0}
GDB_PORT=${GDB_PORT:-1234}
GUESTS=${GUESTS:-1}
# Internal, set by GUESTS=2 for each guest it starts: NET=pair GUEST=1|2, CONSOLE_LOG (a copy
# of this terminal's console), RUN2_HOLD=1 (a tmux pane waits for Enter before closing).
GUEST=${GUEST:-0}
CONSOLE_LOG=${CONSOLE_LOG:-}
RUN2_DIR=${RUN2_DIR:-build/run2} # GUESTS=2's sockets and logs (the tests use a directory of their own)

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
case "$GUESTS" in 1 | 2) ;; *) die "GUESTS=$GUESTS: expected 1 or 2" ;; esac
case "$NET" in
user | tap | none) ;;
pair) case "$GUEST" in 1 | 2) ;; *) die "NET=pair is one end of GUESTS=2's link: use GUESTS=2" ;; esac ;;
*) die "NET=$NET: expected tap, user or none" ;;
esac
if [ "$GUESTS" = 2 ]; then
	[ "$GDB" != 1 ] || die "GDB=1 takes one guest; leave out GUESTS=2"
	[ "${ISO:-0}" != 1 ] || die "GUESTS=2 sets each guest's address on its command line: leave out ISO=1"
	NET=pair
fi

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
	what=$KERNEL
fi

# shellcheck disable=SC2206 # QEMU_ARGS is deliberately split into words
[ -n "${QEMU_ARGS:-}" ] && args+=(${QEMU_ARGS})
if [ -n "${INCOMING:-}" ]; then
	[ -f "$INCOMING" ] || die "INCOMING=$INCOMING: no such state file (the monitor's migrate \"exec:cat > FILE\" writes one)"
	args+=(-incoming "exec:cat $(printf %q "$INCOMING")")
fi

# TRACE=1 / PCAP=: the guest's trace and QEMU's side of the same story (docs/data-path.md).
if [ "${TRACE:-0}" = 1 ] || [ -n "${PCAP:-}" ]; then
	[ "$GUESTS" = 1 ] || die "TRACE=1 and PCAP= take one guest: leave out GUESTS=2"
fi
if [ "${TRACE:-0}" = 1 ]; then
	mkdir -p build/trace
	: >build/trace/qemu.log
	CMDLINE="${CMDLINE:+$CMDLINE }trace=1"
	CONSOLE_LOG=build/trace/guest.log
	args+=(-D build/trace/qemu.log -msg timestamp=on -trace 'virtio_*' -trace 'virtqueue_*')
	echo "run: TRACE=1: guest trace in the console and build/trace/guest.log, QEMU's in build/trace/qemu.log"
fi
if [ -n "${PCAP:-}" ]; then
	[ "$NET" != none ] || die "PCAP= needs a NIC: leave out NET=none"
	args+=(-object "filter-dump,id=cap0,netdev=n0,file=$PCAP")
	echo "run: recording the NIC's frames in $PCAP (open with wireshark or tshark -r)"
fi

# Guest N (1 or 2) of GUESTS=2: 10.0.3.N/24, MAC 52:54:00:00:03:0N. Its NIC's peer is a dgram
# netdev that sends every frame to the other guest's unix socket and receives on its own.
pair_args() {
	local n=$1 other=$((3 - $1))
	pair=(-netdev "dgram,id=n0,local.type=unix,local.path=$RUN2_DIR/guest$n.sock,remote.type=unix,remote.path=$RUN2_DIR/guest$other.sock"
		-device "virtio-net-pci,netdev=n0,mac=52:54:00:00:03:0$n"
		-append "ip=10.0.3.$n/24 gw=none${CMDLINE:+ $CMDLINE}")
}

# GUESTS=2 with tmux on a terminal: one pane per guest, each this script with NET=pair.
run_in_tmux() {
	local env=(env GUESTS=1 NET=pair RUN2_HOLD=1 "CMDLINE=$CMDLINE" "MEM=$MEM" "MACHINE=$MACHINE"
		"ACCEL=$ACCEL" "KERNEL=$KERNEL" "QEMU=$QEMU" "QEMU_ARGS=${QEMU_ARGS:-}" "RUN2_DIR=$RUN2_DIR")
	local one=(-c "$PWD" "${env[@]}" GUEST=1 tools/run.sh) two=(-c "$PWD" "${env[@]}" GUEST=2 tools/run.sh)
	echo "run: two guests in tmux: 10.0.3.1 (left) and 10.0.3.2 (right); Ctrl-B o switches pane"
	if [ -n "${TMUX:-}" ]; then # already inside tmux: a new window of this session
		tmux new-window -n vnet-2 "${one[@]}" \; split-window -h "${two[@]}"
	else
		tmux new-session -s "vnet-2-$$" -n vnet-2 "${one[@]}" \; split-window -h "${two[@]}"
	fi
}

# GUESTS=2 without tmux: guest 2 in the background, its console on a socket and in a log.
start_guest2() {
	pair_args 2
	# setsid: Ctrl-C at guest 1 does not reach it; setpriv: it gets SIGTERM should this script
	# die without running its EXIT trap. Both exec in place, so $! is QEMU's PID.
	local deathsig=()
	command -v setpriv >/dev/null && deathsig=(setpriv --pdeathsig TERM --)
	setsid "${deathsig[@]}" "$QEMU" "${args[@]}" "${pair[@]}" -monitor none \
		-chardev "socket,id=ser0,path=$RUN2_DIR/guest2.console,server=on,wait=off,logfile=$RUN2_DIR/guest2.log" \
		-serial chardev:ser0 </dev/null >"$RUN2_DIR/guest2.qemu.log" 2>&1 &
	guest2_pid=$!
	# shellcheck disable=SC2317 # called by the EXIT trap
	stop_guest2() {
		if kill -0 "$guest2_pid" 2>/dev/null; then
			echo "run: stopping guest 2 (PID $guest2_pid)" >&2 || true
			kill "$guest2_pid" 2>/dev/null || true
			wait "$guest2_pid" 2>/dev/null || true
		fi
	}
	trap stop_guest2 EXIT
	trap 'exit 130' INT
	trap 'exit 141' PIPE
	trap 'exit 143' TERM HUP
	cat <<EOF
run: two guests on one link (-netdev dgram over the unix sockets in $RUN2_DIR), tmux not used:
run:   guest 1  10.0.3.1  52:54:00:00:03:01  on this terminal (console copied to $RUN2_DIR/guest1.log)
run:   guest 2  10.0.3.2  52:54:00:00:03:02  in the background, PID $guest2_pid
run:   watch guest 2:     tail -f $RUN2_DIR/guest2.log
run:   type at guest 2:   socat -,raw,echo=0 UNIX-CONNECT:$RUN2_DIR/guest2.console
run:   try on guest 1:    ping 10.0.3.2    udpsend 10.0.3.2 7 hello    (then 'inetstat' on guest 2)
run: guest 2 stops when guest 1 does. With tmux installed, both consoles open side by side.
EOF
	GUEST=1
	CONSOLE_LOG=$RUN2_DIR/guest1.log
}

if [ "$GUESTS" = 2 ]; then
	mkdir -p "$RUN2_DIR"
	rm -f "$RUN2_DIR"/guest[12].sock "$RUN2_DIR"/guest2.console
	if command -v tmux >/dev/null && [ -t 0 ] && [ -t 1 ]; then
		run_in_tmux
		exit 0
	fi
	start_guest2
fi

# NET=tap: a namespace of this run's own holds the TAP; QEMU runs inside it (qemu_prefix), and
# nothing else is in it, so the guest's traffic never leaves it.
qemu_prefix=()
setup_tap_netns() {
	RUN_NS=vnet-run-$$
	ip netns add "$RUN_NS" || die "cannot create network namespace $RUN_NS (or use NET=user)"
	# shellcheck disable=SC2317 # called by the EXIT trap
	drop_netns() { ip netns delete "$RUN_NS" 2>/dev/null || true; }
	trap drop_netns EXIT
	ip netns exec "$RUN_NS" ip link set lo up
	ip netns exec "$RUN_NS" ip tuntap add dev tap0 mode tap
	ip netns exec "$RUN_NS" ip addr add 10.0.2.2/24 dev tap0
	ip netns exec "$RUN_NS" ip link set tap0 up
	qemu_prefix=(ip netns exec "$RUN_NS")
	# How another terminal gets in: as root directly; when tools/privnet.sh made a user
	# namespace for this run, through it and the mount namespace beside it (this script's PID
	# names them; /run/netns/$RUN_NS exists only there).
	reach=(ip netns exec "$RUN_NS")
	where=""
	if [ "${VNET_PRIVNET:-}" = userns ] && [ "${VNET_USERNS_PID:-}" = $$ ]; then
		reach=(nsenter --target $$ --user --mount --preserve-credentials "${reach[@]}")
		where=", inside a user namespace of its own (no root needed)"
	fi
}

case "$NET" in
user)
	args+=(-netdev user,id=n0 -device virtio-net-pci,netdev=n0)
	[[ " $CMDLINE " == *" ip="* ]] || CMDLINE="${CMDLINE:+$CMDLINE }ip=dhcp"
	;;
tap)
	setup_tap_netns
	args+=(-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0)
	;;
pair)
	pair_args "$GUEST"
	args+=("${pair[@]}")
	if [ "${RUN2_HOLD:-0}" = 1 ]; then # a tmux pane: keep the last lines readable
		# shellcheck disable=SC2317 # called by the EXIT trap
		hold() {
			printf 'run: guest %s has stopped; press Enter to close this pane ' "$GUEST"
			read -r _ || true
		}
		trap hold EXIT
	fi
	;;
esac
[ "$NET" != pair ] && [ "${ISO:-0}" != 1 ] && [ -n "$CMDLINE" ] && args+=(-append "$CMDLINE")

describe="$MACHINE, $ACCEL, $MEM MiB, net $NET"
if [ "$NET" = pair ]; then
	describe+=", guest $GUEST of 2: 10.0.3.$GUEST, cmdline \"${pair[-1]}\""
else
	describe+="${CMDLINE:+, cmdline \"$CMDLINE\"}"
fi

if [ "$GDB" != 1 ]; then
	echo "run: booting $what in QEMU ($describe)"
	echo "run: quit with Ctrl-A x, or 'exit' at the vnet> prompt; Ctrl-A c switches to the QEMU monitor"
	[ -n "${INCOMING:-}" ] && echo "run: the guest comes from $INCOMING and runs on where it was saved (press Enter for a prompt)"
	if [ "$NET" = tap ]; then
		echo "run: the guest is 10.0.2.15 on tap0 in network namespace $RUN_NS (host side 10.0.2.2)$where; from another terminal:"
		echo "run:   ${reach[*]} ping 10.0.2.15                   (ICMP echo)"
		echo "run:   ${reach[*]} nc -u 10.0.2.15 7                (UDP echo: type lines)"
		echo "run:   ${reach[*]} nc -u 10.0.2.15 9 </dev/null     (UDP discard)"
	fi
	status=0
	if [ -n "$CONSOLE_LOG" ]; then # what -serial mon:stdio is, plus a copy in a file
		console=(-chardev "stdio,id=con0,mux=on,logfile=$CONSOLE_LOG" -serial chardev:con0 -mon chardev=con0)
	else
		console=(-serial mon:stdio)
	fi
	"${qemu_prefix[@]}" "$QEMU" "${args[@]}" "${console[@]}" || status=$?
	[ -z "${PCAP:-}" ] || [ ! -f "$PCAP" ] || /usr/bin/python3 tools/lab/pcapfix.py "$PCAP" || true
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
# Is something listening on GDB_PORT in QEMU's network namespace? (/proc/net/tcp: local
# address, state 0A = LISTEN). gdb runs in that namespace too, so the stub is on its loopback.
port_listening() {
	"${qemu_prefix[@]}" cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		grep -qi ":$(printf '%04X' "$GDB_PORT") [0-9A-F:]* 0A "
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
setsid "${qemu_prefix[@]}" "$QEMU" "${args[@]}" -S -gdb "tcp::$GDB_PORT" \
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
	if declare -F drop_netns >/dev/null; then drop_netns; fi
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
eval "${qemu_prefix[*]}" gdb -q "$KERNEL" -ex "'set architecture i386:x86-64'" -ex "'target remote :$GDB_PORT'" \
	"${GDB_ARGS:-}" || gdb_status=$?
exit "$gdb_status"
