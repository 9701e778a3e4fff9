"""
tests/qemu/test_arp.py - ARP freshness and address conflict detection (net/arp.c, issue 16)
against a host on the guest's wire: the Linux kernel of a namespace on a TAP, or the test
itself with scapy on the unix-socket wire (tests/qemu/fakehost.py). QEMU's filter-dump
records the guest's NIC; the checks read that capture, so they are the same on both wires.

  - A steady UDP echo flow across four ends of the reachable time (arp_reachable_ms=1000, so
    a few seconds): every datagram comes back, none waited on an ARP entry
    (arp.resolve_queued), no broadcast request was needed: the entry was re-confirmed by
    requests unicast to the host's MAC (RFC 1122 2.3.2.1).
  - Defence (RFC 5227 2.4): a claim of our address from another MAC gets one announcement and
    a console line; a second within DEFEND_INTERVAL gets none, a line, and the address stays.
  - acd=1 (RFC 5227 2.1.1, 2.3): three probes PROBE_MIN..PROBE_MAX apart, the address set
    ANNOUNCE_WAIT after the last, then two announcements ANNOUNCE_INTERVAL apart; when the
    host answers a probe for the address, the guest never takes it.
  - Without acd=1 nothing is probed: the address is set at start-up, as before.

The long RFC timers (60 s reachable time, DEFEND_INTERVAL after a defence, RATE_LIMIT_INTERVAL)
are covered by tests/unit/test_net_arp.c on a simulated clock. The host never has to ask for
the guest (a permanent neighbour entry), so every ARP frame on the wire is the guest's or the
test's own. About 25 s under TCG.
"""
import queue
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from counters import inetstat
from fakehost import FakeHost, open_host
from guest import GUEST_MAC
from test_stack import GUEST_IP, HOST_IP, capture_netdev, need_programs, start_guest
from wire import have_tap

scapy = pytest.importorskip("scapy.all", reason="python3-scapy is not installed (tools/deps.sh test)")
from scapy.all import ARP, Ether, PcapReader  # noqa: E402

BOGUS_MAC = "02:de:ad:00:00:01"
ZERO_MAC = "00:00:00:00:00:00"
BROADCAST = "ff:ff:ff:ff:ff:ff"
REACHABLE_MS = 1000
SLACK = 0.3  # s: how far a guest timer may run late, seen from the capture (TCG)


def need_wire_tools():
    if have_tap():
        need_programs("ip")


def capture(pcap):
    """(time, Ether) for each frame QEMU's filter-dump has written so far (it writes each frame
    as it passes; a record still being written at the end is left out). The times are QEMU's
    virtual clock from a whole second at its start: compare them with each other only."""
    frames = []
    try:
        with PcapReader(str(pcap)) as r:
            for p in r:
                frames.append((float(p.time), p))
    except (EOFError, OSError, ValueError):
        pass  # a record cut short at the end of the file
    return frames


def guest_arp(frames, op=None, since=0):
    """The guest's ARP frames (time, Ether) from frame number `since` on, of operation op
    (None: any)."""
    return [(t, p) for t, p in frames[since:]
            if ARP in p and p[ARP].hwsrc == GUEST_MAC and p.src == GUEST_MAC and (op is None or p[ARP].op == op)]


def is_announcement(p):
    """RFC 5227 2.3: a broadcast request, sender and target IP ours, target MAC zero."""
    a = p[ARP]
    return (p.dst == BROADCAST and a.op == 1 and a.psrc == GUEST_IP and a.pdst == GUEST_IP
            and a.hwdst == ZERO_MAC)


def is_probe(p):
    """RFC 5227 2.1.1: a broadcast request from our MAC, sender IP 0.0.0.0, target MAC zero."""
    a = p[ARP]
    return (p.dst == BROADCAST and a.op == 1 and a.psrc == "0.0.0.0" and a.pdst == GUEST_IP
            and a.hwdst == ZERO_MAC)


