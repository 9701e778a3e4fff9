"""
tests/qemu/vhost_user_dev.py - a virtio-net device of our own, as a vhost-user back-end, that
misbehaves on command.

QEMU keeps the PCI side of the NIC (configuration space, MAC, link status, interrupts) and
hands the two virtqueues to this process over a unix socket (QEMU's docs/interop/vhost-user.rst):
guest memory arrives as file descriptors to mmap, the rings as addresses in it, the guest's
notifications as a "kick" eventfd per queue and ours to the guest as a "call" eventfd. From
then on this module *is* the device for queue 0 (receive) and queue 1 (transmit): it reads
what the guest transmits and writes frames into the guest's receive buffers itself, so it can
also write what no honest device would.

    dev = VhostUserDevice()                 # listens on a fresh socket; a thread serves it
    g = boot(devices=[dev.device()], netdev=[dev.netdev()], extra=dev.qemu_extra())
    dev.send(frame)                         # into the guest's receive queue
    frame = dev.recv(timeout=1.0)           # the next frame the guest transmitted, or None
    dev.bad_id() / dev.bad_idx() / dev.bad_len() / dev.stall_tx() / dev.always(...)
    dev.behave()                            # an honest device again
    dev.close()

It has a wire's methods (send, recv, listen, host_mac, kind, close), so fakehost.FakeHost can
stand on it as the host 10.0.2.2 (ARP, ping, UDP sockets), and wire.Wire can count frames.

Misbehaviour (each one method; `queue` is "rx" or "tx"):
    bad_id(queue)    the next completion on the queue names a descriptor that is not in flight
                     (in range when one is free, else the ring size, which is out of range)
    bad_idx(queue)   the next completion moves the used index ring size + 1 past the real one
    bad_len(queue)   the next completion claims one byte more than the buffer can hold
    stall_tx()       transmitted frames are taken and kept: no used entry, nothing on the wire
    always(kind, queue)   kind ("bad_id", "bad_idx", "bad_len" or "stall_tx") again after every
                     start of the rings, i.e. after every reset the guest makes, until behave()
The one-shot kinds fire once and the device is honest again; stall_tx lasts until the guest
resets the device (QEMU stops the rings: GET_VRING_BASE), which drops the frames it kept.
A misbehaviour armed while the rings are stopped waits for them to start.

Interrupts: QEMU under TCG has no irqfd, so it reads the call eventfd in its main loop and
raises the interrupt itself. Give the NIC INTx (vectors=0): with MSI-X enabled by the guest,
QEMU 7.2 segfaults in vhost_net_start (docs/backends.md).

Run as a program it is a device for your own experiments, with the fake host on it and
commands on stdin (see main() at the end, and docs/backends.md).

Only Python's standard library is used; Linux only (memfd, eventfd, SCM_RIGHTS).
"""
import collections
import mmap
import os
import queue
import select
import socket
import struct
import tempfile
import threading
import time

# ---- the protocol (vhost-user.rst) -------------------------------------------------------------
GET_FEATURES = 1
SET_FEATURES = 2
SET_OWNER = 3
RESET_OWNER = 4
SET_MEM_TABLE = 5
SET_LOG_BASE = 6
SET_LOG_FD = 7
SET_VRING_NUM = 8
SET_VRING_ADDR = 9
SET_VRING_BASE = 10
GET_VRING_BASE = 11
SET_VRING_KICK = 12
SET_VRING_CALL = 13
SET_VRING_ERR = 14
GET_PROTOCOL_FEATURES = 15
SET_PROTOCOL_FEATURES = 16
GET_QUEUE_NUM = 17
SET_VRING_ENABLE = 18
RESET_DEVICE = 34
REQUEST_NAMES = {v: k for k, v in globals().items() if k.isupper() and isinstance(v, int)}

HDR = struct.Struct("<III")  # request, flags, payload size
FLAG_VERSION = 0x1
FLAG_REPLY = 0x4
FLAG_NEED_REPLY = 0x8
FD_INVALID = 0x100  # in a KICK/CALL/ERR payload: no descriptor came with it
MAX_FDS = 8
MAX_PAYLOAD = 4096  # every message QEMU sends a net back-end is far smaller

