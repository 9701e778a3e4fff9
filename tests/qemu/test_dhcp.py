"""
tests/qemu/test_dhcp.py - the DHCP client (ip=dhcp, net/dhcp.c) against real servers.

- dnsmasq (Debian's dnsmasq-base) in a network namespace this test creates, started with its
  own command-line configuration (no config file, no DNS), bound only to the namespace's TAP
  and killed by its PID. Lease 2 minutes with T1 = 8 s, so a renewal happens during the test;
  `dhcp renew` forces another. The host then pings the leased address, and tshark checks the
  capture of the whole exchange (no malformed packet, no bad checksum).
- QEMU's user networking (-netdev user,restrict=on) in an otherwise empty namespace: the guest
  only talks to QEMU's built-in DHCP server; nothing can leave.
"""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from netns import NetNS
from test_stack import GUEST_MAC, counters, need_tools, start_guest, tshark_count, tshark_problems

HOST_IP = "10.0.2.2"


def fresh_prompt(g):
    """The lease arrives after the first prompt: ask the shell for a new one to type at."""
    g.send("")
    g.wait_for(r"vnet> ", timeout=10)


def lease_line(g, timeout=60):
    m = g.wait_for(r"(?:^|vnet> )dhcp: bound to (10\.0\.2\.\d+)/(\d+) gw (\S+), lease (\d+) s \(renew (\d+) s, "
                   r"rebind (\d+) s\)$", timeout=timeout)
    return m


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
    need_tools()
    if subprocess.run(["which", "dnsmasq"], capture_output=True).returncode:
        pytest.skip("dnsmasq is not installed (tools/deps.sh test)")
    ns = NetNS(host_addr=HOST_IP + "/24")
    made = {"ns": ns}
    try:
        made["dnsmasq"] = Dnsmasq(ns, tmp_path)
        yield made
    finally:
        if "guest" in made:
            made["guest"].kill()
        if "dnsmasq" in made:
            made["dnsmasq"].kill()
        ns.close()


def test_dhcp_against_dnsmasq(dnsmasq_net, tmp_path):
    ns, dm = dnsmasq_net["ns"], dnsmasq_net["dnsmasq"]
    pcap = tmp_path / "dhcp.pcap"
    g = start_guest(tmp_path, ns, "ip=dhcp",
                    "tap,id=n0,ifname=%s,script=no,downscript=no,vnet_hdr=off" % ns.tap,
                    extra=["-object", f"filter-dump,id=cap0,netdev=n0,file={pcap}"], name="dhcp")
    dnsmasq_net["guest"] = g
    g.wait_for(r"dhcp: starting on eth0\n", timeout=60)
    m = lease_line(g)
    addr = m.group(1)
    assert 100 <= int(addr.rsplit(".", 1)[1]) <= 150
    assert m.group(2) == "24" and m.group(3) == HOST_IP, m.group(0)
    assert (m.group(4), m.group(5), m.group(6)) == ("120", "8", "100"), m.group(0)
    g.wait_for(r"(?:^|vnet> )net: ready ip=%s mac=%s$" % (re.escape(addr), GUEST_MAC), timeout=10)
    dm.wait_for(r"DHCPACK\(%s\) %s %s" % (ns.tap, re.escape(addr), GUEST_MAC))
    assert GUEST_MAC in (dm.leases.read_text() if dm.leases.exists() else ""), "lease not recorded"
    fresh_prompt(g)
    out = g.cmd("inet")
    assert re.search(r"inet %s/24 netmask 255\.255\.255\.0 broadcast 10\.0\.2\.255 gateway 10\.0\.2\.2 \(dhcp\)"
                     % re.escape(addr), out), out
    assert re.search(r"dhcp: bound, server 10\.0\.2\.2, lease 120 s, renew in \d+ s rebind in \d+ s "
                     r"expires in \d+ s", out), out

    # the host reaches the leased address
    r = ns.run(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", addr], check=False, timeout=30)
    assert r.returncode == 0 and "3 received" in r.stdout, r.stdout + r.stderr

    # renewal at T1 (8 s after the REQUEST), unicast to the server, answered by an ACK
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        c = counters(g)
        if c["dhcp.renewals"] >= 1 and c["dhcp.acks"] >= 2:
            break
        time.sleep(1)
    assert c["dhcp.renewals"] >= 1 and c["dhcp.acks"] >= 2, c
    assert c["dhcp.naks"] == 0 and c["dhcp.rx_malformed"] == 0, c
    # and on demand
    acks = c["dhcp.acks"]
    assert "dhcp: renewing" in g.cmd("dhcp renew")
    deadline = time.monotonic() + 10
    while counters(g)["dhcp.acks"] <= acks and time.monotonic() < deadline:
        time.sleep(0.3)
    assert counters(g)["dhcp.acks"] > acks
    assert len(re.findall(r"(?:^|vnet> )net: ready ", g.log, re.M)) == 1, "the marker must print once"
    assert g.cmd("inet").count(addr) == 1

    g.send("exit 0")
    assert g.wait_exit(20) == 1
    problems = tshark_problems(pcap)
    assert problems == "", problems
    for msgtype in (1, 2, 3, 5):  # DISCOVER, OFFER, REQUEST, ACK
        assert tshark_count(pcap, "dhcp.option.dhcp == %d" % msgtype) >= 1, msgtype
    # the renewals went unicast from the leased address to the server
    assert tshark_count(pcap, "dhcp.option.dhcp == 3 and ip.src == %s and ip.dst == %s" % (addr, HOST_IP)) >= 2


def test_dhcp_against_qemu_user_networking(tmp_path):
    need_tools()
    ns = NetNS(host_addr=None)  # nothing here routes anywhere: QEMU's slirp is all there is
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
        while counters(g)["dhcp.acks"] < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        c = counters(g)
        assert c["dhcp.acks"] >= 2 and c["dhcp.offers"] == 1, c
        g.send("exit 0")
        assert g.wait_exit(20) == 1
    finally:
        if g:
            g.kill()
        ns.close()


def test_dhcp_without_server_backs_off(tmp_path):
    """No server on the wire: DISCOVERs at growing intervals, no address, no marker."""
    need_tools()
    ns = NetNS(host_addr=HOST_IP + "/24")
    g = None
    try:
        g = start_guest(tmp_path, ns, "ip=dhcp",
                        "tap,id=n0,ifname=%s,script=no,downscript=no" % ns.tap, name="noserver")
        g.wait_for(r"dhcp: starting on eth0\n", timeout=60)
        g.wait_for(r"vnet> ", timeout=30)
        time.sleep(7.5)  # DISCOVERs at about 0, 2 and 6 s
        c = counters(g)
        assert 2 <= c["dhcp.discovers"] <= 4, c
        assert c["dhcp.retransmits"] == c["dhcp.discovers"] - 1, c
        assert "no address (dhcp in progress)" in g.cmd("inet")
        assert "net: ready" not in g.log
        assert "no address configured" in g.cmd("ping 10.0.2.2 -c 1")
    finally:
        if g:
            g.kill()
        ns.close()