class Run:
    """One guest on a fresh wire with the host 10.0.2.2 on it, its NIC captured. prepare(host)
    runs before QEMU starts."""

    def __init__(self, workdir, append, name, prepare=None):
        self.pcap = Path(workdir) / f"{name}.pcap"
        self.host = open_host()
        self.g = None
        try:
            self.host.neigh_permanent(GUEST_IP, GUEST_MAC)  # the host never asks for us
            if prepare:
                prepare(self.host)
            self.g = start_guest(workdir, self.host.link.netns, append, capture_netdev(self.host.link),
                                 extra=["-object", f"filter-dump,id=cap0,netdev=n0,file={self.pcap}"],
                                 name=name)
            self.g.wait_ready(timeout=60)
        except Exception:
            self.close()
            raise

    def frames(self):
        return capture(self.pcap)

    def mark(self):
        """Where the capture stands now (after a moment for what is on its way)."""
        time.sleep(0.2)
        return len(self.frames())

    def uptime(self):
        """(host time.monotonic(), the guest's uptime then): for the guest clock's rate."""
        t0 = time.monotonic()
        out = self.g.cmd("uptime")
        t1 = time.monotonic()
        return (t0 + t1) / 2, float(re.search(r"uptime: ([\d.]+) s", out).group(1))

    def claim(self, op):
        """Someone at BOGUS_MAC says it has the guest's address (broadcast)."""
        self.host.send(Ether(dst=BROADCAST, src=BOGUS_MAC) /
                       ARP(op=op, hwsrc=BOGUS_MAC, psrc=GUEST_IP, hwdst=ZERO_MAC, pdst=GUEST_IP))

    def close(self):
        if self.g:
            self.g.kill()
        self.host.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    need_wire_tools()
    r = Run(tmp_path_factory.mktemp("arp"), f"ip={GUEST_IP}/24 gw={HOST_IP} arp_reachable_ms={REACHABLE_MS}",
            "arp")
    yield r
    r.close()


def test_no_probe_by_default(run):
    """Without acd=1 the address is set during start-up, before the boot completes: nothing
    waits for a probe."""
    log = run.g.log
    assert "arp: probing" not in log
    assert 0 <= log.find("net: ready ip=10.0.2.15 ") < log.find("ready: boot complete"), log
    c = inetstat(run.g)
    assert c["arp.tx_probes"] == 0 and c["arp.probes_clear"] == 0, c


def test_steady_flow_across_expiry(run):
    """UDP echoes every 20 ms across at least four ends of the 1 s reachable time (counted in
    the guest's own seconds: the flow goes on, 50 datagrams at a time, until four polls went
    out; at most 1500 datagrams)."""
    keys = ("resolve_queued", "resolve_failed", "resolve_queue_full", "tx_requests", "tx_polls", "reconfirmed",
            "entries_expired")
    s = run.host.udp_socket()
    s.settimeout(2.0)
    try:
        s.sendto(b"warm-up", (GUEST_IP, 7))  # the guest learns the host's MAC (one resolution)
        assert s.recvfrom(100)[0] == b"warm-up"
        before = inetstat(run.g)
        start, mark = time.monotonic(), run.mark()
        lost, n = [], 0
        while n < 1500:  # bounded: each datagram waited for at most 2 s
            for _ in range(50):
                t0 = time.monotonic()
                payload = b"flow %d " % n + bytes(range(n % 200))
                s.sendto(payload, (GUEST_IP, 7))
                try:
                    data, src = s.recvfrom(2048)
                    assert (data, src) == (payload, (GUEST_IP, 7)), f"datagram {n} came back changed"
                except socket.timeout:
                    lost.append(n)
                n += 1
                time.sleep(max(0.0, t0 + 0.02 - time.monotonic()))
            after = inetstat(run.g)
            d = {k: after.get("arp." + k, 0) - before.get("arp." + k, 0) for k in keys}
            if d["tx_polls"] >= 4 or d["resolve_queued"] >= 4:
                break
        elapsed = time.monotonic() - start
    finally:
        s.close()
    print(f"\n{n} echoes over {elapsed:.1f} s, lost {len(lost)}, arp {d}")
    assert lost == [], f"lost {len(lost)} of {n}: {lost[:20]}"
    assert d["resolve_queued"] == 0 and d["resolve_queue_full"] == 0 and d["resolve_failed"] == 0, d
    assert d["tx_requests"] == 0, d  # no broadcast
    assert d["entries_expired"] == 0, d
    assert d["tx_polls"] >= 4 and d["reconfirmed"] >= 4, d
    # on the wire: every request the guest sent for the host during the flow went to its MAC
    reqs = [p for t, p in guest_arp(run.frames(), op=1, since=mark) if p[ARP].pdst == HOST_IP]
    assert len(reqs) >= d["tx_polls"], [p.summary() for p in reqs]
    assert all(p.dst == run.host.mac and p[ARP].psrc == GUEST_IP for p in reqs), [p.summary() for p in reqs]


