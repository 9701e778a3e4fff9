"""
tests/qemu/fakehost.py - the host 10.0.2.2 at the other end of the guest's wire.

A test talks to the guest through a Host, which is one of two things with the same methods:

  KernelHost   the wire is a TAP (wire.py's TapLink): the namespace's Linux kernel is the
               host; ping and arping are the real tools run in the namespace, and
               udp_socket() is a real socket opened there.
  FakeHost     the wire is a unix socket (SocketLink), or any link a test wants to play the
               host on itself: this module is the host, with scapy. A reader thread takes
               every frame the guest sends, answers ARP requests for the host's address and
               pings to it (as a kernel would), and hands every other packet for the host to
               whoever listens for it (ping, arping, a FakeUdpSocket).

    host = open_host(mtu=None)          # the wire this run has (wire.open_link), host on it
    r = host.ping("10.0.2.15", 5)       # Pings: sent, received, replies [(bytes, ttl)], errors
    macs = host.arping("10.0.2.15", 3)  # the sender MAC of each reply
    s = host.udp_socket(5555)           # sendto/recvfrom/connect/send/recv/settimeout/close
    host.send(frame)                    # any frame, straight onto the wire
    c = host.wire_counts()              # the host's own count of what crossed the wire
    host.close()                        # also closes the link

Like a kernel, the fake host takes only frames to its MAC or broadcast, and drops an IPv4
packet whose IPv4, UDP or ICMP checksum is wrong (a UDP checksum of 0 too: the guest always
computes one), counting it in host.dropped: a reply with a bad checksum is a reply lost.
FakeHost.record keeps every frame in both directions; write_pcap() saves it for tshark.

wire_counts() is what the host counted, the same keys on both: frames it put on the wire
for the guest (to_guest), frames of those its side of the wire dropped before the guest's
NIC took them (to_guest_dropped: the TAP's transmit drops; always 0 on a unix socket, where
a send waits for room instead), frames it took from the guest (from_guest), and the ICMP
echo requests it sent and echo replies it received (echo_out, echo_replies_in: the kernel's
/proc/net/snmp, or the fake host's tally). A test subtracts two readings (count_delta) to
account for every frame of a run: nothing may go missing between the host and the guest
without one of these or a guest counter saying where.
"""
import collections
import errno
import itertools
import queue
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import pytest

from wire import open_link

pytest.importorskip("scapy.all", reason="python3-scapy is not installed (tools/deps.sh test)")
from scapy.all import ARP, ICMP, IP, UDP, Ether, Padding, Raw  # noqa: E402
from scapy.layers.inet import UDPerror, in4_chksum  # noqa: E402
from scapy.utils import PcapWriter, checksum  # noqa: E402

HOST_IP = "10.0.2.2"
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
FLOOD_WAIT = 0.01  # ping -f: the next request when the reply is in, or after 10 ms
RECORD_MAX = 200_000  # frames kept in FakeHost.record (the oldest go first)


WIRE_COUNTS = ("to_guest", "to_guest_dropped", "from_guest", "echo_out", "echo_replies_in")


def count_delta(after, before):
    """wire_counts() after minus before, key by key."""
    return {k: after[k] - before[k] for k in WIRE_COUNTS}


@dataclass
class Pings:
    sent: int
    received: int
    replies: list = field(default_factory=list)  # (ICMP bytes, TTL) per reply; none with -f
    errors: list = field(default_factory=list)   # "wrong data", "DUP!": must stay empty
    text: str = ""                                # what happened, for assertion messages


def open_host(ip=HOST_IP, mtu=None):
    """The wire this run has (a TAP or a unix socket) with the host at ip/24 on it."""
    link = open_link(host_addr=ip + "/24", mtu=mtu)
    return KernelHost(link, ip) if link.kind == "tap" else FakeHost(link, ip)


