"""Network namespaces with a TAP device, for QEMU tests that put traffic on a wire.

Rule (see the README): test traffic only ever flows inside a namespace the test created,
between the guest and the test's own addresses there. Each NetNS is a fresh namespace with a
loopback and a TAP device "tap0" (the guest's wire); QEMU runs inside it (`ns.cmd_prefix()`),
and the test opens its sockets inside it with `with ns.entered(): socket.socket(...)`: a
socket keeps the namespace it was created in, so only the creation needs to happen inside.

Teardown deletes the namespace; processes started in it are the caller's to kill (by PID).
"""
import contextlib
import ctypes
import itertools
import os
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_counter = itertools.count()


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


class NetNS:
    def __init__(self, host_addr="10.0.2.2/24", tap="tap0", mtu=None):
        self.name = "vnet-%d-%d" % (os.getpid(), next(_counter))
        self.tap = tap
        _ip("netns", "add", self.name)
        try:
            self.run(["ip", "link", "set", "lo", "up"])
            self.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"])
            if mtu:
                self.run(["ip", "link", "set", tap, "mtu", str(mtu)])
            # No IPv6 on the test wire: router/neighbour solicitations would be stray frames.
            self.run(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % tap])
            if host_addr:
                self.run(["ip", "addr", "add", host_addr, "dev", tap])
            self.run(["ip", "link", "set", tap, "up"])
        except Exception:
            self.close()
            raise

    def cmd_prefix(self):
        return ["ip", "netns", "exec", self.name]

    def run(self, cmd, check=True, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.cmd_prefix() + list(cmd), check=check, **kw)

    def popen(self, cmd, **kw):
        return subprocess.Popen(self.cmd_prefix() + list(cmd), **kw)

    @contextlib.contextmanager
    def entered(self):
        """Run the body with this thread inside the namespace (for creating sockets)."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open("/var/run/netns/" + self.name, os.O_RDONLY)
        try:
            _setns(there)
            try:
                yield self
            finally:
                _setns(here)
        finally:
            os.close(here)
            os.close(there)

    def neigh_permanent(self, ip, mac):
        self.run(["ip", "neigh", "replace", ip, "lladdr", mac, "dev", self.tap, "nud", "permanent"])

    def close(self):
        _ip("netns", "delete", self.name, check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
