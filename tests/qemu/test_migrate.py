"""
tests/qemu/test_migrate.py - live migration and snapshots of a running guest under TCG (issue
18; docs/migration.md).

One TAP in a namespace of the test's own; the namespace's kernel is the host 10.0.2.2 and sends
the guest a UDP echo request (port 7) every ECHO_EVERY s, ECHO_COUNT of them at most, each
with its sequence number and seeded bytes, from a thread; a second thread keeps every ARP and
RARP frame on the TAP with its time.

  test_live_migration_under_echo: `migrate "exec:cat > FILE"` from the monitor while the echo
    runs (a live migration: the guest keeps running while its memory is copied, then stops
    for the last pass), the first QEMU quits, a second QEMU with the same devices and
    `-incoming "exec:cat FILE"` takes the same TAP and the guest runs on. Then:
      - the guest announces itself within a second of the second QEMU running: QEMU sets
        VIRTIO_NET_S_ANNOUNCE (GUEST_ANNOUNCE, with the control queue), the guest broadcasts
        gratuitous ARP (sender = target = 10.0.2.15, its MAC) and acknowledges;
      - every echo request sent from then on is answered, each reply equal to its request;
        no reply is ever wrong or doubled; every request sent before the migration began is
        answered too;
      - the shell answers, the control queue counted the announcement and no failure, and
        the guest's clock did not count the time it was stopped (TCG stops the TSC with the
        virtual clock and the migration carries it: uptime moved by less than the wall time
        by about the downtime);
      - a ping from the guest to the host works (its timers run: ARP, ping's wait).
  test_snapshot_to_file_and_back: the same state file restored twice: the guest saved while
    echoing, restored, run on (its state moves on), the QEMU quit, and the file restored again
    in a third QEMU: the guest is back at the saved moment, announces itself again, and
    echoes exactly again.
"""
import random
import re
import socket
import struct
import threading
import time

import pytest

from guest import GUEST_MAC, nic
from wire import Wire, need_tap, open_link

GUEST_IP = "10.0.2.15"
HOST_IP = "10.0.2.2"
ECHO_EVERY = 0.005   # s between echo requests
ECHO_COUNT = 4000    # at most (20 s at the rate above): every load loop is bounded
ANNOUNCE_WITHIN = 1.0
ETH_P_ARP, ETH_P_RARP = 0x0806, 0x8035


def payload(seq):
    rnd = random.Random(seq)
    return struct.pack("!I", seq) + rnd.randbytes(28 + seq % 64)


class Echo:
    """UDP echo requests to the guest from the namespace, every ECHO_EVERY s (bounded), and
    what came back: sent[seq] = time, got[seq] = [(time, ok)]."""

    def __init__(self, ns):
        with ns.entered():
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST_IP, 0))
        self.sock.settimeout(0.2)
        self.sent, self.got, self.stop = {}, {}, False
        self.tx = threading.Thread(target=self._send, daemon=True)
        self.rx = threading.Thread(target=self._recv, daemon=True)

    def __enter__(self):
        self.rx.start()
        self.tx.start()
        return self

    def _send(self):
        for seq in range(ECHO_COUNT):
            if self.stop:
                return
            self.sent[seq] = time.time()
            try:
                self.sock.sendto(payload(seq), (GUEST_IP, 7))
            except OSError:
                pass  # no route while the TAP has no reader: counted as unanswered
            time.sleep(ECHO_EVERY)

    def _recv(self):
        while not self.stop:
            try:
                data, src = self.sock.recvfrom(2048)
            except (socket.timeout, OSError):
                continue
            if len(data) >= 4:
                seq = struct.unpack("!I", data[:4])[0]
                self.got.setdefault(seq, []).append((time.time(), src == (GUEST_IP, 7) and data == payload(seq)))

    def __exit__(self, *exc):
        self.stop = True
        self.tx.join(5)
        time.sleep(0.3)
        self.rx.join(5)
        self.sock.close()

    def check_exact(self, ranges, repeat_before=0.0):
        """No reply wrong, none doubled (but those of requests sent before repeat_before: a
        snapshot restored twice answers again what it held unanswered when it was saved);
        every request sent in one of ranges [(t0, t1)] answered."""
        wrong = [s for s, r in self.got.items() if not all(ok for _, ok in r)]
        assert not wrong, f"wrong replies for {wrong[:10]}"
        doubled = [s for s, r in self.got.items() if len(r) > 1 and self.sent[s] >= repeat_before]
        assert not doubled, f"doubled replies for {doubled[:10]}"
        want = [s for s, t in self.sent.items() if any(a <= t <= b for a, b in ranges)]
        missing = [s for s in want if s not in self.got]
        assert want and not missing, f"{len(missing)} of {len(want)} unanswered: {missing[:10]}"
        return len(want)


class ArpWatch:
    """Every ARP and RARP frame the guest's side sends on the TAP, with its time."""

    def __init__(self, link):
        self.wire = Wire(link, ethertypes=(ETH_P_ARP, ETH_P_RARP))

    @property
    def frames(self):
        return list(zip(self.wire.times, self.wire.frames))

    def announcements(self, since):
        """Gratuitous ARP from the guest after since: broadcast requests, sender = target =
        its address, from its MAC."""
        mac, ip = bytes.fromhex(GUEST_MAC.replace(":", "")), socket.inet_aton(GUEST_IP)
        return [t for t, f in self.frames if t >= since and f[0:6] == b"\xff" * 6 and f[6:12] == mac
                and f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x01" and f[22:28] == mac
                and f[28:32] == ip and f[38:42] == ip]

    def rarps(self, since):
        return [t for t, f in self.frames if t >= since and f[12:14] == b"\x80\x35"]

    def close(self):
        self.wire.close()


