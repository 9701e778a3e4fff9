"""
tests/qemu/test_dhcp.py - the DHCP client (ip=dhcp, net/dhcp.c) against real and fake servers.

- A fake DHCP server of a few lines (scapy) in the test, as the host 10.0.2.2 of
  tests/qemu/fakehost.py, on either wire (on a TAP, the namespace's kernel has no address and
  stays silent). Lease 2 minutes with T1 = 8 s: DISCOVER/OFFER/REQUEST/ACK, the renewal at T1
  unicast to the server, `dhcp renew`, then a NAK to a renewal, after which the guest gives the
  address up and starts over. The host pings the leased address; tshark checks the capture.
- dnsmasq (Debian's dnsmasq-base) in a network namespace this test creates, started with its
  own command-line configuration (no config file, no DNS), bound only to the namespace's TAP
  and killed by its PID; the same lease and checks. TAP only: it is the interop check with a
  real server on a kernel interface.
- QEMU's user networking (-netdev user,restrict=on): the guest only talks to QEMU's built-in
  DHCP server and nothing can leave QEMU; in an otherwise empty namespace where one can be made.
- Nobody on the wire: DISCOVERs at growing intervals, no address.
"""
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from counters import inetstat
from dnsmasq import Dnsmasq, host_with_dnsmasq
from fakehost import BROADCAST_MAC, FakeHost, take
from guest import GUEST_MAC
from netns import NetNS
from test_stack import (capture_netdev, need_programs, need_tools, start_guest,
                        tshark_count, tshark_problems)
from wire import have_tap, need_tap, open_link

from scapy.all import ARP, BOOTP, DHCP, IP, UDP, Ether  # noqa: E402  (fakehost made sure scapy is here)
from scapy.layers.dhcp import DHCPTypes  # noqa: E402

HOST_IP = "10.0.2.2"
LEASE_IP = "10.0.2.123"  # what the fake server gives
LEASE_IP2 = "10.0.2.124"  # what it gives after a DECLINE
SQUATTER_MAC = "02:00:00:00:00:77"  # a host already using LEASE_IP
ROGUE_IP = "10.0.2.3"  # another server, whose NAK to our renewal must not count
SLACK = 0.4  # seconds of scheduling noise (TCG, the host) allowed around the RFC's timings


def fresh_prompt(g):
    """The lease arrives after the first prompt: ask the shell for a new one to type at."""
    g.send("")
    g.wait_for(r"vnet> ", timeout=10)


def lease_line(g, timeout=60):
    m = g.wait_for(r"(?:^|vnet> )dhcp: bound to (10\.0\.2\.\d+)/(\d+) gw (\S+), lease (\d+) s \(renew (\d+) s, "
                   r"rebind (\d+) s\)$", timeout=timeout)
    return m


def check_lease(g, m, first=True):
    """The lease line m says /24, gateway 10.0.2.2, 120 s, T1 8 s, T2 100 s; the address is in
    use: `inet`, and the ready marker after the first lease. Returns the address."""
    addr = m.group(1)
    assert m.group(2) == "24" and m.group(3) == HOST_IP, m.group(0)
    assert (m.group(4), m.group(5), m.group(6)) == ("120", "8", "100"), m.group(0)
    if first:
        g.wait_for(r"(?:^|vnet> )net: ready ip=%s mac=%s$" % (re.escape(addr), GUEST_MAC), timeout=10)
    fresh_prompt(g)
    out = g.cmd("inet")
    assert re.search(r"inet %s/24 netmask 255\.255\.255\.0 broadcast 10\.0\.2\.255 gateway 10\.0\.2\.2 \(dhcp\)"
                     % re.escape(addr), out), out
    assert re.search(r"dhcp: bound, server 10\.0\.2\.2, lease 120 s, renew in \d+ s rebind in \d+ s "
                     r"expires in \d+ s", out), out
    return addr


