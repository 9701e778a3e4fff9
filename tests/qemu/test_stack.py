"""
tests/qemu/test_stack.py - the IPv4 stack (net/) against a host on the guest's wire.

One guest (ip=10.0.2.15/24 gw=10.0.2.2) runs for the whole module. The host 10.0.2.2 at the
other end of its wire is, where TAPs can be made, the Linux kernel of a network namespace this
module creates (tests/qemu/netns.py), with ping, arping and UDP sockets run in it; elsewhere
it is the test itself on a unix-socket wire, answering and sending with scapy
(tests/qemu/fakehost.py). Either way no packet can leave. QEMU's filter-dump records every
frame on the guest's NIC; the last test stops the guest and has tshark check the whole
capture: no malformed packet, no bad IPv4/UDP/ICMP checksum, and exactly three ARP requests,
about a second apart, for the address nobody has.

Covered: the ready marker; ping from the host (-s 0, default, -s 1472, 200 at -i 0.01);
arping; 500 random UDP payloads of 0..1472 bytes echoed exactly (port 7), none from port 7
(an echo loop); the guest's ping to the host and to a silent address; udpsend received by a
host socket; ICMP port unreachable for a closed port, none and no echo reply for frames to
the link-layer broadcast; the discard service; counters. Every loop is bounded in count and
time.
"""
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from counters import inetstat
from fakehost import FakeHost, open_host
from scapy.all import ICMP, IP, UDP, Ether, Raw  # after fakehost, which skips without scapy
from guest import GUEST_MAC, Guest, nic, qemu_argv
from wire import have_tap, need_tap

ROOT = Path(__file__).resolve().parents[2]
KERNEL = Path(os.environ.get("VNET_KERNEL", ROOT / "build" / "kernel.elf"))
GUEST_IP = "10.0.2.15"
HOST_IP = "10.0.2.2"
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
LINK_BCAST_ID = 0xB0B0    # ICMP id of the echo request sent in a link-layer broadcast
LINK_BCAST_PORT = 4445    # the closed port of the datagram sent in a link-layer broadcast
HOST_TOOLS = ("ping", "arping", "ip")  # what a kernel host on a TAP runs


def accel():
    if os.environ.get("ACCEL"):
        return os.environ["ACCEL"]
    return "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg"


def need_programs(*names):
    missing = [n for n in names if not shutil.which(n)]
    if missing:
        pytest.skip("missing host tools: %s (tools/deps.sh test)" % " ".join(missing))


def need_host_programs(*also):
    """What a host on the wire needs: the namespace's tools on a TAP, nothing on a socket."""
    need_programs(*(HOST_TOOLS if have_tap() else ()), *also)


def need_tools():
    """A TAP in a namespace with ping, arping, tshark and ip there (the kernel as the host)."""
    need_tap("the host's ping, arping and tshark in a network namespace")
    need_programs(*HOST_TOOLS, "tshark")


def start_guest(workdir, netns, append, netdev, extra=(), name="stack"):
    """QEMU (inside netns when it is not None); returns a tests/qemu/guest.py Guest (killed by
    the caller)."""
    if not KERNEL.is_file():
        pytest.fail(f"{KERNEL} is not built: run 'make' first", pytrace=False)
    sockdir = tempfile.mkdtemp(prefix="vnet-mon-")
    mon = os.path.join(sockdir, "mon.sock")
    argv = qemu_argv(kernel=KERNEL, append=append, machine="pc", memory=128, accel=accel(),
                     devices=[nic(addr=None)], netdev=[netdev],
                     extra=list(extra), monitor_path=mon)
    prefix = list(netns.cmd_prefix()) if netns is not None else []
    return Guest(prefix + argv, workdir, name=name, sockdir=sockdir, monitor_path=mon)


def capture_netdev(link, nid="n0"):
    """The link's netdev; a TAP without the virtio-net header, so that the frames of a QEMU
    filter-dump capture start at the Ethernet header."""
    if link.kind == "tap":
        link.vnet_hdr = False
    return link.netdev(nid)