@pytest.fixture
def world(boot, tmp_path):
    need_tap("the namespace's kernel as the echo client, and one TAP handed from QEMU to QEMU")
    link = open_link(host_addr=HOST_IP + "/24")
    watch = ArpWatch(link)
    state = tmp_path / "guest.state"

    def start(incoming=False):
        extra = ["-incoming", f"exec:cat {state}"] if incoming else []
        return boot(devices=[nic()], netdev=[link.netdev("n0")], netns=link.ns, extra=extra)

    yield start, link, watch, state
    watch.close()
    link.close()


def wait_migrated(g, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        info = g.monitor("info migrate")
        if "Migration status: completed" in info:
            return info
        assert "failed" not in info, info
        time.sleep(0.1)
    pytest.fail(f"migration did not complete within {timeout} s")


def save_and_quit(g, state):
    """migrate to the file (live), then end that QEMU; the time the guest stopped."""
    g.monitor(f'migrate "exec:cat > {state}"')
    wait_migrated(g)
    stopped = time.time()
    g.monitor("quit")
    g.proc.wait(10)
    return stopped


def restore(start):
    """A new QEMU on the same TAP takes the guest from the file; (guest, time it runs)."""
    g = start(incoming=True)
    end = time.time() + 60
    while "running" not in g.monitor("info status"):
        assert time.time() < end, "the restored guest never ran"
        time.sleep(0.05)
    running = time.time()
    g._at_prompt = True  # the shell sat at its prompt when the guest was saved
    return g, running


def uptime_s(g):
    m = re.search(r"uptime: (\d+)\.(\d{3}) s", g.cmd("uptime"))
    assert m, g.log[-500:]
    return int(m.group(1)) + int(m.group(2)) / 1000


def check_restored(g, watch, running, loaded_from):
    """Announced within ANNOUNCE_WITHIN of running; the shell and the counters say so."""
    g.wait_for(r"the device asks us to announce ourselves \(VIRTIO_NET_S_ANNOUNCE\)", timeout=10)
    deadline = time.time() + 3
    while not watch.announcements(loaded_from) and time.time() < deadline:
        time.sleep(0.05)
    seen = watch.announcements(loaded_from)
    assert seen, "no gratuitous ARP from the guest after the restore"
    assert seen[0] - running <= ANNOUNCE_WITHIN, f"first announcement {seen[0] - running:.3f} s after resuming"
    print(f"first announcement {seen[0] - running:.3f} s after the restored guest ran")
    out = g.cmd("netstat")
    m = re.search(r"eth0: ctrl_sent \d+ ctrl_ok \d+ ctrl_failed (\d+) .*announces (\d+) ctrl_state ok", out)
    assert m and m.group(1) == "0" and int(m.group(2)) >= 1, out
    return seen[0]


def test_live_migration_under_echo(world):
    start, link, watch, state = world
    g = start()
    g.wait_ready()
    before_up = uptime_s(g)
    before_wall = time.time()
    with Echo(link.ns) as echo:
        time.sleep(1.0)
        migrate_at = time.time()
        stopped = save_and_quit(g, state)
        time.sleep(1.0)  # the guest is nowhere for a while: its TAP has no reader
        loaded_from = time.time()
        g2, running = restore(start)
        announced = check_restored(g2, watch, running, loaded_from)
        time.sleep(2.0)  # echoes after the move
        last = time.time()
    answered = echo.check_exact([(before_wall, migrate_at - 0.05), (announced + 0.05, last - 0.3)])
    assert answered > 200, answered
    # the downtime did not enter the guest's clock (TCG: the TSC stops and migrates)
    guest_elapsed = uptime_s(g2) - before_up
    wall_elapsed = time.time() - before_wall
    assert guest_elapsed < wall_elapsed - (running - stopped) + 0.5, (guest_elapsed, wall_elapsed)
    # QEMU's own RARP (qemu_announce_self) goes out too, from the guest's MAC
    assert watch.rarps(loaded_from), "no RARP from QEMU after the restore"
    out = g2.cmd(f"ping {HOST_IP} -c 3 -i 200", timeout=20)
    assert "3 packets transmitted, 3 received" in out, out


def test_snapshot_to_file_and_back(world):
    start, link, watch, state = world
    g = start()
    g.wait_ready()
    with Echo(link.ns) as echo:
        time.sleep(0.5)
        saved_at = time.time()
        save_and_quit(g, state)
        first_from = time.time()
        g2, running = restore(start)
        first = check_restored(g2, watch, running, first_from)
        time.sleep(1.0)
        mid = time.time()
        g2.cmd("ifconfig eth0 promisc on")  # a change after the snapshot, undone by going back
        g2.monitor("quit")
        g2.proc.wait(10)
        time.sleep(0.5)
        second_from = time.time()
        g3, running3 = restore(start)
        second = check_restored(g3, watch, running3, second_from)
        time.sleep(1.5)
        last = time.time()
    echo.check_exact([(first + 0.05, mid - 0.3), (second + 0.05, last - 0.3)], repeat_before=saved_at + 1.0)
    replayed = [s for s, r in echo.got.items() if len(r) > 1]
    assert all(len(echo.got[s]) == 2 for s in replayed), replayed
    assert saved_at < first < second
    # back at the saved moment: the change made after it is gone, in the guest and in QEMU
    # (the restored device state has promisc off)
    assert "promisc" not in g3.cmd("ifconfig").split("\n")[0]
