"""
tests/qemu/test_vhost_user.py - the guest against a virtio-net device that misbehaves and
behaves again (issue 14: "a device that misbehaves: recover by itself").

The device is ours: tests/qemu/vhost_user_dev.py, a vhost-user back-end served by a thread of
this process. QEMU keeps the PCI function and hands it the rings in guest memory (a memfd
shared with us), so every used entry the guest reads was written by this test. The host
10.0.2.2 on that wire is tests/qemu/fakehost.py's FakeHost; no TAP, no namespace, no
privilege, nothing leaves the process pair.

One guest (ip=10.0.2.15/24 gw=10.0.2.2, INTx: see below) runs for the module:
  - frames both ways, byte for byte: ARP, ping, UDP echo of 0..1472 bytes, frames of 60..1514
    bytes to the guest (its frame log's lengths and CRCs), `sendraw` frames from it;
  - then, once per kind of misbehaviour, on the receive or the transmit queue: traffic; the
    device misbehaves once (a used id not in flight, a used index jumping past the ring,
    transmitted frames never completed); the guest must notice, reset the device and be back
    on its own within seconds, with the reason and the recovery on its console, exactly one
    recovery counted, traffic exact again, and nothing leaked (netbuf in_use at its baseline,
    the receive ring full, nothing in flight);
  - a used length larger than the buffer loses nothing, so it is counted and no reset follows;
  - last, a device that corrupts its rings again after every reset: the guest gives up with
    the device FAILED, says so once, and its shell still answers.

Interrupts: QEMU 7.2 under TCG segfaults in vhost_net_start when the guest has enabled MSI-X
on a vhost-user NIC (per-queue or shared vectors alike), so the NIC has no MSI-X (vectors=0)
and the driver takes INTx. docs/backends.md says more.
"""
import os
import re
import socket
import subprocess
import time

import pytest

from fakehost import FakeHost
from guest import GUEST_MAC, find_qemu
from test_hostile import Hostile
from test_net import check_rx_sizes, check_tx
from test_stack import GUEST_IP, HOST_IP, start_guest
from vhost_user_dev import VhostUserDevice
from wire import TEST_ETHERTYPE, Pump, mac_bytes, make_frame

TRIGGER_RE = r"eth0: ([^;\n]+); resetting the device in (\d+) ms"
BACK_RE = r"eth0: device back after (\d+) ms down \(recovery (\d+)\)"
FAILED_RE = r"eth0: device FAILED"
RECOVERY_S = 15  # a broken ring: noticed at once, reset within a second or two
WATCHDOG_RECOVERY_S = 20  # a transmit stall: the watchdog waits 5 s first
GIVE_UP_S = 60


