"""
tests/qemu/topology.py - guests wired together by QEMU's network backends (test_backends.py).

Every topology lives in a network namespace of its own (tests/qemu/netns.py NetNS): QEMU runs
inside it, socket backends bind 127.0.0.1 there (ports belong to the namespace, so fixed
numbers cannot clash with anything), the TAP device and its capture are there, and deleting
the namespace ends every link. Guests are numbered: guest n has the address 10.0.3.n/24 (no
gateway) and the MAC 52:54:00:00:03:<n>, both from its command line, so every guest on a
wire is distinct. The host side of a TAP, when a test wants one, is 10.0.3.100.

The -netdev strings below are QEMU 7.2's spellings. 7.2 has both the new `stream`/`dgram`
backends (QAPI socket addresses) and the older `socket` one; a `stream` client that finds no
listener gives up for good ("connection error" in `info network`; reconnect= came in 8.0), so
a listener is started, and seen to be up, before its client.
"""
import re
import signal
import subprocess
import time

from netns import NetNS
from test_stack import counters as guest_counters

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


def nic(netdev, n):
    return f"virtio-net-pci,netdev={netdev},mac={guest_mac(n)}"


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


class Net:
    """A namespace (with tap0 in it, the host side at host_addr or without an address), the
    guests booted in it through the conftest `boot` fixture, and captures on its TAP.
    close() stops the captures, kills the guests by PID and deletes the namespace."""

    def __init__(self, boot, host_addr=None):
        self.boot = boot
        self.ns = NetNS(host_addr=host_addr)
        self.nodes = []
        self.captures = []

    def start(self, n, netdev=(), devices=None, extra=(), append=""):
        """Boot guest n. devices defaults to one virtio-net-pci on the netdev "n0" with the
        guest's MAC; give [] for the -net/-nic forms, which bring their own NIC."""
        if devices is None:
            devices = [nic("n0", n)]
        g = self.boot(append=f"ip={guest_ip(n)}/24 gw=none {append}".strip(), devices=devices,
                      netdev=list(netdev), extra=list(extra), netns=self.ns)
        node = Node(g, n)
        self.nodes.append(node)
        return node

    def capture(self, path):
        cap = Capture(self.ns, self.ns.tap, path)
        self.captures.append(cap)
        return cap

    def host_ping(self, ip, count=3):
        """The namespace's host side pings ip; assert every echo came back."""
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
        self.ns.close()


def netdevs_up(node):
    """Return QEMU's `info network`. Once the monitor answers, QEMU has created every netdev
    (they come before the main loop), so a listener in it is up."""
    return node.g.monitor("info network")


def wait_up(*nodes, timeout=60):
    for node in nodes:
        node.g.wait_for(READY_RE % (re.escape(node.ip), node.mac), timeout=timeout)
        node.g.wait_for(r"vnet> ", timeout=30)


# ---- checks on the serial consoles ---------------------------------------------------------
def counters(node):
    """inetstat -> {"layer.name": value}, from guest node's console."""
    return guest_counters(node.g)


def wait_counters(node, done, timeout=10):
    """Poll inetstat until done(counters) holds (bounded); return the last counters."""
    deadline = time.monotonic() + timeout
    while True:
        c = counters(node)
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
    before = counters(dst)["icmp.tx_echo_replies"]
    ping(src, dst.ip, count, size)
    after = counters(dst)["icmp.tx_echo_replies"]
    assert after - before == count, f"{dst} answered {after - before} of {count} echo requests"


def udp_echo(src, dst, text):
    """udpsend from src to dst's echo service (port 7): dst counts the echo it sent back, and
    src's console shows the echoed frame arriving (framelog) at a port nobody listens on."""
    frame_len = max(60, 14 + 20 + 8 + len(text))  # Ethernet pads to 60 bytes
    before_src, before_dst = counters(src), counters(dst)
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


# ---- a capture on the namespace's TAP ------------------------------------------------------
class Capture:
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

    def count(self, display_filter):
        """Frames of the stopped capture that match a tshark display filter."""
        r = subprocess.run(["tshark", "-n", "-r", str(self.path), "-Y", display_filter],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return len(r.stdout.splitlines())