F_PROTOCOL_FEATURES = 1 << 30  # vhost-user's own bit in the feature word
PROTO_MQ = 1 << 0
PROTO_REPLY_ACK = 1 << 3

# ---- virtio (virtio 1.x 2.7 and 5.1) -----------------------------------------------------------
VIRTIO_NET_F_MRG_RXBUF = 1 << 15
VIRTIO_F_ANY_LAYOUT = 1 << 27
VIRTIO_F_VERSION_1 = 1 << 32
# What we offer: QEMU adds the bits it serves itself (MAC, STATUS, ...) to what the guest sees.
DEVICE_FEATURES = VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MRG_RXBUF | VIRTIO_F_ANY_LAYOUT | F_PROTOCOL_FEATURES
PROTOCOL_FEATURES = PROTO_MQ | PROTO_REPLY_ACK

DESC = struct.Struct("<QIHH")  # addr, len, flags, next
DESC_F_NEXT = 1
DESC_F_WRITE = 2
DESC_F_INDIRECT = 4
AVAIL_F_NO_INTERRUPT = 1
RX, TX = 0, 1
QUEUES = {"rx": RX, "tx": TX}
KINDS = ("bad_id", "bad_idx", "bad_len", "stall_tx")
PENDING_MAX = 1024  # frames waiting for receive buffers; beyond that they are dropped (a TAP: 1000)
LOG_MAX = 4000


class DeviceError(Exception):
    """Something in guest memory a device cannot use (an address outside every region, a
    descriptor loop): logged, the buffer skipped."""