def vhost_user_unavailable():
    """Why vhost-user cannot run here, or None."""
    if not hasattr(os, "memfd_create"):
        return "this Python has no os.memfd_create (QEMU's guest RAM must be a shared memfd)"
    try:
        os.close(os.memfd_create("vnet-probe"))
    except OSError as e:
        return f"memfd_create fails here: {e}"
    if not hasattr(socket, "recv_fds"):
        return "this Python has no socket.recv_fds (the fds of SET_MEM_TABLE come by SCM_RIGHTS)"
    try:
        out = subprocess.run([find_qemu(), "-netdev", "help"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run QEMU: {e}"
    if "vhost-user" not in out.split():
        return "this QEMU has no vhost-user netdev"
    return None


class CapturedFrames:
    """test_net's wire view (frames of the test ethertype the guest sent; wait_count) over the
    fake host's record: the fake host is the device's only reader."""

    def __init__(self, host):
        self.host = host
        self.src = mac_bytes(GUEST_MAC)

    @property
    def frames(self):
        return [f for _, f in list(self.host.record)
                if f[6:12] == self.src and f[12:14] == TEST_ETHERTYPE.to_bytes(2, "big")]

    def send(self, frame):
        self.host.send(frame)

    def wait_count(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.frames) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.frames)


class VhostUser(Hostile):
    """test_hostile's guest and its checks (counters, queues, settled, udp_echo_exact), on our
    device. Hostile.__init__ is not called: it would open a TAP or socket wire."""

    def __init__(self, workdir):
        self.dev = VhostUserDevice()
        self.host = FakeHost(self.dev)  # closing it closes the device
        self.host_mac = self.host.mac
        self.wire = CapturedFrames(self.host)
        self.g = None
        try:
            self.g = start_guest(workdir, None, f"ip={GUEST_IP}/24 gw={HOST_IP}", self.dev.netdev(),
                                 extra=self.dev.qemu_extra() + ["-global", "virtio-net-pci.vectors=0"],
                                 name="vhost-user")
            self.g.wait_for(r"(?:^|vnet> )net: ready ip=10\.0\.2\.15 ", timeout=60)
            self.g.wait_for(r"vnet> ", timeout=30)
            q, _ = self.queues()
            self.rx_free_baseline = q["rx0"][1]
            self.in_use_baseline = self.counters()[0]["eth0.rx_posted"]  # at rest: all posted
        except Exception:
            self.close()
            raise

    @classmethod
    def start(cls, workdir):
        """A guest on our device, or the test skipped with the reason vhost-user cannot run."""
        why = vhost_user_unavailable()
        if why:
            pytest.skip(why)
        return cls(workdir)

    def close(self):
        super().close()
        assert self.dev.error is None, f"the device's thread failed: {self.dev.error!r}"

    def exact(self):
        """Everything both ways, byte for byte, and every buffer back: ARP, ping and UDP echo
        answered exactly (test_hostile's alive() with shorter waits: our device is quick),
        frames to the guest as its frame log saw them, `sendraw` frames from it."""
        macs = []
        for _ in range(3):  # bounded; a reply late for one window may arrive in the next
            macs += self.host.arping(GUEST_IP, 1, wait=0.5)
            if macs:
                break
        assert macs and set(macs) == {GUEST_MAC}, macs
        self.traffic(3)
        self.udp_echo_exact([0, 1, 100, 1472])
        check_rx_sizes(self.g, self.wire, [60, 61, 100, 1000, 1514])
        check_tx(self.g, self.wire, 3, 1514)
        return self.at_rest()

    def traffic(self, count):
        r = self.host.ping(GUEST_IP, count, size=200, interval=0.05, wait=2)
        assert (r.sent, r.received, r.errors) == (count, count, []), r.text

    def at_rest(self, timeout=10):
        """netstat once the pool is at its baseline (test_hostile's settled(), and nothing in
        flight)."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.settled()
            if (v["netbuf.in_use"] == self.in_use_baseline and v["eth0.tx_inflight"] == 0) \
                    or time.monotonic() > deadline:
                return v
            time.sleep(0.3)


@pytest.fixture(scope="module")
def vu(tmp_path_factory):
    st = VhostUser.start(tmp_path_factory.mktemp("vhost_user"))
    yield st
    st.close()


def test_frames_both_ways_exact(vu):
    assert vu.dev.running() and vu.dev.starts == [1, 1]
    v = vu.exact()
    assert v["netbuf.in_use"] == vu.in_use_baseline, v
    assert vu.dev.corruptions == [] and vu.dev.rx_dropped == 0
    assert vu.dev.rx_frames > 0 and vu.dev.tx_frames > 0


def provoke(vu, queue):
    """One completion on the queue: a frame to the guest (rx), or one from it (tx)."""
    if queue == "rx":
        vu.host.send(make_frame(100, 1))  # our test ethertype: the guest drops it, counted
    else:
        assert "1 frames of 60 bytes queued" in vu.g.cmd("sendraw 1 60")


def bad_used(vu):
    """netstat's ring line -> {"rx": (id, len, idx), "tx": (...)}: the used entries the ring
    refused since the queues were last made."""
    out = vu.counters()[1]
    m = re.search(r"ring rx bad_used id (\d+) len (\d+) idx (\d+); tx bad_used id (\d+) len (\d+) idx (\d+)", out)
    assert m, out
    n = [int(x) for x in m.groups()]
    return {"rx": tuple(n[:3]), "tx": tuple(n[3:])}


# id, device method, queue, what the guest says as it resets the device, seconds. All of them
# run on one guest within a minute, so they must stay fewer than the driver's 8 resets a
# minute (RECOVERY_MAX_PER_MIN), past which it gives up; the waits double meanwhile.
MODES = [
    ("bad-id-rx", "bad_id", "rx", "rx queue: used id not in flight", RECOVERY_S),
    ("bad-id-tx", "bad_id", "tx", "tx queue: used id not in flight", RECOVERY_S),
    ("bad-idx-rx", "bad_idx", "rx", "rx queue broken", RECOVERY_S),
    ("bad-idx-tx", "bad_idx", "tx", "tx queue broken", RECOVERY_S),
    ("stall-tx", "stall_tx", "tx", "transmit timeout", WATCHDOG_RECOVERY_S),
]
# A used length larger than the buffer loses nothing: the ring hands the buffer back with
# length 0 (dropped, counted) and the queue stays in step, so the guest needs no reset.
ABSORBED = [("bad-len-rx", "rx"), ("bad-len-tx", "tx")]


def misbehave(vu, method, queue):
    """Arm the device, make it complete something, and see it misbehave (a stall only holds)."""
    corruptions = len(vu.dev.corruptions)
    if method == "stall_tx":
        vu.dev.stall_tx()
    else:
        getattr(vu.dev, method)(queue)
    provoke(vu, queue)
    if method != "stall_tx":
        assert vu.dev.wait(lambda d: len(d.corruptions) > corruptions, 10), "the device never misbehaved"
        assert len(vu.dev.corruptions) == corruptions + 1, vu.dev.corruptions


@pytest.mark.parametrize("method,queue,reason,within", [m[1:] for m in MODES], ids=[m[0] for m in MODES])
def test_misbehaves_then_recovers(vu, method, queue, reason, within):
    vu.traffic(1)
    recoveries = vu.at_rest()["eth0.device_recoveries"]
    starts = list(vu.dev.starts)
    mark = len(vu.g.log)
    misbehave(vu, method, queue)

    m = vu.g.wait_for(TRIGGER_RE, timeout=within, since=mark)
    assert m.group(1) == reason, m.group(0)
    back = vu.g.wait_for(BACK_RE, timeout=within, since=m.end())
    print(f"\n{method} {queue}: {back.group(0)}")  # the time down, for docs/hardening.md (-s)
    assert int(back.group(2)) == recoveries + 1, back.group(0)
    assert vu.dev.wait(lambda d: d.running() and min(d.starts[0] - starts[0], d.starts[1] - starts[1]) == 1, 10), \
        f"the rings were not set up again exactly once: {vu.dev.starts} after {starts}"

    v = vu.exact()
    assert v["eth0.device_recoveries"] == recoveries + 1, v
    assert v["netbuf.in_use"] == vu.in_use_baseline and v["eth0.tx_inflight"] == 0, v
    log = vu.g.log[mark:]
    assert len(re.findall(TRIGGER_RE, log)) == 1 and len(re.findall(BACK_RE, log)) == 1, log
    assert vu.dev.starts == [s + 1 for s in starts], vu.dev.starts


@pytest.mark.parametrize("queue", [a[1] for a in ABSORBED], ids=[a[0] for a in ABSORBED])
def test_bad_length_counted_without_reset(vu, queue):
    vu.traffic(1)
    recoveries = vu.at_rest()["eth0.device_recoveries"]
    refused = bad_used(vu)[queue]
    starts = list(vu.dev.starts)
    mark = len(vu.g.log)
    misbehave(vu, "bad_len", queue)
    want = (refused[0], refused[1] + 1, refused[2])
    deadline = time.monotonic() + 5  # the guest takes the entry at its next poll
    while bad_used(vu)[queue] != want and time.monotonic() < deadline:
        time.sleep(0.1)
    assert bad_used(vu)[queue] == want
    v = vu.exact()  # many receive polls and transmit ticks: each would have started a reset
    assert v["eth0.device_recoveries"] == recoveries and vu.dev.starts == starts, v
    assert not re.search(TRIGGER_RE, vu.g.log[mark:]), vu.g.log[mark:]


def test_always_misbehaving_ends_failed(tmp_path):
    """A device that corrupts its receive ring after every reset: the guest gives up with the
    device FAILED, says so once, and its shell answers; then an honest device and `netreset`
    bring it back. A guest of its own, so that the recoveries before do not count."""
    vu = VhostUser.start(tmp_path)
    try:
        vu.exact()
        mark = len(vu.g.log)
        vu.dev.always("bad_idx", "rx")
        try:
            with Pump(lambda n: vu.host.send(make_frame(100, n)), every=0.02, limit=int(GIVE_UP_S / 0.02)):
                vu.g.wait_for(FAILED_RE, timeout=GIVE_UP_S, since=mark)
        finally:
            vu.dev.behave()
        time.sleep(0.5)  # anything more it would print
        log = vu.g.log[mark:]
        assert len(re.findall(FAILED_RE, log)) == 1, log
        backs = len(re.findall(BACK_RE, log))
        assert backs >= 1 and len(vu.dev.corruptions) == backs + 1, (backs, vu.dev.corruptions)
        assert "uptime" in vu.g.cmd("help")
        assert re.search(r"^uptime: \d+\.\d+ s", vu.g.cmd("uptime"), re.M)
        v, out = vu.counters()
        assert re.search(r"^eth0: recovery .* state failed ", out, re.M), out
        assert v["eth0.device_recoveries"] == backs, out

        assert "netreset" in vu.g.cmd("netreset", timeout=30)
        v = vu.exact()
        assert v["netbuf.in_use"] == vu.in_use_baseline and v["eth0.tx_inflight"] == 0, v
    finally:
        vu.close()