def link_flap(g):
    """The cable out and back in (QEMU's set_link); the guest must see it go down first, or
    a quick flap passes unseen between two looks at the device's status."""
    g.monitor("set_link n0 off")
    g.wait_for(r"eth0: link down\n", timeout=20)
    g.monitor("set_link n0 on")
    g.wait_for(r"eth0: link up\n", timeout=20)


def check_host_reaches(host, addr):
    r = host.ping(addr, 3, interval=0.2, wait=2)
    assert (r.sent, r.received, r.errors) == (3, 3, []), r.text


def check_renewals(g, addr):
    """The renewal at T1 (8 s after the REQUEST) and one on demand, each answered by an ACK."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        c = inetstat(g)
        if c["dhcp.renewals"] >= 1 and c["dhcp.acks"] >= 2:
            break
        time.sleep(1)
    assert c["dhcp.renewals"] >= 1 and c["dhcp.acks"] >= 2, c
    assert c["dhcp.naks"] == 0 and c["dhcp.rx_malformed"] == 0, c
    acks = c["dhcp.acks"]
    assert "dhcp: renewing" in g.cmd("dhcp renew")
    deadline = time.monotonic() + 10
    while inetstat(g)["dhcp.acks"] <= acks and time.monotonic() < deadline:
        time.sleep(0.3)
    assert inetstat(g)["dhcp.acks"] > acks
    assert len(re.findall(r"(?:^|vnet> )net: ready ", g.log, re.M)) == 1, "the marker must print once"
    assert g.cmd("inet").count(addr) == 1


def check_capture(g, pcap, addr):
    """Stop the guest; the capture of the exchange is clean, has every step, and the renewals
    went unicast from the leased address to the server."""
    g.send("exit 0")
    assert g.wait_exit(20) == 1
    problems = tshark_problems(pcap)
    assert problems == "", problems
    for msgtype in (1, 2, 3, 5):  # DISCOVER, OFFER, REQUEST, ACK
        assert tshark_count(pcap, "dhcp.option.dhcp == %d" % msgtype) >= 1, msgtype
    assert tshark_count(pcap, "dhcp.option.dhcp == 3 and ip.src == %s and ip.dst == %s" % (addr, HOST_IP)) >= 2


def guest_with_capture(tmp_path, link, name):
    pcap = tmp_path / "dhcp.pcap"
    g = start_guest(tmp_path, link.netns, "ip=dhcp", capture_netdev(link),
                    extra=["-object", f"filter-dump,id=cap0,netdev=n0,file={pcap}"], name=name)
    return g, pcap


@dataclass
class Msg:
    """One message the fake server got."""
    kind: str        # "discover", "request", "release", ...
    src: str         # IP source and destination
    dst: str
    xid: int
    secs: int
    ciaddr: str
    flags: int
    opts: dict       # scapy's DHCP options by name
    at: float        # time.monotonic() when it arrived


class FakeDhcpServer:
    """Just enough of RFC 2131 for the client's tests, on a FakeHost: it offers LEASE_IP,
    ACKs a REQUEST for it (or NAKs it when nak_next is set), answers a client that has an
    address (ciaddr) by unicast and anyone else by broadcast (4.1), and keeps every message
    it got (Msg). ignore_discovers: that many DISCOVERs go unanswered (a lost OFFER, to see
    the client retransmit); offer_delay: seconds before an OFFER; rogue_nak_next: the next
    REQUEST is first answered by a NAK from another server (10.0.2.3)."""

    def __init__(self, host, lease=120, t1=8, t2=100, ignore_discovers=0, offer_delay=0.0):
        self.host = host
        self.lease_ip = LEASE_IP
        self.options = [("server_id", host.ip), ("subnet_mask", "255.255.255.0"), ("router", host.ip),
                        ("lease_time", lease), ("renewal_time", t1), ("rebinding_time", t2)]
        self.nak_next = False
        self.rogue_nak_next = False
        self.ignore_discovers = ignore_discovers
        self.offer_delay = offer_delay
        self.got = []
        self.queue = host.listen(lambda p: UDP in p and p[UDP].dport == 67 and BOOTP in p)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="dhcpd", daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            for p in take(self.queue, time.monotonic() + 0.2):
                self._answer(p, time.monotonic())

    def _answer(self, p, at):
        req = p[BOOTP]
        opts = dict(o for o in req[DHCP].options if isinstance(o, tuple))
        kind = DHCPTypes.get(opts.get("message-type"))
        self.got.append(Msg(kind, p[IP].src, p[IP].dst, req.xid, req.secs, req.ciaddr, req.flags, opts, at))
        if kind == "discover":
            if self.ignore_discovers > 0:
                self.ignore_discovers -= 1
                return
            time.sleep(self.offer_delay)
            self._reply(req, "offer", self.lease_ip)
        elif kind == "request":
            wanted = opts.get("requested_addr", req.ciaddr)
            if self.rogue_nak_next:
                self.rogue_nak_next = False
                self._reply(req, "nak", "0.0.0.0", server=ROGUE_IP)
            if self.nak_next or wanted != self.lease_ip:
                self.nak_next = False
                self._reply(req, "nak", "0.0.0.0")
            else:
                self._reply(req, "ack", self.lease_ip)
        elif kind == "decline":  # 4.3.3: the address is taken; offer the next one
            self.lease_ip = LEASE_IP2

    def _reply(self, req, kind, yiaddr, server=None):
        server = server or self.host.ip
        unicast = kind != "nak" and req.ciaddr != "0.0.0.0"  # a NAK is always broadcast
        dst = req.ciaddr if unicast else "255.255.255.255"
        mac = ":".join("%02x" % b for b in req.chaddr[:6]) if unicast else BROADCAST_MAC
        opts = self.options if kind != "nak" else [("server_id", server)]
        self.host.send(Ether(dst=mac, src=self.host.mac) / IP(src=server, dst=dst) /
                       UDP(sport=67, dport=68) /
                       BOOTP(op=2, xid=req.xid, flags=req.flags, ciaddr=req.ciaddr, yiaddr=yiaddr,
                             siaddr=server, chaddr=req.chaddr) /
                       DHCP(options=[("message-type", kind), *opts, "end"]))

    def since(self, n, kind=None):
        """The messages after the first n, of one kind or all."""
        return [m for m in self.got[n:] if kind is None or m.kind == kind]

    def wait(self, n, kind, timeout=15, match=lambda m: True):
        """The first message of this kind (and match) after the first n, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.since(n, kind) if match(m)]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no {kind} after message {n}: {self.got}")

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.host.unlisten(self.queue)


