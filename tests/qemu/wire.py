"""
tests/qemu/wire.py - the guest's wire for a test: a TAP in a namespace, or a unix socket.

    link = open_link(host_addr="10.0.2.2/24", mtu=None)   # a TapLink or a SocketLink
    g = boot(devices=[...netdev=n0...], netdev=[link.netdev("n0")], netns=link.netns)
    link.send(frame_bytes); frame = link.recv(timeout=1.0)
    link.dev_counts()   # frames passed to the guest, dropped on the way, taken from it
    link.close()

Which one a test gets is decided once per run by tools/privnet.sh, which `make test`,
`make grade` and `make bench` go through (see its header):

  VNET_NET=tap      a TapLink: a network namespace of the test's own (tests/qemu/netns.py)
                    with tap0 in it; the frames go through an AF_PACKET socket on tap0, and
                    the namespace's kernel is a real host on the wire (ping, arping, dnsmasq,
                    tshark, UDP sockets all work: `link.ns`).
  VNET_NET=socket   a SocketLink: QEMU's `-netdev dgram` on a pair of unix datagram sockets,
                    one datagram per frame, with the test itself as the only other end. No
                    privilege at all; no kernel stack on the wire, so a test that needs one
                    (a real ping, dnsmasq) calls need_tap() and is skipped with the reason.

Run outside tools/privnet.sh (plain `pytest tests/qemu`), root gets TAPs and anyone else the
socket wire.

On a link, the frame helpers every test shares:
    make_frame(size, seed)      a frame to the guest of our test ethertype, seeded payload
    wire = Wire(link)           a thread collecting the guest's frames of that ethertype
    with Pump(send, every, limit): ...   bounded background traffic while a test works
"""
import os
import random
import select
import socket
import struct
import tempfile
import threading
import time
import shutil

from guest import GUEST_MAC
from netns import NetNS

ETH_P_ALL = 0x0003
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; Python does not export it
RCVBUF = 64 << 20
SEND_TIMEOUT = 10  # seconds a send to QEMU may wait for room in its socket queue


def mode():
    """("tap" or "socket", the reason TAPs cannot be had or "")."""
    net = os.environ.get("VNET_NET")
    if net in ("tap", "socket"):
        return net, os.environ.get("VNET_NET_WHY", "") if net == "socket" else ""
    if os.geteuid() == 0:
        return "tap", ""
    return "socket", ("not root, and not started through tools/privnet.sh "
                      "(make test does that; or: tools/privnet.sh /usr/bin/python3 -m pytest ...)")


def describe():
    """The wire in one line, for the reports of make test, make grade and make bench."""
    net, why = mode()
    if net == "socket":
        return f"the unix-socket wire, no TAP device: {why}"
    how = "inside a user namespace (no root needed)" if os.environ.get("VNET_PRIVNET") == "userns" \
        else "as root"
    return f"TAP devices in the tests' own network namespaces, {how}"


def have_tap():
    return mode()[0] == "tap"


def need_tap(what="this check"):
    """Skip the calling test unless a kernel TAP can be made, saying why it cannot."""
    import pytest  # here: the tools that only describe the wire (runtests, bench) need no pytest

    net, why = mode()
    if net != "tap":
        pytest.skip(f"{what} needs a kernel TAP device: {why}")


def _set_rcvbuf(sock):
    try:  # beyond net.core.rmem_max: allowed to root (also root of a user namespace)
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)


