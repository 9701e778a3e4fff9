"""
tests/qemu/topology.py - guests wired together by QEMU's network backends (test_backends.py).

A topology is a Net. Guests are numbered: guest n has the address 10.0.3.n/24 (no gateway)
and the MAC 52:54:00:00:03:<n>, both from its command line, so every guest on a wire is
distinct. The host side of the wire, when a test wants one, is 10.0.3.100. Where it lives
depends on the wire this run has (tests/qemu/wire.py, decided by tools/privnet.sh):

  VNET_NET=tap     every topology lives in a network namespace of its own (tests/qemu/netns.py
                   NetNS): QEMU runs inside it, socket backends bind 127.0.0.1 there (ports
                   belong to the namespace, so fixed numbers cannot clash with anything), the
                   host side is the TAP device tap0 with the namespace's kernel behind it
                   (ping), a capture is dumpcap on tap0, and deleting the namespace ends every
                   link.
  VNET_NET=socket  no namespace can be made, so no IP socket is opened at all: `stream` and
                   `dgram` use unix socket paths in a directory of the Net's own (a "port" is
                   a file name there), the old `socket` backend gets one end of a socketpair as
                   fd 3 (FdHandoff), and the host side is the test itself (fakehost.FakeHost:
                   answers ARP and ping for 10.0.3.100, pings the guests) on a unix-socket
                   wire (wire.SocketLink) or on a socketpair (FdLink) where the option cannot
                   spell a dgram backend (-nic, -net). A capture is QEMU's filter-dump object on the
                   host side's netdev. Deleting the directory ends every link.

The -netdev strings below are QEMU 7.2's spellings. 7.2 has both the new `stream`/`dgram`
backends (QAPI socket addresses) and the older `socket` one; a `stream` client that finds no
listener gives up for good ("connection error" in `info network`; reconnect= came in 8.0), so
a listener is started, and seen to be up, before its client.
"""
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from counters import inetstat
from guest import nic
from netns import NetNS
from wire import SocketLink, have_tap

LOOPBACK = "127.0.0.1"
HOST_IP = "10.0.3.100"
READY_RE = r"(?:^|vnet> )net: ready ip=%s mac=%s$"


def guest_ip(n):
    return "10.0.3.%d" % n


def guest_mac(n):
    return "52:54:00:00:03:%02x" % n


# ---- -netdev values ------------------------------------------------------------------------
def stream(nid, port, server):
    """TCP stream on 127.0.0.1 (QEMU >= 7.2): one listener, one client."""
    return (f"stream,id={nid},server={'on' if server else 'off'},"
            f"addr.type=inet,addr.host={LOOPBACK},addr.port={port}")


def dgram(nid, port, peer_port):
    """UDP datagrams from 127.0.0.1:port to 127.0.0.1:peer_port (QEMU >= 7.2)."""
    return (f"dgram,id={nid},local.type=inet,local.host={LOOPBACK},local.port={port},"
            f"remote.type=inet,remote.host={LOOPBACK},remote.port={peer_port}")


def socket_tcp(nid, port, server):
    """The older socket backend: listen= on one side, connect= on the other."""
    return f"socket,id={nid},{'listen' if server else 'connect'}={LOOPBACK}:{port}"


def socket_udp(nid, port, peer_port):
    """The older socket backend's unicast UDP form."""
    return f"socket,id={nid},udp={LOOPBACK}:{peer_port},localaddr={LOOPBACK}:{port}"


def tap(nid, ifname):
    # vnet_hdr=off: the capture on the TAP shows plain Ethernet frames
    return f"tap,id={nid},ifname={ifname},script=no,downscript=no,vnet_hdr=off"


def hubport(nid, hubid, netdev=None):
    """A port of hub <hubid> in this QEMU; netdev= plugs another backend into it."""
    return f"hubport,id={nid},hubid={hubid}" + (f",netdev={netdev}" if netdev else "")


# Point-to-point links between two QEMU processes: kind -> (A's end, B's end, B needs A up).
def link(kind, nid, port_a, port_b):
    if kind == "stream":
        return stream(nid, port_a, True), stream(nid, port_a, False), True
    if kind == "dgram":
        return dgram(nid, port_a, port_b), dgram(nid, port_b, port_a), False
    if kind == "socket":
        return socket_tcp(nid, port_a, True), socket_tcp(nid, port_a, False), True
    if kind == "socket-udp":
        return socket_udp(nid, port_a, port_b), socket_udp(nid, port_b, port_a), False
    raise ValueError(kind)


LINK_KINDS = ("stream", "dgram", "socket", "socket-udp")


