"""
tests/qemu/qemu_view.py - the device as QEMU sees it, for the tests that check the driver
against the other side rather than against what the driver prints about itself.

  - The HMP monitor (Guest.monitor): `info virtio` lists each virtio device's QOM path;
    `info virtio-status PATH` gives the status bits and the features offered ("Host
    features") and accepted ("Guest features") by name; `info virtio-queue-status PATH N`
    gives a queue's indices. These commands are in QEMU since 7.2.
  - QEMU's trace events (the "log" trace backend of distribution builds): `-D FILE -trace
    NAME` writes a line per event to FILE. Events can be switched on and off from the
    monitor (`trace-event NAME on`), so a test counts only what happened in its window.
    virtio_set_status (every status write the device took), virtio_queue_notify (a queue's
    handler ran because the driver notified it), virtio_notify (the device decided to
    interrupt the driver about a queue) are the ones used here; hw/virtio/trace-events in
    QEMU's tree lists them all.
  - The gdbstub (`-gdb unix:PATH,server=on,wait=off` with -S): stop the guest at a function
    of ours, look at the device through the monitor while nothing moves, go on.
"""
import os
import re
import socket
import subprocess
import time
from pathlib import Path

# Feature names as QEMU 7.2's `info virtio-status` prints them (hw/virtio/virtio.c's tables
# for the transport bits and virtio-net), with their bit numbers (virtio 1.2 sections 5.1.3
# and 6). A bit QEMU has no name for is printed as unknown-features(0x...).
FEATURE_BITS = {
    "VIRTIO_NET_F_CSUM": 0, "VIRTIO_NET_F_GUEST_CSUM": 1, "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS": 2,
    "VIRTIO_NET_F_MTU": 3, "VIRTIO_NET_F_MAC": 5, "VIRTIO_NET_F_GSO": 6,
    "VIRTIO_NET_F_GUEST_TSO4": 7, "VIRTIO_NET_F_GUEST_TSO6": 8, "VIRTIO_NET_F_GUEST_ECN": 9,
    "VIRTIO_NET_F_GUEST_UFO": 10, "VIRTIO_NET_F_HOST_TSO4": 11, "VIRTIO_NET_F_HOST_TSO6": 12,
    "VIRTIO_NET_F_HOST_ECN": 13, "VIRTIO_NET_F_HOST_UFO": 14, "VIRTIO_NET_F_MRG_RXBUF": 15,
    "VIRTIO_NET_F_STATUS": 16, "VIRTIO_NET_F_CTRL_VQ": 17, "VIRTIO_NET_F_CTRL_RX": 18,
    "VIRTIO_NET_F_CTRL_VLAN": 19, "VIRTIO_NET_F_CTRL_RX_EXTRA": 20,
    "VIRTIO_NET_F_GUEST_ANNOUNCE": 21, "VIRTIO_NET_F_MQ": 22, "VIRTIO_NET_F_CTRL_MAC_ADDR": 23,
    "VIRTIO_F_NOTIFY_ON_EMPTY": 24, "VIRTIO_F_ANY_LAYOUT": 27, "VIRTIO_RING_F_INDIRECT_DESC": 28,
    "VIRTIO_RING_F_EVENT_IDX": 29, "VHOST_USER_F_PROTOCOL_FEATURES": 30, "VIRTIO_F_BAD_FEATURE": 30,
    "VIRTIO_F_VERSION_1": 32, "VIRTIO_F_IOMMU_PLATFORM": 33, "VIRTIO_F_RING_PACKED": 34,
    "VIRTIO_F_IN_ORDER": 35, "VIRTIO_F_ORDER_PLATFORM": 36, "VIRTIO_F_SR_IOV": 37,
    "VIRTIO_F_NOTIFICATION_DATA": 38, "VIRTIO_F_RING_RESET": 40, "VIRTIO_NET_F_HOST_USO": 56,
    "VIRTIO_NET_F_HASH_REPORT": 57, "VIRTIO_NET_F_GUEST_HDRLEN": 59, "VIRTIO_NET_F_RSS": 60,
    "VIRTIO_NET_F_RSC_EXT": 61, "VIRTIO_NET_F_STANDBY": 62, "VIRTIO_NET_F_SPEED_DUPLEX": 63,
}

# Device status bits (virtio 1.2 section 2.1) by the names QEMU prints.
STATUS_BITS = {"VIRTIO_CONFIG_S_ACKNOWLEDGE": 0x01, "VIRTIO_CONFIG_S_DRIVER": 0x02,
               "VIRTIO_CONFIG_S_DRIVER_OK": 0x04, "VIRTIO_CONFIG_S_FEATURES_OK": 0x08,
               "VIRTIO_CONFIG_S_NEEDS_RESET": 0x40, "VIRTIO_CONFIG_S_FAILED": 0x80}


def virtio_net_path(g):
    """The QOM path of the guest's (first) virtio-net device, from `info virtio`."""
    out = g.monitor("info virtio")
    m = re.search(r"^(/\S+) \[virtio-net\]", out, re.M)
    assert m, f"info virtio lists no virtio-net device:\n{out}"
    return m.group(1)