class Memory:
    """The guest's RAM as QEMU's SET_MEM_TABLE describes it: regions with a guest physical
    address, QEMU's own virtual address for the same bytes, and an fd each to mmap."""

    def __init__(self, regions):
        self.regions = regions  # (guest, size, user, mm, offset in mm)

    @classmethod
    def from_message(cls, payload, fds):
        nregions, = struct.unpack_from("<I", payload)
        if nregions != len(fds):
            raise DeviceError(f"SET_MEM_TABLE: {nregions} regions but {len(fds)} fds")
        regions = []
        try:
            for i in range(nregions):
                guest, size, user, offset = struct.unpack_from("<QQQQ", payload, 8 + 32 * i)
                # Map from the file's start so that mmap's offset needs no page alignment.
                mm = mmap.mmap(fds[i], offset + size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
                regions.append((guest, size, user, mm, offset))
        except BaseException:
            for r in regions:
                r[3].close()
            raise
        return cls(regions)

    def _find(self, addr, length, field):
        for r in self.regions:
            base = r[field]
            if base <= addr and addr + length <= base + r[1]:
                return r[3], r[4] + addr - base
        raise DeviceError(f"{'guest' if field == 0 else 'user'} address {addr:#x}+{length} "
                          "is outside guest memory")

    def gpa(self, addr, length):
        """(mmap, offset) of a guest physical address range (descriptors' buffers)."""
        return self._find(addr, length, 0)

    def uva(self, addr, length):
        """(mmap, offset) of a QEMU virtual address range (the rings, SET_VRING_ADDR)."""
        return self._find(addr, length, 2)

    def close(self):
        for r in self.regions:
            r[3].close()
        self.regions = []


class Ring:
    """One split virtqueue as the device sees it (virtio 1.x 2.7)."""

    def __init__(self, index):
        self.index = index
        self.num = 0
        self.addrs = None  # (desc, used, avail) QEMU virtual addresses
        self.desc = self.avail = self.used = None  # (mmap, offset), once started
        self.last_avail = 0  # the next avail entry the device takes
        self.used_idx = 0  # what the device wrote into used->idx last
        self.kick = self.call = self.err = None
        self.started = False
        self.enabled = False
        self.held = []  # (head, frame) taken but not completed (stall_tx)

    def close_fds(self):
        for name in ("kick", "call", "err"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def map(self, mem):
        desc, used, avail = self.addrs
        self.desc = mem.uva(desc, 16 * self.num)
        self.avail = mem.uva(avail, 4 + 2 * self.num)
        self.used = mem.uva(used, 4 + 8 * self.num)

    def _u16(self, where, off):
        mm, base = where
        return struct.unpack_from("<H", mm, base + off)[0]

    def avail_idx(self):
        return self._u16(self.avail, 2)

    def wants_interrupt(self):
        return not self._u16(self.avail, 0) & AVAIL_F_NO_INTERRUPT

    def has_avail(self):
        return self.avail_idx() != self.last_avail & 0xFFFF

    def pop(self, mem):
        """Take the next available chain: (head, [(mmap, offset, len, writable)])."""
        head = self._u16(self.avail, 4 + 2 * (self.last_avail % self.num))
        self.last_avail += 1
        return head, self.chain(mem, head)

    def chain(self, mem, head):
        if head >= self.num:
            raise DeviceError(f"queue {self.index}: head {head} out of range")
        bufs, i = [], head
        for _ in range(self.num):
            mm, off = self.desc
            addr, length, flags, nxt = DESC.unpack_from(mm, off + 16 * i)
            if flags & DESC_F_INDIRECT:
                raise DeviceError(f"queue {self.index}: indirect descriptor (not negotiated)")
            bufs.append((*mem.gpa(addr, length), length, bool(flags & DESC_F_WRITE)))
            if not flags & DESC_F_NEXT:
                return bufs
            if nxt >= self.num:
                raise DeviceError(f"queue {self.index}: next {nxt} out of range")
            i = nxt
        raise DeviceError(f"queue {self.index}: descriptor chain from {head} loops")

    def heads_in_flight(self, mem):
        """Every descriptor the device holds or can see posted: chains taken and kept, and
        chains in the avail ring not yet taken."""
        ids = set()
        heads = [h for h, _ in self.held]
        heads += [self._u16(self.avail, 4 + 2 * (n % self.num))
                  for n in range(self.last_avail, self.last_avail + ((self.avail_idx() - self.last_avail) & 0xFFFF))]
        for h in heads:
            ids.add(h)
            try:
                i = h
                for _ in range(self.num):
                    mm, off = self.desc
                    _, _, flags, nxt = DESC.unpack_from(mm, off + 16 * i)
                    if not flags & DESC_F_NEXT or nxt >= self.num:
                        break
                    ids.add(nxt)
                    i = nxt
            except struct.error:
                pass
        return ids

    def put_used(self, head, length, idx_step=1):
        """Write a used entry at the device's used index, then the index (entries first:
        x86 keeps stores in order)."""
        mm, off = self.used
        struct.pack_into("<II", mm, off + 4 + 8 * (self.used_idx % self.num), head, length)
        self.used_idx = (self.used_idx + idx_step) & 0xFFFF
        struct.pack_into("<H", mm, off + 2, self.used_idx)

    def notify(self):
        if self.call is not None and self.wants_interrupt():
            os.write(self.call, struct.pack("<Q", 1))


def write_chain(bufs, data):
    """Copy data into a chain's writable buffers in order; returns how many bytes fit."""
    done = 0
    for mm, off, length, writable in bufs:
        if not writable or done == len(data):
            continue
        n = min(length, len(data) - done)
        mm[off:off + n] = data[done:done + n]
        done += n
    return done


def read_chain(bufs):
    return b"".join(mm[off:off + length] for mm, off, length, writable in bufs if not writable)


def writable_room(bufs):
    return sum(length for _, _, length, writable in bufs if writable)


class VhostUserDevice:
    """The device, served by a thread of this process. Its counters (read them any time):
    rx_frames, rx_dropped (no receive buffer for PENDING_MAX frames, or too long), tx_frames,
    starts and stops of the rings, corruptions [(kind, queue, what)], and log: the protocol
    messages and what the device did, newest last."""

    kind = "vhost-user"
    netns = None
    ns = None
    host_mac = "02:00:00:00:00:02"  # fakehost.FakeHost's MAC on this wire

    def __init__(self, path=None, memory_mb=128):
        """Listens on path (a new socket there), or on vu.sock in a fresh directory under /tmp
        (a unix socket's path has at most 107 bytes); memory_mb must be QEMU's -m."""
        self.memory_mb = memory_mb
        self.dir = None if path else tempfile.mkdtemp(prefix="vnet-vu-")
        self.path = path or os.path.join(self.dir, "vu.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.conn = None
        self.mem = None
        self.features = 0
        self.protocol_features = 0
        self.rings = [Ring(RX), Ring(TX)]
        self.lock = threading.Lock()
        self.armed = {}  # queue index -> kind, fired at its next completion (stall_tx: held)
        self.always_kind = None  # (kind, queue index): re-armed at every start
        self.pending = collections.deque()  # frames for the guest
        self.tx_out = queue.Queue()
        self.log = collections.deque(maxlen=LOG_MAX)
        self.changed = threading.Condition()  # notified at every start, stop and corruption
        self.rx_frames = self.rx_dropped = self.tx_frames = 0
        self.starts = [0, 0]
        self.stops = [0, 0]
        self.corruptions = []
        self.error = None  # an exception that ended the thread
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="vhost-user-dev", daemon=True)
        self.thread.start()

    # ---- QEMU's command line --------------------------------------------------------------
    def netdev(self, nid="n0"):
        return f"vhost-user,id={nid},chardev=vu_{nid}"

    def qemu_extra(self, nid="n0"):
        """The chardev that connects to us and guest RAM QEMU can share (memfd, share=on;
        -m must equal memory_mb)."""
        return ["-chardev", f"socket,id=vu_{nid},path={self.path}",
                "-object", f"memory-backend-memfd,id=vumem,size={self.memory_mb}M,share=on",
                "-machine", "memory-backend=vumem"]

    # ---- the wire's side ------------------------------------------------------------------
    def send(self, frame):
        """Queue a frame for the guest's receive ring (dropped, counted, beyond PENDING_MAX)."""
        with self.lock:
            if len(self.pending) >= PENDING_MAX:
                self.rx_dropped += 1
                return
            self.pending.append(bytes(frame))
        self._wake()

    def recv(self, timeout=None):
        """The next frame the guest transmitted, or None after timeout seconds."""
        try:
            return self.tx_out.get(timeout=timeout)
        except queue.Empty:
            return None

    def listen(self):
        """Frames are kept from the start."""

    # ---- misbehaviour ---------------------------------------------------------------------
    def _arm(self, kind, queue_name):
        q = QUEUES[queue_name]
        if kind == "stall_tx":
            q = TX
        with self.lock:
            self.armed[q] = kind
        self._note(f"armed {kind} on {'rx' if q == RX else 'tx'}")
        self._wake()

    def bad_id(self, queue="rx"):
        self._arm("bad_id", queue)

    def bad_idx(self, queue="rx"):
        self._arm("bad_idx", queue)

    def bad_len(self, queue="rx"):
        self._arm("bad_len", queue)

    def stall_tx(self):
        self._arm("stall_tx", "tx")

    def always(self, kind="bad_idx", queue="rx"):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        with self.lock:
            self.always_kind = (kind, TX if kind == "stall_tx" else QUEUES[queue])
        self._arm(kind, queue)

    def behave(self):
        """Honest from now on: nothing armed, the frames kept by stall_tx completed."""
        with self.lock:
            self.armed.clear()
            self.always_kind = None
        self._note("behave")
        self._wake()

    # ---- waiting on the device ------------------------------------------------------------
    def wait(self, pred, timeout):
        """Wait until pred(self) is true (checked at every start, stop and corruption);
        returns its last value."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(min(left, 0.2))
            return pred(self)

    def running(self):
        """Both rings started and enabled."""
        return all(r.started and r.enabled for r in self.rings)

    # ---- the thread ---------------------------------------------------------------------------
    def _wake(self):
        try:
            os.write(self.wake_w, b"x")
        except BlockingIOError:
            pass  # a wake-up is pending anyway

    def _note(self, text):
        self.log.append(f"{time.monotonic():.3f} {text}")

    def _changed(self):
        with self.changed:
            self.changed.notify_all()

    def _run(self):
        try:
            while not self.stopping:
                fds = [self.wake_r, self.conn or self.listener]
                kicks = {r.kick: r for r in self.rings if r.started and r.kick is not None}
                readable, _, _ = select.select(fds + list(kicks), [], [], 0.5)
                for fd in readable:
                    if fd is self.listener:
                        self._accept()
                    elif fd is self.conn:
                        self._message()
                    elif fd == self.wake_r:
                        os.read(self.wake_r, 4096)
                    elif fd in kicks:
                        try:
                            os.read(fd, 8)
                        except BlockingIOError:
                            pass
                if self.conn is not None:
                    self._serve_rings()
        except Exception as e:  # noqa: BLE001 - kept for the test to report
            if not self.stopping:
                self.error = e
                self._note(f"device thread ended: {e!r}")
        finally:
            self._changed()

    def _accept(self):
        self.conn, _ = self.listener.accept()
        self._note("QEMU connected")

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _message(self):
        try:
            data, fds, _, _ = socket.recv_fds(self.conn, HDR.size, MAX_FDS)
            if not data:
                raise EOFError
            data += self._recv_exact(HDR.size - len(data))
            request, flags, size = HDR.unpack(data)
            if size > MAX_PAYLOAD:
                raise DeviceError(f"message {request} with a {size}-byte payload")
            payload = self._recv_exact(size) if size else b""
        except (EOFError, ConnectionResetError):
            self._disconnected()
            return
        name = REQUEST_NAMES.get(request, str(request))
        self._note(f"{name} {payload.hex() if size <= 16 else f'({size} bytes)'}"
                   f"{' fds ' + str(len(fds)) if fds else ''}")
        status = 0
        try:
            reply = self._handle(request, payload, fds)
        except (DeviceError, IndexError, struct.error, OSError) as e:
            self._note(f"{name} refused: {e}")
            reply, status = None, 1
        finally:
            for fd in fds:  # every handler that keeps an fd dup()s or maps it
                os.close(fd)
        if reply is None and flags & FLAG_NEED_REPLY and self.protocol_features & PROTO_REPLY_ACK:
            reply = struct.pack("<Q", status)  # REPLY_ACK: 0 for success
        if reply is not None:
            self.conn.sendall(HDR.pack(request, FLAG_VERSION | FLAG_REPLY, len(reply)) + reply)

    def _disconnected(self):
        self._note("QEMU disconnected")
        self.conn.close()
        self.conn = None
        for r in self.rings:
            self._stop_ring(r)
            r.close_fds()
        if self.mem:
            self.mem.close()
            self.mem = None

    def _handle(self, request, payload, fds):
        """One message; returns the reply payload, or None for none."""
        u64 = struct.unpack_from("<Q", payload)[0] if len(payload) >= 8 else 0
        if request == GET_FEATURES:
            return struct.pack("<Q", DEVICE_FEATURES)
        if request == SET_FEATURES:
            self.features = u64
            if not u64 & F_PROTOCOL_FEATURES:  # no SET_VRING_ENABLE will come: enabled
                for r in self.rings:
                    r.enabled = True
        elif request == GET_PROTOCOL_FEATURES:
            return struct.pack("<Q", PROTOCOL_FEATURES)
        elif request == SET_PROTOCOL_FEATURES:
            self.protocol_features = u64 & PROTOCOL_FEATURES
        elif request == GET_QUEUE_NUM:
            return struct.pack("<Q", 2)
        elif request in (SET_OWNER, SET_LOG_BASE, SET_LOG_FD):
            pass
        elif request in (RESET_OWNER, RESET_DEVICE):
            for r in self.rings:
                self._stop_ring(r)
        elif request == SET_MEM_TABLE:
            if self.mem:
                self.mem.close()
            self.mem = Memory.from_message(payload, fds)
        elif request in (SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_ENABLE):
            index, num = struct.unpack_from("<II", payload)
            ring = self.rings[index]
            if request == SET_VRING_NUM:
                ring.num = num
            elif request == SET_VRING_BASE:
                ring.last_avail = ring.used_idx = num
            elif request == GET_VRING_BASE:
                self._stop_ring(ring)
                return struct.pack("<II", index, ring.last_avail & 0xFFFF)
            else:
                ring.enabled = bool(num)
                self._changed()
        elif request == SET_VRING_ADDR:
            index, _flags, desc, used, avail, _log = struct.unpack_from("<IIQQQQ", payload)
            self.rings[index].addrs = (desc, used, avail)
        elif request in (SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR):
            ring = self.rings[u64 & 0xFF]
            name = {SET_VRING_KICK: "kick", SET_VRING_CALL: "call", SET_VRING_ERR: "err"}[request]
            old = getattr(ring, name)
            if old is not None:
                os.close(old)
            fd = None if u64 & FD_INVALID or not fds else os.dup(fds[0])
            if fd is not None and name == "kick":
                os.set_blocking(fd, False)
            setattr(ring, name, fd)
            if name == "kick":
                self._start_ring(ring)
        else:
            self._note(f"unhandled request {request}")
        return None

    def _start_ring(self, ring):
        """SET_VRING_KICK: the ring starts. Whether it is enabled is SET_VRING_ENABLE's
        business (QEMU 7.2 sends it before the first start, and not again at a restart), or
        enabled for good when protocol features were not negotiated (SET_FEATURES)."""
        if self.mem is None or ring.addrs is None or not ring.num:
            raise DeviceError(f"queue {ring.index} kicked before its memory, size and addresses")
        ring.map(self.mem)
        ring.started = True
        ring.held = []
        self.starts[ring.index] += 1
        with self.lock:
            if self.always_kind and self.always_kind[1] == ring.index:
                self.armed[ring.index] = self.always_kind[0]
        self._note(f"queue {ring.index} started: size {ring.num}, avail/used from {ring.last_avail}")
        self._changed()

    def _stop_ring(self, ring):
        """GET_VRING_BASE (a reset of the device): forget what was taken and kept; a stall
        ends with it."""
        if not ring.started:
            return
        ring.started = False
        ring.held = []
        self.stops[ring.index] += 1
        with self.lock:
            if self.armed.get(ring.index) == "stall_tx":
                del self.armed[ring.index]
        self._note(f"queue {ring.index} stopped at avail {ring.last_avail}")
        self._changed()

    # ---- the device's work ------------------------------------------------------------------
    def _serve_rings(self):
        tx, rx = self.rings[TX], self.rings[RX]
        if tx.started:
            self._serve_tx(tx)
        if rx.started and rx.enabled:
            self._serve_rx(rx)

    def _take(self, queue_index):
        """The misbehaviour armed for this queue's next completion (one-shot kinds disarm)."""
        with self.lock:
            kind = self.armed.get(queue_index)
            if kind and kind != "stall_tx":
                del self.armed[queue_index]
            return kind

    def _complete(self, ring, head, length, kind):
        """Write one used entry, honest or as kind says; True when something was written."""
        if kind == "bad_id":
            busy = ring.heads_in_flight(self.mem) | {head}
            bogus = next((i for i in range(ring.num) if i not in busy), ring.num)
            ring.put_used(bogus, length)
            self._corrupted(kind, ring, f"used id {bogus} for head {head}")
        elif kind == "bad_idx":
            ring.put_used(head, length, idx_step=ring.num + 1)
            self._corrupted(kind, ring, f"used idx jumped to {ring.used_idx}")
        elif kind == "bad_len":
            ring.put_used(head, length)  # patched below: one byte more than the buffer holds
            mm, off = ring.used
            room = writable_room(ring.chain(self.mem, head))
            struct.pack_into("<I", mm, off + 4 + 8 * ((ring.used_idx - 1) % ring.num) + 4, room + 1)
            self._corrupted(kind, ring, f"used len {room + 1} for a {room}-byte buffer")
        else:
            ring.put_used(head, length)

    def _corrupted(self, kind, ring, what):
        queue_name = "rx" if ring.index == RX else "tx"
        self.corruptions.append((kind, queue_name, what))
        self._note(f"MISBEHAVED {kind} on {queue_name}: {what}")
        self._changed()

    def _serve_tx(self, ring):
        done = 0
        while ring.has_avail():
            try:
                head, bufs = ring.pop(self.mem)
            except DeviceError as e:
                self._note(f"tx: {e}")
                continue
            frame = read_chain(bufs)[self._hdr_len():]
            kind = self._take(TX)
            if kind == "stall_tx":
                ring.held.append((head, frame))
                continue
            if ring.enabled:  # a started but disabled ring discards what it sends
                self.tx_frames += 1
                self.tx_out.put(frame)
            self._complete(ring, head, 0, kind)
            done += 1
        with self.lock:
            release = ring.held and "stall_tx" not in self.armed.values()
        if release:  # behave() after stall_tx: the kept frames go out and complete
            for head, frame in ring.held:
                self.tx_frames += 1
                self.tx_out.put(frame)
                ring.put_used(head, 0)
                done += 1
            ring.held = []
        if done:
            ring.notify()

    def _hdr_len(self):
        return 12 if self.features & (VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MRG_RXBUF) else 10

    def _serve_rx(self, ring):
        done = 0
        while True:
            with self.lock:
                if not self.pending:
                    break
                frame = self.pending[0]
            if not ring.has_avail():
                break  # the guest kicks when it posts more
            with self.lock:
                self.pending.popleft()
            if self._receive_one(ring, frame):
                done += 1
        if done:
            ring.notify()

    def _receive_one(self, ring, frame):
        """One frame into one or (MRG_RXBUF) more receive chains; False if it was dropped."""
        mergeable = bool(self.features & VIRTIO_NET_F_MRG_RXBUF)
        hdr_len = self._hdr_len()
        data = bytes(hdr_len) + frame
        chains, room = [], 0
        avail = (ring.avail_idx() - ring.last_avail) & 0xFFFF
        while room < len(data):
            if chains and not (mergeable and len(chains) < avail):
                self.rx_dropped += 1  # too long for what the guest posted: drop, give back
                ring.last_avail -= len(chains)
                self._note(f"rx: {len(frame)}-byte frame does not fit; dropped")
                return False
            try:
                head, bufs = ring.pop(self.mem)
            except DeviceError as e:
                self._note(f"rx: {e}")
                self.rx_dropped += 1
                return False
            chains.append((head, bufs))
            room += writable_room(bufs)
        if hdr_len == 12:  # num_buffers
            data = data[:10] + struct.pack("<H", len(chains)) + data[12:]
        kind = self._take(RX)
        pos = 0
        for n, (head, bufs) in enumerate(chains):
            wrote = write_chain(bufs, data[pos:])
            pos += wrote
            self._complete(ring, head, wrote, kind if n == 0 else None)
        self.rx_frames += 1
        return True

    # ---- the end ------------------------------------------------------------------------------
    def close(self):
        """Stop the thread, close every fd and mapping, remove the socket. Idempotent."""
        if self.stopping:
            return
        self.stopping = True
        self._wake()
        self.thread.join(5)
        if self.conn is not None:
            self._disconnected()
        self.listener.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        try:
            os.unlink(self.path)
            if self.dir:
                os.rmdir(self.dir)
        except OSError:
            pass


def main():
    """python3 tests/qemu/vhost_user_dev.py [SOCKET]: the device with the fake host 10.0.2.2
    on it; prints QEMU's options, then reads commands on stdin."""
    import sys

    from fakehost import FakeHost

    dev = VhostUserDevice(sys.argv[1] if len(sys.argv) > 1 else None)
    host = FakeHost(dev)
    print("qemu-system-x86_64 ... -m 128 " + " ".join(dev.qemu_extra()) +
          f" -netdev {dev.netdev()} -device virtio-net-pci,netdev=n0,vectors=0")
    print("commands: bad_id rx|tx, bad_idx rx|tx, bad_len rx|tx, stall_tx, always KIND [rx|tx], "
          "behave, stats, log, quit")
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "stats":
                print(f"rx_frames {dev.rx_frames} rx_dropped {dev.rx_dropped} tx_frames {dev.tx_frames} "
                      f"starts {dev.starts} stops {dev.stops} corruptions {dev.corruptions}")
            elif words[0] == "log":
                print("\n".join(list(dev.log)[-40:]))
            elif words[0] in ("behave", "stall_tx") or words[0] in KINDS[:3] or words[0] == "always":
                getattr(dev, words[0])(*words[1:])
            else:
                print("unknown command")
    finally:
        host.close()  # closes the device too


if __name__ == "__main__":
    main()