class GuestClock:
    """The guest's seconds per second of ours. Its TSC is calibrated once at boot against the
    PIT, which under TCG on a busy host can be off by 10 % or more (kernel/time.c), so the
    guest's timers run that much fast or slow: the RFC's intervals are checked in the guest's
    time, measured here from two `uptime` readings at least interval seconds apart."""

    def __init__(self, g):
        self.g = g
        self.first = self._read()

    def _read(self):
        before = time.monotonic()
        out = self.g.cmd("uptime")
        now = (before + time.monotonic()) / 2
        return now, float(re.search(r"uptime: ([\d.]+) s", out).group(1))

    def rate(self, interval=8):
        time.sleep(max(0, self.first[0] + interval - time.monotonic()))
        now, up = self._read()
        return (up - self.first[1]) / (now - self.first[0])


def check_gap(a, b, nominal, rate):
    """RFC 2131 4.1: b came nominal seconds after a (in the guest's time), randomised by -1..+1
    s, plus a little for the host's and TCG's scheduling."""
    gap = (b.at - a.at) * rate
    assert nominal - 1 - SLACK <= gap <= nominal + 1 + SLACK, \
        f"{gap:.2f} s of the guest's time (clock rate {rate:.3f}), not {nominal} +- 1 s"


def check_secs(first, msgs, rate):
    """secs counts the guest's whole seconds since the first message of the exchange."""
    assert first.secs == 0, first
    for m in msgs:
        assert abs(m.secs - (m.at - first.at) * rate) <= 1 + SLACK, (first, m, rate)