def _features(block):
    """The feature bits of one 'Guest features:' or 'Host features:' block."""
    bits = 0
    for name in re.findall(r"^\s+(\w+):", block, re.M):
        if name not in FEATURE_BITS:
            raise AssertionError(f"QEMU printed a feature this table does not know: {name}")
        bits |= 1 << FEATURE_BITS[name]
    for extra in re.findall(r"unknown-features\((0x[0-9a-f]+)\)", block):
        bits |= int(extra, 16)
    return bits


def virtio_status(g, path=None):
    """QEMU's view of a virtio device: {"status": the status byte, "guest": the features the
    driver accepted, "host": those offered, "text": the monitor's words}."""
    path = path or virtio_net_path(g)
    out = g.monitor(f"info virtio-status {path}")
    parts = re.split(r"^  (status|Guest features|Host features|Backend features):\s*$", out, flags=re.M)
    if len(parts) < 9:
        raise AssertionError(f"info virtio-status gave no status and features:\n{out}")
    sections = dict(zip(parts[1::2], parts[2::2]))
    status = 0
    for name in re.findall(r"^\s+(VIRTIO_CONFIG_S_\w+):", sections["status"], re.M):
        status |= STATUS_BITS[name]
    return {"status": status, "guest": _features(sections["Guest features"]),
            "host": _features(sections["Host features"]), "text": out}


def queue_status(g, queue, path=None):
    """{field: int} of `info virtio-queue-status PATH QUEUE` (used_idx, last_avail_idx, ...)."""
    path = path or virtio_net_path(g)
    out = g.monitor(f"info virtio-queue-status {path} {queue}")
    fields = {k: int(v, 0) for k, v in re.findall(r"^\s+(\w+):\s+(0x[0-9a-f]+|\d+)\s*$", out, re.M)}
    assert "used_idx" in fields, out
    return fields


# ---- trace events ---------------------------------------------------------------------------

class Trace:
    """QEMU's trace events in a file of their own. QEMU writes them through stdio, so the file
    is complete only once QEMU has exited: read it after Guest.kill()."""

    def __init__(self, directory, events=("virtio_set_status",)):
        self.path = Path(directory) / "qemu-trace.log"
        self.events = list(events)

    def args(self):
        """QEMU arguments: the events on from the start (at least one must be, or the log
        backend writes nothing even for events switched on later)."""
        argv = ["-D", str(self.path)]
        for e in self.events:
            argv += ["-trace", e]
        return argv

    def records(self):
        """[(event, {field: value})] in order: the log backend's lines are 'name f1 v1 f2 v2'
        (with -msg timestamp=on a 'PID@TIME:' in front)."""
        out = []
        text = self.path.read_text(errors="replace") if self.path.exists() else ""
        for line in text.splitlines():
            m = re.match(r"^(?:\d+@[\d.]+:)?(\w+) (.*)$", line)
            if m:
                words = m.group(2).split()
                out.append((m.group(1), dict(zip(words[::2], words[1::2]))))
        return out


def set_trace(g, names, on):
    for n in names:
        out = g.monitor(f"trace-event {n} {'on' if on else 'off'}")
        assert not out.strip(), f"trace-event {n}: {out}"


# ---- the gdbstub ----------------------------------------------------------------------------

def symbol_address(elf, name):
    """The address of a function in the kernel's symbol table (nm)."""
    out = subprocess.run(["nm", str(elf)], capture_output=True, text=True, check=True).stdout
    m = re.search(rf"^([0-9a-f]+) [tT] {re.escape(name)}$", out, re.M)
    assert m, f"{elf} has no function {name}"
    return int(m.group(1), 16)


class GdbStub:
    """Just enough of GDB's remote protocol to stop a guest started with -S at a breakpoint,
    and to let it go again."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""

    def _send(self, payload):
        data = payload.encode()
        self.sock.sendall(b"$" + data + b"#" + f"{sum(data) & 0xff:02x}".encode())

    def _reply(self, timeout):
        """The next packet's payload (acks skipped); we ack it."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(rb"\$([^#]*)#[0-9a-fA-F]{2}", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self.sock.sendall(b"+")
                return m.group(1).decode()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the gdbstub did not answer")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                raise TimeoutError("the gdbstub did not answer") from None
            if not chunk:
                raise ConnectionError("the gdbstub closed the connection")
            self.buf += chunk

    def command(self, payload, timeout=10):
        self._send(payload)
        return self._reply(timeout)

    def run_to(self, address, timeout, give_up=None):
        """Set a breakpoint at address and continue: True once the guest stopped there. False
        when give_up() turned true first (checked twice a second) or timeout seconds passed:
        the guest is then stopped (^C) and left without the breakpoint either way."""
        assert self.command(f"Z0,{address:x},1") == "OK"
        self._send("c")
        deadline = time.monotonic() + timeout
        stopped = None
        while stopped is None:
            try:
                stopped = self._reply(0.5)
            except TimeoutError:
                if time.monotonic() > deadline or (give_up and give_up()):
                    self.sock.sendall(b"\x03")
                    self._reply(10)
                    break
        assert stopped is None or stopped.startswith(("T", "S")), f"not a stop: {stopped}"
        self.command(f"z0,{address:x},1")
        return stopped is not None

    def detach(self):
        """Let the guest run on without us."""
        try:
            self.command("D", 5)
        finally:
            self.sock.close()