class KernelHost:
    """The namespace's Linux kernel, on the TAP, as the host."""

    def __init__(self, link, ip=HOST_IP):
        self.link, self.ns, self.ip, self.mac = link, link.ns, ip, link.host_mac

    def ping(self, ip, count, size=56, interval=0.2, wait=2, flood=False, deadline=150):
        opts = ["-q", "-f", "-w", str(deadline)] if flood else ["-i", str(interval), "-W", str(wait)]
        r = self.ns.run(["ping", "-n", "-M", "do", "-c", str(count), "-s", str(size), *opts, ip],
                        check=False, timeout=deadline + 30 if flood else count * interval + wait + 30)
        text = r.stdout + r.stderr
        m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
        replies = [(int(n), int(ttl)) for n, ttl in
                   re.findall(r"^(\d+) bytes from [\d.]+: icmp_seq=\d+ ttl=(\d+)", text, re.M)]
        errors = [e for e in ("wrong data", "DUP!") if e in text]
        return Pings(int(m.group(1)) if m else 0, int(m.group(2)) if m else 0, replies, errors, text)

    def arping(self, ip, count, wait=10):
        r = self.ns.run(["arping", "-c", str(count), "-w", str(wait), "-I", self.ns.tap, ip],
                        check=False, timeout=wait + 20)
        return [m.lower() for m in re.findall(r"reply from %s \[([0-9a-fA-F:]{17})\]" % re.escape(ip),
                                              r.stdout, re.I)]

    def udp_socket(self, port=0):
        with self.ns.entered():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((self.ip, port))
        return s

    def send(self, frame):
        self.link.send(bytes(frame))

    def snmp(self, proto):
        """The namespace kernel's /proc/net/snmp line for proto ("Icmp", "Udp"): {name: N}."""
        rows = [line.split()[1:] for line in self.ns.run(["cat", "/proc/net/snmp"]).stdout.splitlines()
                if line.startswith(proto + ":")]
        return dict(zip(rows[0], map(int, rows[1])))

    def wire_counts(self):
        """The TAP's counters (wire.TapLink.dev_counts) and the namespace's ICMP counters."""
        icmp = self.snmp("Icmp")
        return {**self.link.dev_counts(), "echo_out": icmp["OutEchos"], "echo_replies_in": icmp["InEchoReps"]}

    def neigh_permanent(self, ip, mac):
        self.ns.neigh_permanent(ip, mac)

    def close(self):
        self.link.close()


def checksum_problem(frame, ip):
    """Why a kernel would drop this IPv4 packet for a checksum; None when it would not."""
    hlen = ip.ihl * 4
    seg = frame[14 + hlen:14 + ip.len]
    if checksum(frame[14:14 + hlen]):
        return "ipv4 checksum"
    if ip.proto == 17 and (len(seg) < 8 or seg[6:8] == b"\0\0" or in4_chksum(17, ip, seg)):
        return "udp checksum"
    if ip.proto == 1 and checksum(seg):
        return "icmp checksum"
    return None


def echo_request(ident, seq, data):
    """ICMP echo request bytes (RFC 792), built by hand: a flood sends thousands."""
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    return icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]


def payload(layer):
    """The bytes after a layer's header, without the Ethernet padding scapy keeps at the end."""
    data = bytes(layer.payload)
    pad = layer.getlayer(Padding)
    return data[:len(data) - len(pad.load)] if pad else data


def take(q, until):
    """The packets arriving on queue q until time.monotonic() reaches until."""
    while True:
        left = until - time.monotonic()
        try:
            p = q.get(timeout=left) if left > 0 else q.get_nowait()
        except queue.Empty:
            return
        yield p