def check_acquisition(server, rate):
    """The first OFFER went missing: the DISCOVER came again 4 +- 1 s later with the same
    xid and secs counting from the first; the REQUEST for the (1.2 s late) offer repeats that
    DISCOVER's xid and secs (3.1 step 3), broadcast from 0.0.0.0 with the server named."""
    d1, d2, req = server.got[:3]
    assert [m.kind for m in (d1, d2, req)] == ["discover", "discover", "request"], server.got
    check_gap(d1, d2, 4, rate)
    check_secs(d1, [d2], rate)
    assert d2.xid == d1.xid == req.xid, server.got[:3]
    assert req.secs == d2.secs, (d2, req)
    assert all((m.src, m.dst, m.ciaddr) == ("0.0.0.0", "255.255.255.255", "0.0.0.0") for m in (d1, d2, req))
    assert req.opts.get("requested_addr") == LEASE_IP and req.opts.get("server_id") == HOST_IP, req


def check_renewal(m, addr, xids):
    """A renewal: unicast from the leased address to the server, ciaddr set, no server id or
    requested address (4.3.2), secs from the renewal's start, an xid of its own."""
    assert (m.kind, m.src, m.dst, m.ciaddr) == ("request", addr, HOST_IP, addr), m
    assert "server_id" not in m.opts and "requested_addr" not in m.opts, m
    assert m.secs <= 1, m
    assert m.xid not in xids, (m, xids)
    xids.add(m.xid)