def test_defends_its_address(run):
    """RFC 5227 2.4: one defence, then none within DEFEND_INTERVAL; the address stays."""
    g = run.g
    before = inetstat(g)
    mark = run.mark()
    run.claim(op=1)
    g.wait_for(r"arp: address conflict: 10\.0\.2\.15 claimed by 02:de:ad:00:00:01; defending it "
               r"\(RFC 5227 2\.4\)\n", timeout=10)
    run.claim(op=2)
    g.wait_for(r"arp: address conflict: 10\.0\.2\.15 claimed by 02:de:ad:00:00:01 again within 10 s; "
               r"keeping the address without defending it \(RFC 5227 2\.4 \(c\)\)\n", timeout=10)
    run.claim(op=2)  # counted, not said again
    time.sleep(0.5)
    after = inetstat(g)
    d = {k: after["arp." + k] - before["arp." + k] for k in ("rx_conflicts", "tx_defends", "conflicts_undefended")}
    assert d == {"rx_conflicts": 3, "tx_defends": 1, "conflicts_undefended": 2}, d
    assert len(re.findall(r"arp: address conflict", g.log)) == 2
    mine = [p for t, p in guest_arp(run.frames(), since=mark) if p[ARP].psrc == GUEST_IP and p[ARP].op == 1]
    assert len(mine) == 1 and is_announcement(mine[0]), [p.summary() for p in mine]
    # still ours: the host reaches the guest
    assert "inet 10.0.2.15/24" in g.cmd("inet")
    r = run.host.ping(GUEST_IP, 3, interval=0.2, wait=2)
    assert (r.sent, r.received, r.errors) == (3, 3, []), r.text


def test_guest_arp_frames_well_formed(run):
    """Every ARP frame the guest sent: a request or reply from its MAC, with its address as
    sender (it has had one all along)."""
    frames = guest_arp(run.frames())
    assert frames
    for t, p in frames:
        assert p[ARP].op in (1, 2) and p[ARP].psrc == GUEST_IP, p.summary()


# ---- acd=1: probing before use (each a guest of its own) -----------------------------------------