class FakeHost:
    """This process as the host on the link, with scapy."""

    def __init__(self, link, ip=HOST_IP):
        self.link, self.ip, self.mac = link, ip, link.host_mac
        # It checks every checksum on the raw frames it reads, as a host without checksum
        # offload would: so on a TAP, QEMU must not offer the guest checksum offload (an
        # offloaded frame crosses the TAP with only the pseudo-header sum in its field).
        link.vnet_hdr = False
        self.record = collections.deque(maxlen=RECORD_MAX)  # (time, frame), both directions
        self.dropped = collections.Counter()  # why -> packets dropped or answers not sent
        self.counts = dict.fromkeys(WIRE_COUNTS, 0)  # see wire_counts()
        self.arp_resends = 0  # see resolve()
        self.neigh = {"255.255.255.255": BROADCAST_MAC}  # learned from the guest's ARP
        self.neigh_changed = threading.Condition()
        self.listeners = []  # (match, queue): packets for the host that match go to the queue
        self.ids = itertools.count(0x4200)  # ICMP echo ids
        self.ports = itertools.count(40000)  # ephemeral UDP ports
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._reader, name="fakehost", daemon=True)
        self.thread.start()

    # ---- the wire ----
    def send(self, frame):
        frame = bytes(frame)
        self.record.append((time.time(), frame))
        self.link.send(frame)
        self.counts["to_guest"] += 1  # sent: a unix socket's send waits for room, never drops

    def wire_counts(self):
        return dict(self.counts)

    def _reader(self):
        while not self.stop.is_set():
            try:
                frame = self.link.recv(timeout=0.2)
            except (OSError, ValueError):  # the link was closed
                return
            if frame:
                self.record.append((time.time(), frame))
                self.counts["from_guest"] += 1
                try:
                    self._input(frame)
                except OSError:  # QEMU took no frame for 10 s: the answer is lost, as on a full TAP
                    self.dropped["answer not sent"] += 1

    def _input(self, frame):
        p = Ether(frame)
        if p.dst not in (self.mac, BROADCAST_MAC):
            return
        if ARP in p:
            a = p[ARP]
            if a.psrc != "0.0.0.0":
                with self.neigh_changed:
                    self.neigh[a.psrc] = a.hwsrc
                    self.neigh_changed.notify_all()
            if a.op == 1 and a.pdst == self.ip:
                self.send(Ether(dst=a.hwsrc, src=self.mac) /
                          ARP(op=2, hwsrc=self.mac, psrc=self.ip, hwdst=a.hwsrc, pdst=a.psrc))
        elif IP in p and p[IP].dst in (self.ip, "255.255.255.255"):
            why = checksum_problem(frame, p[IP])
            if why:
                self.dropped[why] += 1
                return
            if ICMP in p and p[ICMP].type == 0 and p[IP].dst == self.ip:
                self.counts["echo_replies_in"] += 1
            if ICMP in p and p[ICMP].type == 8 and p[IP].dst == self.ip:  # answer a ping
                self.send(Ether(dst=p.src, src=self.mac) / IP(src=self.ip, dst=p[IP].src) /
                          ICMP(type=0, id=p[ICMP].id, seq=p[ICMP].seq) / Raw(payload(p[ICMP])))
        else:
            return
        for match, q in list(self.listeners):
            if match(p):
                q.put(p)

    def listen(self, match):
        """A queue that receives every packet for the host for which match(packet) is true."""
        q = queue.Queue()
        self.listeners.append((match, q))
        return q

    def unlisten(self, q):
        self.listeners = [(m, x) for m, x in self.listeners if x is not q]

    def resolve(self, ip, tries=3):
        """ip's MAC: learned from its ARP frames, else asked for, 3 times 1 s apart (as a
        kernel's neighbour table asks). Every request after the first is counted in
        self.arp_resends: a test on a lossless wire asserts none was needed."""
        for n in range(tries):
            with self.neigh_changed:
                if ip in self.neigh:
                    return self.neigh[ip]
            self.arp_resends += n > 0
            self.send(Ether(dst=BROADCAST_MAC, src=self.mac) / ARP(op=1, hwsrc=self.mac, psrc=self.ip, pdst=ip))
            with self.neigh_changed:
                if self.neigh_changed.wait_for(lambda: ip in self.neigh, timeout=1.0):
                    return self.neigh[ip]
        raise OSError(errno.EHOSTUNREACH, f"no ARP reply from {ip}")

    def neigh_permanent(self, ip, mac):
        with self.neigh_changed:
            self.neigh[ip] = mac

    def ip_to(self, ip, **kw):
        """Ethernet and IPv4 headers from the host to ip, for the rest to be put on."""
        return Ether(dst=self.resolve(ip), src=self.mac) / IP(src=self.ip, dst=ip, **kw)

    # ---- what the tests do ----
    def ping(self, ip, count, size=56, interval=0.2, wait=2, flood=False, deadline=150):
        """As ping -M do -c count -s size -i interval (or -f): echo requests with our id and
        a payload that depends on the sequence number; a reply counts when its id, sequence
        number and payload match an outstanding request (else it is an error)."""
        ident = next(self.ids) & 0xFFFF
        q = self.listen(lambda p: ICMP in p and p[ICMP].type == 0 and p[ICMP].id == ident
                        and p[IP].src == ip)
        r = Pings(0, 0)
        pending = {}  # sequence number -> the payload its reply must carry
        end = time.monotonic() + deadline

        def check(p):
            seq, data = p[ICMP].seq, payload(p[ICMP])
            if seq not in pending:
                r.errors.append(f"DUP! or unasked reply icmp_seq={seq}")
            elif data != pending.pop(seq):
                r.errors.append(f"wrong data icmp_seq={seq}")
            else:
                r.received += 1
                r.replies.append((8 + len(data), p[IP].ttl))
        try:
            head = bytes(self.ip_to(ip, flags="DF", proto=1, len=20 + 8 + size))  # the same for all
            for n in range(1, count + 1):
                if time.monotonic() > end:
                    break
                seq = n & 0xFFFF
                pending[seq] = bytes((n + i) & 0xFF for i in range(size))
                self.send(head + echo_request(ident, seq, pending[seq]))
                self.counts["echo_out"] += 1
                r.sent += 1
                for p in take(q, time.monotonic() + (FLOOD_WAIT if flood else interval)):
                    check(p)
                    if flood and seq not in pending:
                        break
            for p in take(q, min(end, time.monotonic() + wait) if pending else 0):
                check(p)
                if not pending:
                    break
        except OSError as e:  # no ARP reply
            r.errors.append(str(e))
        finally:
            self.unlisten(q)
        r.text = f"{r.sent} packets transmitted, {r.received} received, errors {r.errors[:10]}"
        return r

    def arping(self, ip, count, wait=10):
        """As arping -c count -w wait: a request each second until count replies or wait s."""
        q = self.listen(lambda p: ARP in p and p[ARP].op == 2 and p[ARP].psrc == ip and p[ARP].pdst == self.ip)
        macs = []
        end = time.monotonic() + wait
        try:
            while len(macs) < count and time.monotonic() < end:
                self.send(Ether(dst=BROADCAST_MAC, src=self.mac) / ARP(op=1, hwsrc=self.mac, psrc=self.ip, pdst=ip))
                macs += [p[ARP].hwsrc for p in take(q, min(end, time.monotonic() + 1.0))]
        finally:
            self.unlisten(q)
        return macs

    def udp_socket(self, port=0):
        return FakeUdpSocket(self, port or next(self.ports))

    def write_pcap(self, path):
        with PcapWriter(str(path), linktype=1) as w:  # 1: Ethernet
            w.write_header(None)
            for t, frame in list(self.record):
                w.write_packet(frame, sec=int(t), usec=int(t % 1 * 1e6))

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.link.close()


