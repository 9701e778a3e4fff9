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
import subprocess
import threading
import time
from pathlib import Path

import pytest

from counters import inetstat
from fakehost import BROADCAST_MAC, FakeHost, open_host, take
from guest import GUEST_MAC
from netns import NetNS
from test_stack import (capture_netdev, need_programs, need_tools, start_guest,
                        tshark_count, tshark_problems)
from wire import have_tap, need_tap, open_link

from scapy.all import BOOTP, DHCP, IP, UDP, Ether  # noqa: E402  (fakehost made sure scapy is here)
from scapy.layers.dhcp import DHCPTypes  # noqa: E402

HOST_IP = "10.0.2.2"
LEASE_IP = "10.0.2.123"  # what the fake server gives


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


class FakeDhcpServer:
    """Just enough of RFC 2131 for the client's tests, on a FakeHost: it offers LEASE_IP,
    ACKs a REQUEST for it (or NAKs it when nak_next is set), answers a client that has an
    address (ciaddr) by unicast and anyone else by broadcast (4.1), and keeps every message
    it got as (type, IP source, IP destination)."""

    def __init__(self, host, lease=120, t1=8, t2=100):
        self.host = host
        self.options = [("server_id", host.ip), ("subnet_mask", "255.255.255.0"), ("router", host.ip),
                        ("lease_time", lease), ("renewal_time", t1), ("rebinding_time", t2)]
        self.nak_next = False
        self.got = []
        self.queue = host.listen(lambda p: UDP in p and p[UDP].dport == 67 and BOOTP in p)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="dhcpd", daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            for p in take(self.queue, time.monotonic() + 0.2):
                self._answer(p)

    def _answer(self, p):
        req = p[BOOTP]
        opts = dict(o for o in req[DHCP].options if isinstance(o, tuple))
        kind = DHCPTypes.get(opts.get("message-type"))
        self.got.append((kind, p[IP].src, p[IP].dst))
        if kind == "discover":
            self._reply(req, "offer", LEASE_IP)
        elif kind == "request":
            wanted = opts.get("requested_addr", req.ciaddr)
            if self.nak_next or wanted != LEASE_IP:
                self.nak_next = False
                self._reply(req, "nak", "0.0.0.0")
            else:
                self._reply(req, "ack", LEASE_IP)

    def _reply(self, req, kind, yiaddr):
        unicast = kind != "nak" and req.ciaddr != "0.0.0.0"  # a NAK is always broadcast
        dst = req.ciaddr if unicast else "255.255.255.255"
        mac = ":".join("%02x" % b for b in req.chaddr[:6]) if unicast else BROADCAST_MAC
        opts = self.options if kind != "nak" else self.options[:1]
        self.host.send(Ether(dst=mac, src=self.host.mac) / IP(src=self.host.ip, dst=dst) /
                       UDP(sport=67, dport=68) /
                       BOOTP(op=2, xid=req.xid, flags=req.flags, ciaddr=req.ciaddr, yiaddr=yiaddr,
                             siaddr=self.host.ip, chaddr=req.chaddr) /
                       DHCP(options=[("message-type", kind), *opts, "end"]))

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.host.unlisten(self.queue)


def test_dhcp_against_fake_server(tmp_path):
    need_programs("tshark")
    host = FakeHost(open_link(host_addr=None))  # on a TAP: the kernel has no address there
    server = FakeDhcpServer(host)
    g = None
    try:
        g, pcap = guest_with_capture(tmp_path, host.link, "fakedhcp")
        g.wait_for(r"dhcp: starting on eth0\n", timeout=60)
        addr = check_lease(g, lease_line(g))
        assert addr == LEASE_IP
        assert [k for k, _, _ in server.got[:2]] == ["discover", "request"], server.got
        assert server.got[0][1:] == server.got[1][1:] == ("0.0.0.0", "255.255.255.255"), server.got
        check_host_reaches(host, addr)
        check_renewals(g, addr)
        renewals = [m for m in server.got[2:] if m[0] == "request"]
        assert len(renewals) >= 2 and all(m[1:] == (addr, HOST_IP) for m in renewals), server.got

        # a NAK to a renewal: the address is given up, and the next DISCOVER gets it back
        server.nak_next = True
        assert "dhcp: renewing" in g.cmd("dhcp renew")
        g.wait_for(r"dhcp: server said NAK; starting over\n", timeout=10)
        assert check_lease(g, lease_line(g, timeout=20), first=False) == LEASE_IP
        c = inetstat(g)
        assert (c["dhcp.naks"], c["dhcp.offers"]) == (1, 2) and c["dhcp.restarts"] >= 1, c
        assert len(re.findall(r"(?:^|vnet> )net: ready ", g.log, re.M)) == 1, "the marker must print once"
        check_host_reaches(host, addr)
        check_capture(g, pcap, addr)
        assert tshark_count(pcap, "dhcp.option.dhcp == 6") == 1  # the NAK
    finally:
        if g:
            g.kill()
        server.close()
        host.close()


class Dnsmasq:
    def __init__(self, ns, workdir, t1=8):
        self.leases = Path(workdir) / "dnsmasq.leases"
        self.log = Path(workdir) / "dnsmasq.log"
        self.logf = open(self.log, "w")
        cmd = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--no-resolv",
               "--no-hosts", "--interface=" + ns.tap, "--bind-interfaces", "--except-interface=lo",
               "--dhcp-range=10.0.2.100,10.0.2.150,255.255.255.0,2m",
               "--dhcp-option=option:router," + HOST_IP,
               "--dhcp-option=option:T1,%d" % t1, "--dhcp-option=option:T2,100",
               "--dhcp-leasefile=" + str(self.leases), "--dhcp-authoritative",
               "--log-dhcp", "--log-facility=-", "--user=root", "--pid-file="]
        self.proc = ns.popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT)

    def text(self):
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text(), re.M):
                return
            assert self.proc.poll() is None, "dnsmasq died:\n" + self.text()
            time.sleep(0.1)
        raise AssertionError(f"dnsmasq: /{pattern}/ not in its log:\n" + self.text())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # by PID: `ip netns exec` execs dnsmasq itself
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.logf.close()


@pytest.fixture
def dnsmasq_net(tmp_path):
    need_tap("interop with dnsmasq (a real DHCP server on a kernel interface)")
    need_tools()
    need_programs("dnsmasq")
    host = open_host()
    made = {"host": host}
    try:
        made["dnsmasq"] = Dnsmasq(host.ns, tmp_path)
        yield made
    finally:
        if "guest" in made:
            made["guest"].kill()
        if "dnsmasq" in made:
            made["dnsmasq"].kill()
        host.close()


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
    check_capture(g, pcap, addr)


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
    """No server on the wire: DISCOVERs at growing intervals, no address, no marker."""
    link = open_link(host_addr=HOST_IP + "/24")  # a kernel host there serves no DHCP
    g = None
    try:
        g = start_guest(tmp_path, link.netns, "ip=dhcp", link.netdev("n0"), name="noserver")
        g.wait_for(r"dhcp: starting on eth0\n", timeout=60)
        g.wait_for(r"vnet> ", timeout=30)
        time.sleep(7.5)  # DISCOVERs at about 0, 2 and 6 s
        c = inetstat(g)
        assert 2 <= c["dhcp.discovers"] <= 4, c
        assert c["dhcp.retransmits"] == c["dhcp.discovers"] - 1, c
        assert "no address (dhcp in progress)" in g.cmd("inet")
        assert "net: ready" not in g.log
        assert "no address configured" in g.cmd("ping 10.0.2.2 -c 1")
    finally:
        if g:
            g.kill()
        link.close()