# ---- guests --------------------------------------------------------------------------------
class Node:
    """One guest of a topology: the Guest (tests/qemu/guest.py), its number, address, MAC."""

    def __init__(self, g, n):
        self.g, self.n, self.ip, self.mac = g, n, guest_ip(n), guest_mac(n)

    def __repr__(self):
        return f"guest {self.n} ({self.ip})"


class Passed(str):
    """A QEMU option value that names fd=PASSED_FD: the socket that must be that descriptor
    in the QEMU process travels with it (Net.start hands it over through an FdHandoff)."""

    def __new__(cls, text, sock):
        obj = super().__new__(cls, text)
        obj.sock = sock
        return obj


PASSED_FD = 3
# The command QEMU is started through when it gets a socket (FdHandoff): receive one
# descriptor over a unix socket, make it fd N, exec the rest (same PID, so the guest is still
# killed by PID). Bounded: it gives up after 60 s without a descriptor.
FD_WRAPPER = """
import os, socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.settimeout(60)
c.connect(sys.argv[1])
_, fds, _, _ = socket.recv_fds(c, 16, 1)
fd = int(sys.argv[2])
if fds[0] != fd:
    os.dup2(fds[0], fd)
os.set_inheritable(fd, True)
os.execvp(sys.argv[3], sys.argv[3:])
"""


class FdHandoff:
    """Gives one QEMU a socket as fd PASSED_FD: boot(netns=handoff) starts QEMU through
    FD_WRAPPER (cmd_prefix), then hand(sock) sends the descriptor over a unix socket."""

    def __init__(self, path):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.listener.settimeout(30)

    def cmd_prefix(self):
        return [sys.executable, "-c", FD_WRAPPER, self.path, str(PASSED_FD)]

    def hand(self, sock):
        conn, _ = self.listener.accept()
        with conn:
            socket.send_fds(conn, [b"fd"], [sock.fileno()])

    def close(self):
        self.listener.close()


class FdLink(SocketLink):
    """The test's end of a datagram socketpair whose other end QEMU has as fd 3
    (`socket,fd=3`): one datagram per frame, as on wire.SocketLink."""

    def __init__(self):  # none of SocketLink's paths: QEMU has the other end already
        self.dir = None
        self.sock, self.qemu_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.settimeout(10)
        self.counts = self.new_counts()

    def netdev_value(self, text):
        return Passed(text, self.qemu_end)

    def send(self, frame):
        self.sock.send(frame)
        self.counts["to_guest"] += 1

    def close(self):
        self.qemu_end.close()
        self.sock.close()