class TapLink:
    """tap0 in a namespace of its own; host_addr on the host side (None: no address)."""
    kind = "tap"

    def __init__(self, host_addr=None, mtu=None):
        self.ns = NetNS(host_addr=host_addr, mtu=mtu)
        self.netns = self.ns
        self.sock = None
        self.receiving = False
        # QEMU's TAP with the virtio-net header (its default): checksum offload is offered and
        # an offloaded frame crosses the TAP with only the seed in its checksum (docs/network.md,
        # "Checksum offload"). A reader that checks sums on raw frames (fakehost.FakeHost)
        # turns it off, and the guest sums everything itself.
        self.vnet_hdr = True
        try:
            with self.ns.entered():
                self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            _set_rcvbuf(self.sock)
            # Protocol 0: send-only until the first recv(), so a link whose frames nobody
            # reads (the tests that talk through the namespace's kernel) queues nothing.
            self.sock.bind((self.ns.tap, 0))
            self.host_mac = self.ns.run(["cat", f"/sys/class/net/{self.ns.tap}/address"]) \
                .stdout.strip()
        except Exception:
            self.close()
            raise

    def netdev(self, nid="n0"):
        return (f"tap,id={nid},ifname={self.ns.tap},script=no,downscript=no" +
                ("" if self.vnet_hdr else ",vnet_hdr=off"))

    def send(self, frame):
        self.sock.send(frame)

    def listen(self):
        """Start keeping the frames the guest sends (recv() does it on its first call);
        frames from before are not seen."""
        if not self.receiving:
            self.sock.bind((self.ns.tap, ETH_P_ALL))
            self.receiving = True

    def rx_room(self, frame_len):
        """About how many frames of frame_len bytes the capture socket can hold before the
        kernel drops (each costs its length plus about 768 bytes of socket buffer; half that
        many, for margin). Root may raise the buffer to 64 MiB (SO_RCVBUFFORCE); an ordinary
        user in a user namespace gets net.core.rmem_max, so a burst from the guest larger than
        this must wait for the reader in between."""
        rcvbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        return max(1, rcvbuf // (2 * (max(frame_len, 256) + 768)))

    def taken(self, qemu_pid):
        """How many frames QEMU (process qemu_pid, inside the namespace) has read from the TAP
        so far: the TAP's transmit count in that process's /proc/PID/net/dev. A sender that
        keeps sent - taken() well under the TAP's queue (1000 frames) never has one dropped,
        however slowly QEMU runs."""
        with open(f"/proc/{qemu_pid}/net/dev") as f:
            for line in f:
                name, _, fields = line.partition(":")
                if name.strip() == self.ns.tap:
                    return int(fields.split()[9])  # transmit packets
        raise OSError(f"{self.ns.tap} not in /proc/{qemu_pid}/net/dev")

    def dev_counts(self):
        """The TAP's own counters (/proc/net/dev in the namespace; its transmit side faces the
        guest): frames passed toward the guest (to_guest), dropped because its queue was full
        (to_guest_dropped: the only place a frame for the guest may be lost on this wire),
        and frames that came from the guest (from_guest)."""
        out = self.ns.run(["cat", "/proc/net/dev"]).stdout
        for line in out.splitlines():
            name, _, fields = line.partition(":")
            if name.strip() == self.ns.tap:
                f = fields.split()  # receive: bytes packets errs drop ...; transmit from f[8] on
                return {"to_guest": int(f[9]), "to_guest_dropped": int(f[11]), "from_guest": int(f[1])}
        raise OSError(f"{self.ns.tap} not in the namespace's /proc/net/dev")

    def recv(self, timeout=None):
        """The next frame the guest sent (our own sends skipped), or None after timeout s."""
        self.listen()
        while True:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                return None
            data, addr = self.sock.recvfrom(65536)
            if addr[2] != socket.PACKET_OUTGOING:
                return data

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        self.ns.close()


class SocketLink:
    """QEMU's dgram netdev on two unix sockets: QEMU binds q.sock and sends to t.sock, which
    this object binds; every datagram is one Ethernet frame, without the FCS."""
    kind = "socket"
    ns = None
    netns = None
    host_mac = "02:00:00:00:00:02"

    def __init__(self, host_addr=None, mtu=None):
        # unix socket paths are limited to 107 bytes: a short directory under /tmp
        self.dir = tempfile.mkdtemp(prefix="vnet-wire-")
        self.qemu_path = os.path.join(self.dir, "q.sock")
        self.test_path = os.path.join(self.dir, "t.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _set_rcvbuf(self.sock)
        self.sock.bind(self.test_path)
        self.sock.settimeout(SEND_TIMEOUT)  # a stuck QEMU fails a send instead of hanging it
        self.counts = self.new_counts()

    @staticmethod
    def new_counts():
        """dev_counts()'s tally, all 0 (also topology.FdLink's, which has no paths)."""
        return {"to_guest": 0, "to_guest_dropped": 0, "from_guest": 0}

    def netdev(self, nid="n0"):
        return (f"dgram,id={nid},local.type=unix,local.path={self.qemu_path},"
                f"remote.type=unix,remote.path={self.test_path}")

    def send(self, frame):
        """Blocks while QEMU's socket queue is full: the wire paces the sender, as a TAP's
        queue does. Before QEMU has bound its socket the frame is lost, as on a TAP whose
        reader has not started (OSError is raised to say so). A queue that stays full for
        SEND_TIMEOUT seconds raises socket.timeout."""
        self.sock.sendto(frame, self.qemu_path)
        self.counts["to_guest"] += 1

    def dev_counts(self):
        """As TapLink's, counted here: frames sent to QEMU and read from it. Nothing is ever
        dropped on the way (a send waits for room), so to_guest_dropped stays 0."""
        return dict(self.counts)

    def listen(self):
        """Frames are kept from the start: the socket is bound before QEMU starts."""

    def rx_room(self, frame_len):
        """None: no limit; QEMU waits while our socket's queue is full (nothing is dropped)."""
        return None

    def taken(self, qemu_pid):
        """None: a unix socket paces the sender itself (send blocks while QEMU's queue is full)."""
        return None

    def recv(self, timeout=None):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        frame = self.sock.recv(65536)
        self.counts["from_guest"] += 1
        return frame

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        shutil.rmtree(self.dir, ignore_errors=True)


def open_link(host_addr=None, mtu=None):
    """The wire this run has: a TapLink when TAPs can be made, else a SocketLink."""
    if have_tap():
        return TapLink(host_addr=host_addr, mtu=mtu)
    return SocketLink(host_addr=host_addr, mtu=mtu)


# ---- frames and traffic on a link ----------------------------------------------------------
TEST_ETHERTYPE = 0x88B5  # IEEE local experimental: what the tests send and `sendraw` sends
HOST_MAC = bytes.fromhex("020000000001")  # a locally administered source for test frames


def mac_bytes(text):
    return bytes.fromhex(text.replace(":", ""))


def make_frame(size, seed):
    """A frame to the guest: its MAC, a local source, our ethertype, seeded payload."""
    rnd = random.Random(seed)
    body = bytes(rnd.getrandbits(8) for _ in range(size - 14))
    return mac_bytes(GUEST_MAC) + HOST_MAC + struct.pack("!H", TEST_ETHERTYPE) + body


class Wire:
    """A link (a TapLink or a SocketLink), with a thread counting and collecting the frames of
    our ethertype (or of ethertypes) that the guest sends (keep=False: counting only), and in
    times the time each kept one was read."""

    def __init__(self, link, keep=True, ethertypes=(TEST_ETHERTYPE,)):
        self.link = link
        link.listen()  # before anything is sent: no frame of the guest's may be missed
        self.keep = keep
        self.ethertypes = ethertypes
        self.frames = []
        self.times = []
        self.count = 0
        self.stop = False
        self.thread = threading.Thread(target=self._rx, daemon=True)
        self.thread.start()

    def _rx(self):
        while not self.stop:
            try:
                data = self.link.recv(timeout=0.2)
            except (OSError, ValueError):
                return
            if data and len(data) >= 14 and struct.unpack("!H", data[12:14])[0] in self.ethertypes:
                self.count += 1
                if self.keep:
                    self.times.append(time.time())
                    self.frames.append(data)

    def send(self, frame):
        self.link.send(frame)

    def wait_count(self, n, timeout):
        end = time.time() + timeout
        while self.count < n and time.time() < end:
            time.sleep(0.05)
        return self.count

    def close(self):
        self.stop = True
        self.thread.join(2)


class Pump:
    """Background traffic while a test does something else, bounded: a thread calls send(n)
    for n = 0, 1, ... with `every` seconds between calls, at most `limit` times, until the
    with-block ends (then it waits up to `join` seconds for the thread). An OSError from send
    (a TAP going away during a link flap) is ignored.

        with Pump(lambda n: wire.send(make_frame(100, n)), every=0.0005, limit=50_000): ...
    """

    def __init__(self, send, every, limit, join=5):
        self.send, self.every, self.limit, self.join = send, every, limit, join
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for n in range(self.limit):
            if self.stop.is_set():
                return
            try:
                self.send(n)
            except OSError:
                pass
            time.sleep(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(self.join)
