#!/usr/bin/env bash
# tools/privnet.sh COMMAND [ARG...] - run COMMAND where it may make network namespaces and TAPs.
#
# The one way into a private network that `make test`, `make grade`, `make bench` and
# `make run NET=tap` share. It needs no root:
#
#   root          COMMAND runs as it is: `ip netns add`, TAP devices and ping work already.
#   not root      COMMAND runs inside a new user namespace (where we are uid 0 with no
#                 privilege outside it) with a network and a mount namespace of its own.
#                 A tmpfs over /run gives `ip netns add` a /run/netns to write, so the tests
#                 create their namespaces and TAPs exactly as they do as root. Nothing leaves
#                 it: its only network device is a loopback, and when COMMAND ends every
#                 namespace, TAP and address made inside it goes with it.
#   neither       (user namespaces disabled, as Ubuntu 24.04 does through AppArmor, or no
#                 usable /dev/net/tun): one message saying why and which setting enables
#                 them, then COMMAND runs without a TAP; the tests put the guest on a unix
#                 socket instead (tests/qemu/wire.py) and skip only what needs a kernel TAP.
#
# COMMAND learns the outcome from the environment:
#   VNET_NET=tap       TAP devices can be made here (root, or inside the user namespace)
#   VNET_NET=socket    they cannot; VNET_NET_WHY says why in one line
#   VNET_PRIVNET=root|userns|none   how we got here (userns: inside our own namespaces)
#   VNET_USERNS_PID=N  (userns only) the PID of COMMAND, which holds the namespaces: another
#                      terminal enters them with nsenter --target N --user --mount ...
# Set VNET_NET=socket before calling to force the socket wire (to test that path as root), or
# VNET_USERNS=1 to get a user namespace of its own even as root (or from inside another one).
# Called again from inside (VNET_PRIVNET already set), it just runs COMMAND.
set -euo pipefail

[ $# -ge 1 ] || {
	echo "usage: $0 COMMAND [ARG...]" >&2
	exit 2
}

say() { echo "privnet: $*" >&2; }

# Can a TAP be made here? (Run as uid 0 of wherever we are.) Prints why not.
tap_problem() {
	local err
	if [ ! -e /dev/net/tun ]; then
		echo "/dev/net/tun does not exist (load the tun module: sudo modprobe tun)"
	elif ! err=$(ip tuntap add dev vnetprobe0 mode tap 2>&1); then
		if [ ! -r /dev/net/tun ] || [ ! -w /dev/net/tun ]; then
			echo "/dev/net/tun is not open to this user ($(stat -c %A /dev/net/tun)); stock" \
				"Debian/Ubuntu make it crw-rw-rw- through udev: sudo chmod 0666 /dev/net/tun"
		else
			echo "creating a TAP device failed: $(echo "$err" | head -n1)"
		fi
	else
		ip tuntap del dev vnetprobe0 mode tap 2>/dev/null || true
	fi
}

# Why an unprivileged user namespace cannot be had, and the setting that allows it.
# (VNET_SYSCTL_DIR stands in for /proc/sys in tests/qemu/test_privnet.py.)
userns_problem() {
	local sys=${VNET_SYSCTL_DIR:-/proc/sys}
	# switched_off NAME VALUE-THAT-FORBIDS WHAT: the sysctl NAME holds that value
	switched_off() {
		local f=$sys/${1//.//}
		[ -r "$f" ] && [ "$(cat "$f")" = "$2" ] || return 1
		echo "$3 ($f = $2); allow them with: sudo sysctl -w $1=$4"
	}
	switched_off kernel.apparmor_restrict_unprivileged_userns 1 \
		"AppArmor restricts unprivileged user namespaces, as on Ubuntu 24.04" 0 ||
		switched_off kernel.unprivileged_userns_clone 0 "unprivileged user namespaces are disabled" 1 ||
		switched_off user.max_user_namespaces 0 "user namespaces are disabled" 16384 ||
		echo "an unprivileged user namespace could not be set up here: ${1:-unknown reason}"
}

# The socket wire: say why once, then run COMMAND without a TAP.
run_without_tap() {
	export VNET_NET=socket VNET_NET_WHY="$1" VNET_PRIVNET=${VNET_PRIVNET:-none}
	shift
	say "no TAP device can be made here: $VNET_NET_WHY"
	exec "$@"
}

# COMMAND with a TAP if one can be made here, else on the socket wire.
run_with_tap_if_possible() {
	local why
	why=$(tap_problem)
	[ -z "$why" ] || run_without_tap "$why" "$@"
	export VNET_NET=tap
	exec "$@"
}

# Second stage, inside the new namespaces: our own /run, a loopback, and a probe for TAPs.
# (VNET_NET=socket never gets here: it is honoured before any namespace is made.)
if [ "${1:-}" = --inside ]; then
	shift
	mount -t tmpfs -o mode=0755 vnet-run /run
	ip link set lo up
	export VNET_PRIVNET=userns VNET_USERNS_PID=$$
	unset VNET_USERNS # done: a nested call runs its command here
	run_with_tap_if_possible "$@"
fi

if [ -n "${VNET_PRIVNET:-}" ] && [ "${VNET_USERNS:-0}" != 1 ]; then # set up by an outer call
	exec "$@"
fi

if [ "${VNET_NET:-}" = socket ]; then
	export VNET_NET_WHY=${VNET_NET_WHY:-"VNET_NET=socket was asked for"} VNET_PRIVNET=none
	exec "$@"
fi

if [ "$(id -u)" = 0 ] && [ "${VNET_USERNS:-0}" != 1 ]; then
	export VNET_PRIVNET=root
	run_with_tap_if_possible "$@"
fi

command -v unshare >/dev/null || run_without_tap "unshare (util-linux) is not installed" "$@"
command -v ip >/dev/null || run_without_tap "ip (iproute2) is not installed" "$@"
# Try the whole set-up once, as the real run will do it, so a half-working namespace (AppArmor
# lets unshare create it but then denies the mount) counts as not working.
if ! err=$(unshare --user --map-root-user --net --mount \
	sh -c 'mount -t tmpfs vnet-run /run && ip link set lo up' 2>&1); then
	run_without_tap "$(userns_problem "$(echo "$err" | head -n1)")" "$@"
fi
exec unshare --user --map-root-user --net --mount "$0" --inside "$@"