class Net:
    """A topology: the guests booted through the conftest `boot` fixture, the links between
    them, the host side of the wire and captures on it. On the TAP wire it is a namespace with
    tap0 in it (the host side at host_addr, or without an address); on the socket wire a
    directory of unix sockets and, once a test asks for the host side, a fakehost.FakeHost
    (answering at host_addr's address, or silent without one). close() stops the captures, kills the
    guests by PID and deletes the namespace or the directory."""

    def __init__(self, boot, host_addr=None):
        self.boot = boot
        self.tap = have_tap()
        self.host_addr = host_addr
        self.ns = NetNS(host_addr=host_addr) if self.tap else None
        self.dir = None if self.tap else tempfile.mkdtemp(prefix="vnet-topo-")
        self.nodes = []
        self.captures = []
        self.hosts = []  # fakehost.FakeHosts on the socket wire
        self.passed = []  # sockets handed to QEMUs, closed here at the end
        self.host_nid = None

    # -- -netdev values for links between guests: inet in the namespace, or unix paths
    def _path(self, port, kind):
        return os.path.join(self.dir, f"{port}.{kind}")

    def stream(self, nid, port, server):
        if self.tap:
            return stream(nid, port, server)
        return (f"stream,id={nid},server={'on' if server else 'off'},"
                f"addr.type=unix,addr.path={self._path(port, 'stream')}")

    def dgram(self, nid, port, peer_port):
        if self.tap:
            return dgram(nid, port, peer_port)
        return (f"dgram,id={nid},local.type=unix,local.path={self._path(port, 'dgram')},"
                f"remote.type=unix,remote.path={self._path(peer_port, 'dgram')}")

    def link(self, kind, nid, port_a, port_b):
        """(A's end, B's end, B needs A up) for a point-to-point link of this kind."""
        if kind == "stream":
            return self.stream(nid, port_a, True), self.stream(nid, port_a, False), True
        if kind == "dgram":
            return self.dgram(nid, port_a, port_b), self.dgram(nid, port_b, port_a), False
        if self.tap:
            return link(kind, nid, port_a, port_b)
        # The old socket backend only speaks IPv4 (listen=, connect=, udp=) or takes a
        # connected socket as fd=: each QEMU gets one end of a socketpair, a stream one for
        # `socket` (QEMU frames it with a length word) and a datagram one for `socket-udp`.
        kinds = {"socket": socket.SOCK_STREAM, "socket-udp": socket.SOCK_DGRAM}
        a, b = socket.socketpair(socket.AF_UNIX, kinds[kind])
        self.passed += [a, b]
        value = f"socket,id={nid},fd={PASSED_FD}"
        return Passed(value, a), Passed(value, b), False

    # -- the host side of the wire
    def host_port(self, nid):
        """The -netdev value that puts the host side of the wire on netdev nid: the TAP, or
        a unix-socket wire with a FakeHost at its other end."""
        self.host_nid = nid
        if self.tap:
            return tap(nid, self.ns.tap)
        sl = SocketLink()
        self._fake_host(sl)
        return sl.netdev(nid)

    def host_fd(self):
        """The socket wire's host side as one end of a socketpair, for the -nic and -net
        spellings (which take no dgram backend in QEMU 7.2): returns the FdLink, whose
        netdev_value(text) marks an option that names fd=3."""
        fl = FdLink()
        self._fake_host(fl)
        return fl

    def _fake_host(self, link):
        from fakehost import FakeHost  # scapy: only the socket wire needs it
        ip = str(ipaddress.ip_interface(self.host_addr).ip) if self.host_addr else None
        self.hosts.append(FakeHost(link, ip))

    def start(self, n, netdev=(), devices=None, extra=(), append=""):
        """Boot guest n. devices defaults to one virtio-net-pci on the netdev "n0" with the
        guest's MAC; give [] for the -net/-nic forms, which bring their own NIC. A Passed
        value in netdev or extra makes QEMU start with its socket as fd 3."""
        if devices is None:
            devices = [nic(addr=None, mac=guest_mac(n))]
        extra = list(extra)
        ids = [re.search(r"(?:^|,)id=([^,]+)", v).group(1) for v in netdev if "id=" in v]
        if not self.tap and self.host_nid in ids:
            for i, cap in enumerate(c for c in self.captures if isinstance(c, DumpCapture)):
                extra += ["-object", f"filter-dump,id=cap{i},netdev={self.host_nid},file={cap.path}"]
        passed = [v.sock for v in [*netdev, *extra] if isinstance(v, Passed)]
        assert len(passed) <= 1, "one passed socket per QEMU"
        handoff = FdHandoff(self._path(f"fd-{n}-{len(self.nodes)}", "sock")) if passed else None
        try:
            g = self.boot(append=f"ip={guest_ip(n)}/24 gw=none {append}".strip(), devices=devices,
                          netdev=list(netdev), extra=extra, netns=handoff or self.ns)
            if handoff:
                handoff.hand(passed[0])
        finally:
            if handoff:
                handoff.close()
        node = Node(g, n)
        self.nodes.append(node)
        return node

    def capture(self, path):
        """Record the host side of the wire into a pcap: dumpcap on the TAP, or QEMU's
        filter-dump on the host side's netdev (ask before booting the guest that has it)."""
        cap = Capture(self.ns, self.ns.tap, path) if self.tap else DumpCapture(path)
        self.captures.append(cap)
        return cap

    def host_ping(self, ip, count=3):
        """The host side pings ip; assert every echo came back."""
        if not self.tap:
            assert self.hosts, "no host side on this topology"
            r = self.hosts[0].ping(ip, count)
            assert r.received == count and not r.errors, r.text
            return r.text
        r = self.ns.run(["ping", "-n", "-c", str(count), "-i", "0.2", "-W", "2", ip],
                        check=False, timeout=30)
        assert r.returncode == 0 and f"{count} received, 0% packet loss" in r.stdout, \
            r.stdout + r.stderr
        return r.stdout

    def close(self):
        for cap in self.captures:
            cap.stop()
        for node in self.nodes:
            node.g.kill()
        for host in self.hosts:
            host.close()
        for sock in self.passed:
            sock.close()
        if self.ns:
            self.ns.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def netdevs_up(node):
    """Return QEMU's `info network`. Once the monitor answers, QEMU has created every netdev
    (they come before the main loop), so a listener in it is up."""
    return node.g.monitor("info network")