def test_dhcp_against_fake_server(tmp_path):
    need_programs("tshark")
    host = FakeHost(open_link(host_addr=None))  # on a TAP: the kernel has no address there
    server = FakeDhcpServer(host, ignore_discovers=1, offer_delay=1.2)
    g = None
    try:
        g, pcap = guest_with_capture(tmp_path, host.link, "fakedhcp")
        g.wait_for(r"dhcp: starting on eth0\n", timeout=60)
        addr = check_lease(g, lease_line(g))
        assert addr == LEASE_IP
        clock = GuestClock(g)
        xids = {server.got[0].xid}
        check_host_reaches(host, addr)
        check_renewals(g, addr)
        check_acquisition(server, clock.rate())
        renewals = server.since(3, "request")
        assert len(renewals) >= 2, server.got
        for m in renewals:
            check_renewal(m, addr, xids)

        # a NAK from another server (10.0.2.3) to a renewal is ignored; our server's ACK counts
        n, acks = len(server.got), inetstat(g)["dhcp.acks"]
        server.rogue_nak_next = True
        assert "dhcp: renewing" in g.cmd("dhcp renew")
        check_renewal(server.wait(n, "request"), addr, xids)
        deadline = time.monotonic() + 10
        while inetstat(g)["dhcp.acks"] <= acks and time.monotonic() < deadline:
            time.sleep(0.3)
        c = inetstat(g)
        assert (c["dhcp.naks_ignored"], c["dhcp.naks"]) == (1, 0) and c["dhcp.acks"] > acks, c
        assert g.cmd("inet").count(addr) == 1

        # the link goes down and comes back: INIT-REBOOT -- a REQUEST broadcast from 0.0.0.0,
        # ciaddr 0, the address as requested_addr, no server id (4.4.2, table 4), a new xid;
        # the ACK keeps the address, no DISCOVER
        n, acks = len(server.got), c["dhcp.acks"]
        link_flap(g)
        g.wait_for(r"dhcp: link up; confirming %s \(INIT-REBOOT\)\n" % re.escape(addr), timeout=10)
        m = server.wait(n, "request", match=lambda m: m.src == "0.0.0.0")
        assert (m.src, m.dst, m.ciaddr) == ("0.0.0.0", "255.255.255.255", "0.0.0.0"), m
        assert m.opts.get("requested_addr") == addr and "server_id" not in m.opts, m
        assert m.xid not in xids and m.secs <= 1, (m, xids)
        xids.add(m.xid)
        deadline = time.monotonic() + 10
        while inetstat(g)["dhcp.acks"] <= acks and time.monotonic() < deadline:
            time.sleep(0.3)
        c = inetstat(g)
        assert (c["dhcp.reboots"], c["dhcp.reboot_timeouts"], c["dhcp.offers"]) == (1, 0, 1), c
        assert "dhcp: bound, server 10.0.2.2" in g.cmd("dhcp")
        assert not server.since(n, "discover"), server.since(n)
        check_host_reaches(host, addr)

        # a NAK to a renewal: the address is given up, and the next DISCOVER gets it back
        server.nak_next = True
        assert "dhcp: renewing" in g.cmd("dhcp renew")
        g.wait_for(r"dhcp: server said NAK; starting over\n", timeout=10)
        assert check_lease(g, lease_line(g, timeout=20), first=False) == LEASE_IP
        c = inetstat(g)
        assert (c["dhcp.naks"], c["dhcp.offers"]) == (1, 2) and c["dhcp.restarts"] >= 1, c
        check_host_reaches(host, addr)

        # dhcp release: a RELEASE unicast to the server (4.4.4) with ciaddr, the server id and
        # an xid of its own (table 5); the address is gone and nothing more is sent
        n = len(server.got)
        out = g.cmd("dhcp release")
        assert "dhcp: released %s to %s" % (addr, HOST_IP) in out, out
        m = server.wait(n, "release", timeout=5)
        assert (m.src, m.dst, m.ciaddr, m.secs) == (addr, HOST_IP, addr, 0), m
        assert m.opts.get("server_id") == HOST_IP and "requested_addr" not in m.opts, m
        assert m.xid not in xids, (m, xids)
        assert "no address (dhcp released; 'dhcp start' asks again)" in g.cmd("inet")
        assert "dhcp: released" in g.cmd("dhcp")
        c = inetstat(g)
        assert c["dhcp.releases"] == 1, c
        time.sleep(1.5)
        assert [x.kind for x in server.since(n)] == ["release"], server.since(n)

        # dhcp start: a new acquisition, the same address again; the ready marker stays single
        assert "dhcp: starting again" in g.cmd("dhcp start")
        assert check_lease(g, lease_line(g, timeout=20), first=False) == LEASE_IP
        assert len(re.findall(r"(?:^|vnet> )net: ready ", g.log, re.M)) == 1, "the marker must print once"
        check_host_reaches(host, addr)
        check_capture(g, pcap, addr)
        assert tshark_count(pcap, "dhcp.option.dhcp == 6") == 2  # the rogue NAK and the real one
        assert tshark_count(pcap, "dhcp.option.dhcp == 7 and ip.src == %s and ip.dst == %s" % (addr, HOST_IP)) == 1
    finally:
        if g:
            g.kill()
        server.close()
        host.close()


