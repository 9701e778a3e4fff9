"""
tests/qemu/test_dns.py - the DNS client (net/dns.c, the shell's `host NAME`) against real
servers, with names of our own only (the test network rule: nothing may leave the namespaces
the test makes, so no real name is ever asked for).

- dnsmasq in the test namespace on the TAP, as the DHCP server naming itself as the DNS server
  (option 6) and as that DNS server: www.vnet and its alias alias.vnet (a CNAME) are
  configured, every other name under .vnet is NXDOMAIN (--local), all with a TTL of 300 s
  (--local-ttl). The guest (ip=dhcp) learns the server from the lease, resolves, answers a
  second lookup from its cache (dnsmasq sees one query), and times out cleanly once dnsmasq is
  gone.
- QEMU's user-mode DNS (-netdev user: the server 10.0.2.3, named by QEMU's DHCP server): QEMU
  runs in an otherwise empty namespace whose /etc/resolv.conf (`ip netns exec` binds
  /etc/netns/<name>/resolv.conf over it) names a dnsmasq on that namespace's loopback, so
  what QEMU forwards stays inside. Skipped where /etc/netns cannot be written (not root).
"""
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from counters import inetstat
from dnsmasq import Dnsmasq, host_with_dnsmasq
from netns import NetNS
from test_stack import need_programs, need_tools, start_guest
from wire import have_tap, need_tap

HOST_IP = "10.0.2.2"
WWW_IP = "10.0.2.77"
SLIRP_NAME_IP = "10.9.8.7"
TTL = 300


def dns_dnsmasq(ns, workdir, args):
    """dnsmasq answering for .vnet with TTL (names of ours only), logging its queries."""
    return Dnsmasq(ns, workdir, ["--bind-interfaces", "--log-queries", "--local=/vnet/", "--local-ttl=%d" % TTL,
                                 *args])


def queries(dm, name):
    return len(re.findall(r"query\[A\] %s from " % re.escape(name), dm.text()))


def host_cmd(g, name, timeout=15):
    """The one line `host name` prints (other kernel lines may come meanwhile)."""
    out = g.cmd(f"host {name}", timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("host: ") or " has address " in line]
    assert len(lines) == 1, out
    return lines[0]


@pytest.fixture
def dnsmasq_lan(tmp_path):
    need_tap("dnsmasq as the DHCP and DNS server on a kernel interface")
    need_tools()
    need_programs("dnsmasq")
    with host_with_dnsmasq(lambda ns: dns_dnsmasq(ns, tmp_path, [
            "--interface=" + ns.tap, "--except-interface=lo", "--port=53",
            "--host-record=www.vnet,%s" % WWW_IP, "--cname=alias.vnet,www.vnet",
            "--dhcp-range=10.0.2.100,10.0.2.150,255.255.255.0,2m",
            "--dhcp-option=option:router," + HOST_IP, "--dhcp-option=option:dns-server," + HOST_IP,
            "--dhcp-leasefile=" + str(tmp_path / "leases"), "--dhcp-authoritative"])) as made:
        yield made