def test_acd_probes_then_announces(tmp_path):
    """The RFC 5227 timers on the wire, in the guest's seconds: its clock is the TSC as
    calibrated at boot against the PIT, which under TCG on a busy host may be off by tens of
    per cent, so its rate against the capture's clock is measured (two `uptime`s)."""
    need_wire_tools()
    r = Run(tmp_path, f"ip={GUEST_IP}/24 gw={HOST_IP} acd=1", "acd")
    try:
        g = r.g
        g.wait_for(r"arp: probing 10\.0\.2\.15 before use \(RFC 5227 2\.1\.1\)", timeout=10, since=0)
        h0, u0 = r.uptime()
        g.wait_for(r"net: ready ip=10\.0\.2\.15 ", timeout=30)
        time.sleep(max(0.0, h0 + 3 - time.monotonic()))
        h1, u1 = r.uptime()
        rate = (h1 - h0) / (u1 - u0)  # host seconds per guest second
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the second announcement, 2 s after the first
            if len([p for t, p in guest_arp(r.frames()) if is_announcement(p)]) >= 2:
                break
            time.sleep(0.2)
        time.sleep(0.3)
        arp = guest_arp(r.frames())
        t0 = min(t for t, p in arp) if arp else 0
        probes = [(t - t0) / rate for t, p in arp if is_probe(p)]  # guest seconds
        announces = [(t - t0) / rate for t, p in arp if is_announcement(p)]
        print(f"\nguest clock rate {rate:.3f}; in guest seconds: probes at "
              f"{[round(t, 3) for t in probes]}, announcements at {[round(t, 3) for t in announces]}")
        assert len(probes) == 3, [p.summary() for t, p in arp]
        for a, b in zip(probes, probes[1:]):
            assert 1.0 - SLACK <= b - a <= 2.0 + SLACK, probes  # PROBE_MIN..PROBE_MAX
        assert len(announces) == 2, [p.summary() for t, p in arp]
        assert 2.0 - SLACK <= announces[0] - probes[-1] <= 2.0 + SLACK  # ANNOUNCE_WAIT
        assert 2.0 - SLACK <= announces[1] - announces[0] <= 2.0 + SLACK  # ANNOUNCE_INTERVAL
        assert all(is_probe(p) for t, p in arp if (t - t0) / rate < announces[0])  # nothing else before
        c = inetstat(g)
        assert (c["arp.tx_probes"], c["arp.probes_clear"], c["arp.probe_conflicts"], c["arp.tx_announces"]) \
            == (3, 1, 0, 2), c
        p = r.host.ping(GUEST_IP, 2, interval=0.2, wait=2)
        assert p.received == 2, p.text
    finally:
        r.close()


def answer_probes_as_owner(host):
    """The host claims 10.0.2.15 as well and answers the guest's probe for it: on a TAP its
    kernel (the address added to the namespace's tap); on the socket wire a thread of ours,
    with the reply an owner sends (sender 10.0.2.15, target IP 0.0.0.0)."""
    if have_tap():
        host.ns.run(["ip", "addr", "add", GUEST_IP + "/24", "dev", host.ns.tap])
        return
    assert isinstance(host, FakeHost)
    q = host.listen(lambda p: ARP in p and p[ARP].op == 1 and p[ARP].psrc == "0.0.0.0" and p[ARP].pdst == GUEST_IP)

    def answer():
        try:
            p = q.get(timeout=60)
        except queue.Empty:
            return
        host.send(Ether(dst=p.src, src=host.mac) /
                  ARP(op=2, hwsrc=host.mac, psrc=GUEST_IP, hwdst=p[ARP].hwsrc, pdst="0.0.0.0"))
    threading.Thread(target=answer, daemon=True).start()


def test_acd_conflict_leaves_no_address(tmp_path):
    """The host has 10.0.2.15 and answers the guest's probe: the guest never takes it."""
    need_wire_tools()
    r = Run(tmp_path, f"ip={GUEST_IP}/24 gw={HOST_IP} acd=1", "conflict", prepare=answer_probes_as_owner)
    try:
        g = r.g
        g.wait_for(r"arp: probe of 10\.0\.2\.15: in use by %s \(RFC 5227 2\.1\.1\)" % re.escape(r.host.mac),
                   timeout=30, since=0)
        g.wait_for(r"net: 10\.0\.2\.15 is in use on the link; no address \(acd=1\)", timeout=10)
        time.sleep(2.5)  # when a wrongly taken address would have been announced
        assert "net: ready" not in g.log
        assert "inet: no address" in g.cmd("inet")
        c = inetstat(g)
        assert c["arp.probe_conflicts"] == 1 and c["arp.tx_announces"] == 0 and c["arp.tx_defends"] == 0, c
        arp = guest_arp(r.frames())
        assert 1 <= len(arp) <= 3 and all(is_probe(p) for t, p in arp), [p.summary() for t, p in arp]
    finally:
        r.close()