def test_dhcp_declines_an_address_in_use(tmp_path):
    """The ACKed address is probed before use (RFC 2131 3.1 step 5, RFC 5227 2.1.1): a
    squatter answers the first probe for it, so the guest broadcasts a DHCPDECLINE (4.4.4;
    table 5: requested address and server id, ciaddr 0, a new xid), never uses the address,
    starts over no sooner than 10 s later (3.1 step 5) and gets the next address, which it
    probes too before it is bound."""
    host = FakeHost(open_link(host_addr=None))
    server = FakeDhcpServer(host)
    probes = host.listen(lambda p: ARP in p and p[ARP].op == 1 and p[ARP].psrc == "0.0.0.0")
    g = None
    try:
        g = start_guest(tmp_path, host.link.netns, "ip=dhcp", host.link.netdev("n0"), name="decline")
        g.wait_for(r"dhcp: starting on eth0\n", timeout=60)
        probe = next(take(probes, time.monotonic() + 20), None)
        assert probe is not None and probe[ARP].pdst == LEASE_IP, server.got
        host.send(Ether(dst=GUEST_MAC, src=SQUATTER_MAC) /
                  ARP(op=2, hwsrc=SQUATTER_MAC, psrc=LEASE_IP, hwdst=GUEST_MAC, pdst="0.0.0.0"))
        g.wait_for(r"dhcp: %s is in use; declined, starting over in 10 s\n" % re.escape(LEASE_IP), timeout=10)
        fresh_prompt(g)
        clock = GuestClock(g)
        decline = server.wait(0, "decline", timeout=5)
        req = server.since(0, "request")[0]
        assert (decline.src, decline.dst, decline.ciaddr, decline.secs) == ("0.0.0.0", "255.255.255.255", "0.0.0.0", 0)
        assert decline.opts.get("requested_addr") == LEASE_IP and decline.opts.get("server_id") == HOST_IP, decline
        assert decline.xid != req.xid, (req, decline)
        m = lease_line(g, timeout=40)
        assert m.group(1) == LEASE_IP2, m.group(0)
        rediscover = [x for x in server.since(0, "discover") if x.at > decline.at][0]
        assert (rediscover.at - decline.at) * clock.rate() >= 10 - SLACK, (decline, rediscover)
        assert "net: ready ip=%s " % LEASE_IP2 in g.log and "bound to %s/" % LEASE_IP not in g.log, g.log
        c = inetstat(g)
        assert (c["dhcp.declines"], c["dhcp.offers"], c["dhcp.acks"]) == (1, 2, 2), c
        assert c["arp.probe_conflicts"] == 1 and c["arp.probes_clear"] == 1, c
        check_host_reaches(host, LEASE_IP2)
    finally:
        if g:
            g.kill()
        host.unlisten(probes)
        server.close()
        host.close()


def dhcp_dnsmasq(ns, workdir, t1=8):
    """dnsmasq as the DHCP server on ns's TAP (no DNS: --port=0): the lease of check_lease."""
    leases = Path(workdir) / "dnsmasq.leases"
    dm = Dnsmasq(ns, workdir, [
        "--port=0", "--interface=" + ns.tap, "--bind-interfaces", "--except-interface=lo",
        "--dhcp-range=10.0.2.100,10.0.2.150,255.255.255.0,2m", "--dhcp-option=option:router," + HOST_IP,
        "--dhcp-option=option:T1,%d" % t1, "--dhcp-option=option:T2,100",
        "--dhcp-leasefile=" + str(leases), "--dhcp-authoritative", "--log-dhcp"])
    dm.leases = leases
    return dm


@pytest.fixture
def dnsmasq_net(tmp_path):
    need_tap("interop with dnsmasq (a real DHCP server on a kernel interface)")
    need_tools()
    need_programs("dnsmasq")
    with host_with_dnsmasq(lambda ns: dhcp_dnsmasq(ns, tmp_path)) as made:
        yield made