def test_host_against_dnsmasq(dnsmasq_lan, tmp_path):
    host, dm = dnsmasq_lan["host"], dnsmasq_lan["dnsmasq"]
    g = start_guest(tmp_path, host.link.netns, "ip=dhcp", host.link.netdev("n0"), name="dns")
    dnsmasq_lan["guest"] = g
    g.wait_for(r"(?:^|vnet> )net: ready ip=10\.0\.2\.1\d\d ", timeout=60)
    g.wait_for(r"dns: server 10\.0\.2\.2 \(dhcp\)\n", timeout=10)  # DHCP option 6, with the address
    g.send("")
    g.wait_for(r"vnet> ", timeout=10)
    assert "dns: server 10.0.2.2 (dhcp)" in g.cmd("inet")

    assert host_cmd(g, "www.vnet") == f"www.vnet has address {WWW_IP}"
    dm.wait_for(r"query\[A\] www\.vnet from 10\.0\.2\.1\d\d$")
    # a CNAME followed, and the name as typed (any case) in the answer line
    assert host_cmd(g, "Alias.VNET") == f"Alias.VNET has address {WWW_IP}"
    assert host_cmd(g, "nosuch.vnet") == "host: nosuch.vnet not found: NXDOMAIN from 10.0.2.2"
    assert host_cmd(g, "bad..name") == "host: 'bad..name' is not a host name"
    # the cache: asked again within the TTL, nothing goes to dnsmasq
    assert host_cmd(g, "www.vnet") == f"www.vnet has address {WWW_IP}"
    assert queries(dm, "www.vnet") == 1, dm.text()
    c = inetstat(g)
    assert (c["dns.queries"], c["dns.answers"], c["dns.cache_hits"], c["dns.nxdomain"]) == (3, 2, 1, 1), c
    assert c["dns.rx_mismatch"] + c["dns.rx_malformed"] + c["dns.rx_wrong_source"] == 0, c
    # dnsmasq gone: three tries (1 + 2 + 4 s) and a clear line
    dm.kill()
    t0 = time.monotonic()
    assert host_cmd(g, "late.vnet", timeout=20) == "host: late.vnet: no answer from 10.0.2.2 (3 tries)"
    assert time.monotonic() - t0 >= 6.5
    c = inetstat(g)
    assert (c["dns.timeouts"], c["dns.retransmits"]) == (1, 2), c


def etc_netns_writable():
    """/etc/netns can hold our namespace's files (made if missing; see remove_etc_netns)."""
    if os.path.isdir("/etc/netns"):
        return os.access("/etc/netns", os.W_OK)
    return os.access("/etc", os.W_OK)


def remove_etc_netns(made):
    if made:
        try:
            os.rmdir("/etc/netns")  # only when empty: another user's files stay
        except OSError:
            pass


def test_host_against_qemu_user_dns(tmp_path):
    """QEMU's DNS at 10.0.2.3 forwards to the resolver in /etc/resolv.conf as QEMU sees it:
    here a dnsmasq on the loopback of the empty namespace QEMU runs in."""
    if not have_tap():
        pytest.skip("needs a network namespace of its own for QEMU (and its resolv.conf)")
    if not etc_netns_writable():
        pytest.skip("/etc/netns/<name>/resolv.conf cannot be written here (root only): QEMU's "
                    "user-mode DNS would forward to the machine's real resolver, which the test "
                    "network rule forbids")
    need_programs("dnsmasq")
    made_etc_netns = not os.path.isdir("/etc/netns")
    ns = NetNS(host_addr=None)
    conf = Path("/etc/netns") / ns.name
    dm = g = None
    try:
        conf.mkdir(parents=True)
        (conf / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        dm = dns_dnsmasq(ns, tmp_path, ["--listen-address=127.0.0.1", "--port=53",
                                    "--host-record=slirp-test.vnet,%s" % SLIRP_NAME_IP])
        dm.wait_for(r"started, version")
        g = start_guest(tmp_path, ns, "ip=dhcp", "user,id=n0", name="slirp-dns")
        g.wait_for(r"(?:^|vnet> )net: ready ip=10\.0\.2\.15 ", timeout=60)
        g.wait_for(r"dns: server 10\.0\.2\.3 \(dhcp\)\n", timeout=10)
        g.send("")
        g.wait_for(r"vnet> ", timeout=10)
        assert host_cmd(g, "slirp-test.vnet") == f"slirp-test.vnet has address {SLIRP_NAME_IP}"
        assert host_cmd(g, "other.vnet") == "host: other.vnet not found: NXDOMAIN from 10.0.2.3"
        dm.wait_for(r"query\[A\] slirp-test\.vnet from 127\.0\.0\.1$")
        c = inetstat(g)
        assert (c["dns.answers"], c["dns.nxdomain"]) == (1, 1), c
    finally:
        if g:
            g.kill()
        if dm:
            dm.kill()
        shutil.rmtree(conf, ignore_errors=True)
        remove_etc_netns(made_etc_netns)
        ns.close()