def tshark_problems(pcap):
    """Frames tshark calls malformed or whose IPv4/UDP/ICMP checksum is wrong."""
    prefs = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    flt = ('_ws.malformed or _ws.expert.severity == "Error" or ip.checksum.status == "Bad" '
           'or udp.checksum.status == "Bad" or icmp.checksum.status == "Bad"')
    bad = subprocess.run(["tshark", "-n", "-r", str(pcap), *prefs, "-Y", flt], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 0, bad.stderr
    return bad.stdout.strip()


def tshark_times(pcap, flt):
    """The capture times (s) of the frames that match flt."""
    out = subprocess.run(["tshark", "-n", "-r", str(pcap), "-Y", flt, "-T", "fields", "-e", "frame.time_epoch"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [float(t) for t in out.stdout.split()]


def tshark_count(pcap, flt):
    return len(tshark_times(pcap, flt))


class Stack:
    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.pcap = self.workdir / "stack.pcap"
        self.host = open_host()
        self.g = None
        try:
            self.g = start_guest(workdir, self.host.link.netns, f"ip={GUEST_IP}/24 gw={HOST_IP}",
                                 capture_netdev(self.host.link),
                                 extra=["-object", f"filter-dump,id=cap0,netdev=n0,file={self.pcap}"])
            self.g.wait_for(r"(?:^|vnet> )net: ready ip=10\.0\.2\.15 mac=52:54:00:12:34:56$", timeout=60)
            self.g.wait_for(r"vnet> ", timeout=30)
        except Exception:
            self.close()
            raise

    def close(self):
        if self.g:
            self.g.kill()
        self.host.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    need_host_programs("tshark")
    st = Stack(tmp_path_factory.mktemp("stack"))
    yield st
    st.close()


def test_ready_marker_and_address(stack):
    g = stack.g
    assert len(re.findall(r"(?:^|vnet> )net: ready ", g.log, re.M)) == 1, g.log
    out = g.cmd("inet")
    assert "inet 10.0.2.15/24 netmask 255.255.255.0 broadcast 10.0.2.255 gateway 10.0.2.2 (static)" in out, out


@pytest.mark.parametrize("size", [0, 56, 1472])
def test_host_pings_guest(stack, size):
    r = stack.host.ping(GUEST_IP, 5, size=size, interval=0.2, wait=2)
    assert (r.sent, r.received, r.errors) == (5, 5, []), r.text
    assert r.replies == [(size + 8, 64)] * 5, r.text


def test_host_ping_flood_200(stack):
    # a neighbour entry that cannot expire mid-run: the test measures the guest, not ARP timing
    stack.host.neigh_permanent(GUEST_IP, GUEST_MAC)
    r = stack.host.ping(GUEST_IP, 200, interval=0.01, wait=2)
    assert (r.sent, r.received, r.errors) == (200, 200, []), r.text


def test_arping(stack):
    assert stack.host.arping(GUEST_IP, 3, wait=10) == [GUEST_MAC] * 3
    # an ARP request for another address is not answered
    assert stack.host.arping("10.0.2.77", 2, wait=3) == []


def test_udp_echo_500_random_payloads(stack):
    """500 datagrams, each echoed exactly, each sent once: one at a time on a quiet wire
    nothing is lost (a host socket, the TAP or the unix socket, the guest), so a resend could
    only hide a loss. The 10 s wait is for a slow guest under TCG, not for a lost datagram; the
    guest counts exactly 500 echoes."""
    rnd = random.Random(5)
    s = stack.host.udp_socket()
    s.settimeout(10.0)
    before = inetstat(stack.g)
    try:
        for i in range(500):
            size = 1472 if i == 0 else 0 if i == 1 else rnd.randint(0, 1472)
            payload = rnd.randbytes(size)
            s.sendto(payload, (GUEST_IP, 7))
            try:
                data, src = s.recvfrom(4096)
            except socket.timeout:
                pytest.fail(f"payload {i} ({size} bytes): its echo was lost (one send, 10 s)")
            assert src == (GUEST_IP, 7)
            assert data == payload, f"payload {i}: {size} bytes sent, {len(data)} back, differ"
    finally:
        s.close()
    after = inetstat(stack.g)
    assert after["udp.echo_packets"] - before["udp.echo_packets"] == 500
    assert after["udp.rx_bad_csum"] == 0


def test_udp_echo_refuses_loop_port(stack):
    """A datagram to the echo port from port 7 -- another echo service, or a forged one -- is
    not echoed: two echo services (make run GUESTS=2) would bounce it between them for ever."""
    before = inetstat(stack.g)
    s = stack.host.udp_socket(7)
    s.settimeout(1.0)
    try:
        s.sendto(b"ping-pong", (GUEST_IP, 7))
        with pytest.raises(socket.timeout):
            s.recvfrom(2048)
    finally:
        s.close()
    after = inetstat(stack.g)
    assert after["udp.echo_loop_refused"] - before["udp.echo_loop_refused"] == 1, after
    assert after["udp.echo_packets"] == before["udp.echo_packets"], after


def inetstat_when(g, done, timeout=10):
    """inetstat on g every 0.2 s until done(counters) or timeout s; the last counters."""
    deadline = time.monotonic() + timeout
    while True:
        c = inetstat(g)
        if done(c) or time.monotonic() > deadline:
            return c
        time.sleep(0.2)


def test_discard(stack):
    before = inetstat(stack.g)
    s = stack.host.udp_socket()
    try:
        for n in (1, 100, 1000):
            s.sendto(b"d" * n, (GUEST_IP, 9))
    finally:
        s.close()
    after = inetstat_when(stack.g, lambda c: c["udp.discard_packets"] - before["udp.discard_packets"] >= 3)
    assert after["udp.discard_packets"] - before["udp.discard_packets"] == 3
    assert after["udp.discard_bytes"] - before["udp.discard_bytes"] == 1101


def test_link_broadcast_not_answered(stack):
    """An echo request and a datagram to a closed port, both to the guest's own address but in
    frames to ff:ff:ff:ff:ff:ff: no echo reply, no port unreachable (RFC 1122 3.2.2, 3.3.6).
    test_whole_capture_is_clean checks the wire: the two went in, nothing came out."""
    before = inetstat(stack.g)
    head = Ether(dst=BROADCAST_MAC, src=stack.host.mac) / IP(src=HOST_IP, dst=GUEST_IP)
    stack.host.send(head / ICMP(type=8, id=LINK_BCAST_ID, seq=1) / Raw(b"link-layer broadcast"))
    stack.host.send(head / UDP(sport=5555, dport=LINK_BCAST_PORT) / Raw(b"link-layer broadcast"))
    after = inetstat_when(stack.g, lambda c: c["icmp.rx_echo_requests"] > before["icmp.rx_echo_requests"]
                          and c["udp.rx_no_port"] > before["udp.rx_no_port"])
    assert after["icmp.rx_echo_requests"] - before["icmp.rx_echo_requests"] == 1, after
    assert after["udp.rx_no_port"] - before["udp.rx_no_port"] == 1, after
    for key in ("icmp.tx_echo_replies", "icmp.tx_dest_unreach"):
        assert after[key] == before[key], (key, after)
    assert after["icmp.rx_echo_link_bcast_ignored"] - before["icmp.rx_echo_link_bcast_ignored"] == 1, after
    assert after["icmp.tx_error_link_bcast"] - before["icmp.tx_error_link_bcast"] == 1, after


def test_guest_pings_host(stack):
    g = stack.g
    out = g.cmd(f"ping {HOST_IP} -c 5 -i 100", timeout=30)
    assert len(re.findall(r"^64 bytes from 10\.0\.2\.2: icmp_seq=[1-5] ttl=64 time=\d+\.\d{3} ms$", out, re.M)) == 5, out
    assert "--- 10.0.2.2 ping statistics ---" in out, out
    assert re.search(r"^5 packets transmitted, 5 received, 0% packet loss, time \d+ms$", out, re.M), out
    assert re.search(r"^rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms$", out, re.M), out
    for size in (0, 1472):
        out = g.cmd(f"ping {HOST_IP} -c 2 -s {size} -i 50", timeout=30)
        assert re.search(r"^2 packets transmitted, 2 received, 0% packet loss", out, re.M), out
        assert len(re.findall(r"^%d bytes from 10\.0\.2\.2: icmp_seq=\d" % (size + 8), out, re.M)) == 2, out


def test_guest_ping_stops_on_ctrl_c(stack):
    """^C during a long ping stops it early with the usual summary, and the shell goes on."""
    g = stack.g
    g.cmd("uptime")  # at a prompt
    g.send(f"ping {HOST_IP} -c 100 -i 200")
    g.wait_for(r"icmp_seq=3 ", timeout=20)
    start = time.monotonic()
    g.send_raw("\x03")
    m = g.wait_for(r"^(\d+) packets transmitted, (\d+) received", timeout=10)
    assert time.monotonic() - start < 5
    assert 3 <= int(m.group(1)) < 100
    assert "uptime:" in g.cmd("uptime")


def test_guest_ping_limits_and_errors(stack):
    g = stack.g
    assert "usage: ping" in g.cmd("ping", timeout=10)
    assert "usage: ping" in g.cmd("ping 10.0.2.2 -c 0", timeout=10)
    # up to 16376 bytes (more than 1472 leave in fragments: test_frag.py); more is refused
    assert "more than we send (16376)" in g.cmd("ping 10.0.2.2 -s 16377", timeout=10)
    # our own address loops back, never on the wire
    before = inetstat(g)
    out = g.cmd("ping 10.0.2.15 -c 2 -i 100", timeout=20)
    assert re.search(r"^2 packets transmitted, 2 received, 0% packet loss", out, re.M), out
    after = inetstat(g)
    assert after["ip.rx_loopback"] - before["ip.rx_loopback"] == 4, after  # 2 requests, 2 replies
    # nobody at 10.0.2.99: ARP gives up, the requests are counted as lost; bounded by -W
    before = inetstat(g)
    out = g.cmd("ping 10.0.2.99 -c 2 -i 100 -W 1", timeout=30)
    assert re.search(r"^2 packets transmitted, 0 received, 100% packet loss", out, re.M), out
    time.sleep(3.5)  # ARP retries end (3 tries, 1 s apart)
    after = inetstat(g)
    assert after["arp.resolve_failed"] - before["arp.resolve_failed"] == 2, after


def test_udpsend_reaches_host_socket(stack):
    s = stack.host.udp_socket(5555)
    s.settimeout(10)
    try:
        out = stack.g.cmd("udpsend 10.0.2.2 5555 hello from the guest", timeout=10)
        assert re.search(r"udpsend: 20 bytes to 10\.0\.2\.2:5555 from port \d+", out), out
        data, src = s.recvfrom(2048)
    finally:
        s.close()
    assert data == b"hello from the guest"
    assert src[0] == GUEST_IP and src[1] >= 49152
    assert "usage: udpsend" in stack.g.cmd("udpsend 10.0.2.2 0 x", timeout=10)


def test_port_unreachable_for_closed_port(stack):
    before = inetstat(stack.g)
    s = stack.host.udp_socket()
    s.settimeout(5)
    try:
        s.connect((GUEST_IP, 4444))
        s.send(b"anyone there?")
        # the ICMP port unreachable becomes ECONNREFUSED on a connected socket (Linux, FakeHost)
        with pytest.raises(ConnectionRefusedError):
            s.recv(100)
    finally:
        s.close()
    after = inetstat(stack.g)
    assert after["icmp.tx_dest_unreach"] - before["icmp.tx_dest_unreach"] == 1
    assert after["udp.rx_no_port"] - before["udp.rx_no_port"] == 1


def test_arp_cache_and_counters(stack):
    g = stack.g
    out = g.cmd("arp")
    assert re.search(r"^10\.0\.2\.2 +[0-9a-f:]{17} reachable expires \d+s$", out, re.M), out
    c = inetstat(g)
    for key in ("ip.rx_bad_csum", "udp.rx_bad_csum", "icmp.rx_bad_csum", "ip.rx_truncated",
                "eth.tx_dropped", "ip.tx_no_headroom"):
        assert c[key] == 0, (key, c)
    assert c["icmp.tx_echo_replies"] >= 215
    assert c["arp.tx_replies"] >= 3


def test_link_flap_announces_again(stack):
    g = stack.g
    before = inetstat(g)["arp.tx_announces"]
    g.monitor("set_link n0 off")
    g.wait_for(r"eth0: link down\n", timeout=20)  # may follow a prompt
    g.monitor("set_link n0 on")
    g.wait_for(r"eth0: link up\n", timeout=20)
    # RFC 5227 2.3: ANNOUNCE_NUM (2) announcements, ANNOUNCE_INTERVAL (2 s) apart, the first at
    # once: both within 10 s, and no third 2.5 s after the second (test_whole_capture_is_clean
    # counts them on the wire)
    deadline = time.monotonic() + 10
    while inetstat(g)["arp.tx_announces"] - before < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.5)
    assert inetstat(g)["arp.tx_announces"] - before == 2
    # and the stack still works
    out = g.cmd(f"ping {HOST_IP} -c 2 -i 100", timeout=30)
    assert re.search(r"^2 packets transmitted, 2 received", out, re.M), out
    assert len(re.findall(r"(?:^|vnet> )net: ready ", g.log, re.M)) == 1


def test_whole_capture_is_clean(stack):
    """Last: stop the guest so the capture is complete, then let tshark judge it. A fake host
    judges its own record of the wire too: the same frames must have crossed the socket."""
    g = stack.g
    g.send("exit 0")
    assert g.wait_exit(20) == 1
    assert not re.search(r"EXCEPTION|panic", g.log)
    pcaps = [stack.pcap]
    if isinstance(stack.host, FakeHost):
        assert not stack.host.dropped, stack.host.dropped  # no bad checksum reached the host
        assert stack.host.arp_resends == 0  # every ARP request the host made was answered at once
        pcaps.append(stack.workdir / "host.pcap")
        stack.host.write_pcap(pcaps[-1])
    for pcap in pcaps:
        assert pcap.is_file() and pcap.stat().st_size > 100000
        problems = tshark_problems(pcap)
        assert problems == "", problems
        assert tshark_count(pcap, "icmp.type == 0 and ip.src == 10.0.2.15") >= 215
        assert tshark_count(pcap, "udp.srcport == 7 and ip.src == 10.0.2.15") >= 500
        assert tshark_count(pcap, "icmp.type == 3 and icmp.code == 3") >= 1
        # test_link_broadcast_not_answered: both frames reached the guest, neither was answered
        assert tshark_count(pcap, "eth.dst == ff:ff:ff:ff:ff:ff and icmp.type == 8 and icmp.ident == %d"
                            % LINK_BCAST_ID) == 1
        assert tshark_count(pcap, "icmp.type == 0 and icmp.ident == %d" % LINK_BCAST_ID) == 0
        assert tshark_count(pcap, "eth.dst == ff:ff:ff:ff:ff:ff and udp.dstport == %d" % LINK_BCAST_PORT) == 1
        assert tshark_count(pcap, "icmp.type == 3 and udp.dstport == %d" % LINK_BCAST_PORT) == 0
        # test_guest_ping_limits_and_errors: nobody has 10.0.2.99; the two pings queued on one
        # resolution, asked for exactly ARP_MAX_TRIES (3) times, about ARP_RETRY_NS (1 s) apart
        # (RFC 1122 2.3.2.1: at most one request per second). The window is the guest's clock
        # against the capture's: its TSC is calibrated at boot, off by up to tens of per cent
        # under a loaded TCG host (test_arp.py); a retry without its wait is far outside it.
        asks = tshark_times(pcap, "arp.opcode == 1 and arp.dst.proto_ipv4 == 10.0.2.99 and eth.src == %s" % GUEST_MAC)
        assert len(asks) == 3, asks
        assert all(0.7 <= b - a <= 1.5 for a, b in zip(asks, asks[1:])), asks
        # gratuitous ARP, two at boot and two after the link flap: sender and target our address
        assert tshark_count(pcap, "arp.src.proto_ipv4 == 10.0.2.15 and arp.dst.proto_ipv4 == 10.0.2.15") == 4