def test_dhcp_against_dnsmasq(dnsmasq_net, tmp_path):
    host, dm = dnsmasq_net["host"], dnsmasq_net["dnsmasq"]
    g, pcap = guest_with_capture(tmp_path, host.link, "dhcp")
    dnsmasq_net["guest"] = g
    g.wait_for(r"dhcp: starting on eth0\n", timeout=60)
    m = lease_line(g)
    addr = check_lease(g, m)
    assert 100 <= int(addr.rsplit(".", 1)[1]) <= 150
    dm.wait_for(r"DHCPACK\(%s\) %s %s" % (host.ns.tap, re.escape(addr), GUEST_MAC))
    assert GUEST_MAC in (dm.leases.read_text() if dm.leases.exists() else ""), "lease not recorded"
    check_host_reaches(host, addr)  # the host reaches the leased address
    check_renewals(g, addr)
    # the link comes back: INIT-REBOOT, which dnsmasq answers with an ACK for the same address
    acks = inetstat(g)["dhcp.acks"]
    link_flap(g)
    g.wait_for(r"dhcp: link up; confirming %s \(INIT-REBOOT\)\n" % re.escape(addr), timeout=10)
    deadline = time.monotonic() + 10
    while inetstat(g)["dhcp.acks"] <= acks and time.monotonic() < deadline:
        time.sleep(0.3)
    c = inetstat(g)
    assert (c["dhcp.reboots"], c["dhcp.reboot_timeouts"], c["dhcp.offers"], c["dhcp.naks"]) == (1, 0, 1, 0), c
    check_host_reaches(host, addr)
    # dhcp release: dnsmasq frees the lease
    out = g.cmd("dhcp release")
    assert "dhcp: released %s to %s" % (addr, HOST_IP) in out, out
    dm.wait_for(r"DHCPRELEASE\(%s\) %s %s" % (host.ns.tap, re.escape(addr), GUEST_MAC))
    assert "no address" in g.cmd("inet")
    check_capture(g, pcap, addr)
    assert tshark_count(pcap, "dhcp.option.dhcp == 7 and ip.src == %s and ip.dst == %s" % (addr, HOST_IP)) == 1
    # the INIT-REBOOT REQUEST (4.4.2): from 0.0.0.0, the address requested, no server named
    reboot = ("dhcp.option.dhcp == 3 and ip.src == 0.0.0.0 and dhcp.ip.client == 0.0.0.0 and "
              "dhcp.option.requested_ip_address == %s and not dhcp.option.dhcp_server_id" % addr)
    assert tshark_count(pcap, reboot) >= 1


def test_dhcp_against_qemu_user_networking(tmp_path):
    # restrict=on: the guest reaches only QEMU's own services; where a namespace can be made,
    # QEMU runs in an empty one as well (nothing there routes anywhere)
    ns = NetNS(host_addr=None) if have_tap() else None
    g = None
    try:
        g = start_guest(tmp_path, ns, "ip=dhcp", "user,id=n0,restrict=on", name="slirp")
        m = lease_line(g)
        # slirp's defaults; with restrict=on it offers no router
        assert m.group(1) == "10.0.2.15" and m.group(2) == "24", m.group(0)
        g.wait_for(r"(?:^|vnet> )net: ready ip=10\.0\.2\.15 mac=%s$" % GUEST_MAC, timeout=10)
        fresh_prompt(g)
        assert "dhcp: renewing" in g.cmd("dhcp renew")
        deadline = time.monotonic() + 10
        while inetstat(g)["dhcp.acks"] < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        c = inetstat(g)
        assert c["dhcp.acks"] >= 2 and c["dhcp.offers"] == 1, c
        g.send("exit 0")
        assert g.wait_exit(20) == 1
    finally:
        if g:
            g.kill()
        if ns:
            ns.close()


def test_dhcp_without_server_backs_off(tmp_path):
    """Nobody answers: DISCOVERs 4 and then 8 s apart, +-1 s each (RFC 2131 4.1), one xid, secs
    counting from the first; no address, no marker. A fixed interval fails the second gap, the
    old 2 s start the first."""
    host = FakeHost(open_link(host_addr=None))
    server = FakeDhcpServer(host, ignore_discovers=1000)  # listens, never answers
    g = None
    try:
        g = start_guest(tmp_path, host.link.netns, "ip=dhcp", host.link.netdev("n0"), name="noserver")
        g.wait_for(r"dhcp: starting on eth0\n", timeout=60)
        clock = GuestClock(g)
        server.wait(2, "discover", timeout=25)
        rate = clock.rate()
        d = server.got[:3]
        assert [m.kind for m in d] == ["discover"] * 3, server.got
        check_gap(d[0], d[1], 4, rate)
        check_gap(d[1], d[2], 8, rate)
        assert d[0].xid == d[1].xid == d[2].xid, d
        check_secs(d[0], d[1:], rate)
        c = inetstat(g)
        assert c["dhcp.retransmits"] == c["dhcp.discovers"] - 1 >= 2, c
        assert "no address (dhcp in progress)" in g.cmd("inet")
        assert "net: ready" not in g.log
        assert "no address configured" in g.cmd("ping 10.0.2.2 -c 1")
    finally:
        if g:
            g.kill()
        server.close()
        host.close()