class FakeUdpSocket:
    """The socket calls the tests make, on a UDP port of the fake host. As on Linux, an ICMP
    port unreachable is reported (ConnectionRefusedError) only on a connected socket."""

    def __init__(self, host, port):
        self.host, self.port, self.peer, self.timeout = host, port, None, None
        self.queue = host.listen(self._wants)

    def _wants(self, p):
        if UDP in p:
            return p[UDP].dport == self.port
        return (self.peer is not None and ICMP in p and p[ICMP].type == 3 and p[ICMP].code == 3
                and UDPerror in p and p[UDPerror].sport == self.port)

    def settimeout(self, timeout):
        self.timeout = timeout

    def setblocking(self, flag):
        self.timeout = None if flag else 0.0

    def getsockname(self):
        return (self.host.ip, self.port)

    def sendto(self, data, addr):
        ip, port = addr
        self.host.send(self.host.ip_to(ip) / UDP(sport=self.port, dport=port) / Raw(bytes(data)))

    def connect(self, addr):
        self.peer = addr

    def send(self, data):
        self.sendto(data, self.peer)

    def recvfrom(self, bufsize):
        try:
            p = self.queue.get(timeout=self.timeout) if self.timeout != 0 else self.queue.get_nowait()
        except queue.Empty:
            raise (BlockingIOError if self.timeout == 0 else socket.timeout)("no datagram") from None
        if UDP not in p:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "port unreachable")
        return payload(p[UDP])[:bufsize], (p[IP].src, p[UDP].sport)

    def recv(self, bufsize):
        return self.recvfrom(bufsize)[0]

    def close(self):
        self.host.unlisten(self.queue)