def wait_up(*nodes, timeout=60):
    for node in nodes:
        node.g.wait_for(READY_RE % (re.escape(node.ip), node.mac), timeout=timeout)
        node.g.wait_for(r"vnet> ", timeout=30)


# ---- checks on the serial consoles ---------------------------------------------------------
def wait_counters(node, done, timeout=10):
    """Poll inetstat until done(counters) holds (bounded); return the last counters."""
    deadline = time.monotonic() + timeout
    while True:
        c = inetstat(node.g)
        if done(c) or time.monotonic() > deadline:
            return c
        time.sleep(0.2)


def ping(src, dst_ip, count=3, size=56):
    """src pings dst_ip; assert every reply is printed on src's console; return the output."""
    out = src.g.cmd(f"ping {dst_ip} -c {count} -s {size} -i 100", timeout=30)
    replies = re.findall(r"^%d bytes from %s: icmp_seq=\d+ ttl=64 time=\d+\.\d{3} ms$"
                         % (size + 8, re.escape(dst_ip)), out, re.M)
    assert len(replies) == count, f"{src} pinging {dst_ip}:\n{out}"
    assert re.search(r"^%d packets transmitted, %d received, 0%% packet loss" % (count, count),
                     out, re.M), out
    return out


def ping_answered(src, dst, count=3, size=56):
    """src pings guest dst: src prints each reply, dst's counters show it answered each."""
    before = inetstat(dst.g)["icmp.tx_echo_replies"]
    ping(src, dst.ip, count, size)
    after = inetstat(dst.g)["icmp.tx_echo_replies"]
    assert after - before == count, f"{dst} answered {after - before} of {count} echo requests"


def udp_echo(src, dst, text):
    """udpsend from src to dst's echo service (port 7): dst counts the echo it sent back, and
    src's console shows the echoed frame arriving (framelog) at a port nobody listens on."""
    frame_len = max(60, 14 + 20 + 8 + len(text))  # Ethernet pads to 60 bytes
    before_src, before_dst = inetstat(src.g), inetstat(dst.g)
    src.g.cmd("framelog on")
    out = src.g.cmd(f"udpsend {dst.ip} 7 {text}")
    assert re.search(r"udpsend: %d bytes to %s:7 from port \d+" % (len(text), re.escape(dst.ip)),
                     out), out
    src.g.wait_for(r"rx: eth0 len %d crc [0-9a-f]{8}\n" % frame_len, timeout=10)
    src.g.cmd("framelog off")
    d = wait_counters(dst, lambda c: c["udp.echo_packets"] > before_dst["udp.echo_packets"])
    assert d["udp.echo_packets"] - before_dst["udp.echo_packets"] == 1, d
    assert d["udp.echo_bytes"] - before_dst["udp.echo_bytes"] == len(text), d
    s = wait_counters(src, lambda c: c["udp.rx_no_port"] > before_src["udp.rx_no_port"])
    assert s["udp.rx_no_port"] - before_src["udp.rx_no_port"] == 1, s


# ---- captures of the host side ------------------------------------------------------------
class PcapCount:
    """What the two captures share: counting the frames of the pcap at self.path."""
    path = None

    def count(self, display_filter):
        """Frames of the stopped capture that match a tshark display filter."""
        r = subprocess.run(["tshark", "-n", "-r", str(self.path), "-Y", display_filter],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return len(r.stdout.splitlines())


class DumpCapture(PcapCount):
    """QEMU's filter-dump on the host side's netdev (Net.start adds the -object): QEMU writes
    every frame that netdev sends or receives as it passes, so there is nothing to stop."""

    def __init__(self, path):
        self.path = path

    def stop(self):
        return self.path


# ---- a capture on the namespace's TAP ------------------------------------------------------
class Capture(PcapCount):
    """dumpcap on an interface inside ns, into a pcap file; bounded by duration, killed by PID."""

    def __init__(self, ns, iface, path, max_seconds=120):
        self.path = path
        self.err = open(str(path) + ".log", "w+")
        self.proc = ns.popen(["dumpcap", "-q", "-P", "-i", iface, "-w", str(path),
                              "-a", f"duration:{max_seconds}"],
                             stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 20
        while "Capturing on" not in self._log():
            assert self.proc.poll() is None, "dumpcap ended:\n" + self._log()
            assert time.monotonic() < deadline, "dumpcap did not start:\n" + self._log()
            time.sleep(0.05)

    def _log(self):
        self.err.seek(0)
        return self.err.read()

    def stop(self):
        """End the capture (SIGINT: dumpcap finishes the file) and return its path."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # `ip netns exec` execs dumpcap: same PID
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.err.close()
        return self.path

