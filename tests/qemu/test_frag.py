"""
tests/qemu/test_frag.py - IPv4 fragments both ways on the wire (issue 16; RFC 791 3.2,
RFC 1122 3.3.2).

One guest (ip=10.0.2.15/24 gw=10.0.2.2, MTU 1500) for the module, the host 10.0.2.2 at the
other end of its wire (tests/qemu/fakehost.py). Where TAPs can be made the host is the kernel
of a namespace the module creates: its own `ping -s 4000` and a UDP socket sending 4,000 bytes
to the echo port, fragmented and reassembled by Linux. On the unix-socket wire the test is the
host: the same datagrams cut into fragments with scapy, and the guest's fragments taken from
the host's record of the wire and put together here. Either way the guest must reassemble what
comes, answer in place, fragment the answer (each fragment at most the MTU, a multiple of 8
bytes but the last, DF clear) and the answer must come back byte for byte. Bounded: a few
datagrams, each waited for at most a few seconds.
"""
import random
import socket
import time

import pytest

from counters import inetstat
from fakehost import open_host
from scapy.all import ICMP, IP, UDP, Ether, Raw, fragment  # after fakehost, which skips without scapy
from scapy.layers.inet import in4_chksum  # noqa: E402
from scapy.utils import checksum  # noqa: E402
from guest import GUEST_MAC
from test_stack import GUEST_IP, HOST_IP, need_host_programs, start_guest

SIZE = 4000
MTU = 1500


class Frag:
    def __init__(self, workdir):
        self.host = open_host()
        self.g = None
        try:
            self.g = start_guest(workdir, self.host.link.netns, f"ip={GUEST_IP}/24 gw={HOST_IP}",
                                 self.host.link.netdev("n0"), name="frag")
            self.g.wait_for(r"(?:^|vnet> )net: ready ip=10\.0\.2\.15 ", timeout=60)
            self.g.wait_for(r"vnet> ", timeout=30)
        except Exception:
            self.close()
            raise

    @property
    def kernel_host(self):
        return self.host.link.kind == "tap"

    def close(self):
        if self.g:
            self.g.kill()
        self.host.close()

    # ---- the unix-socket wire: the test is the host ----
    def send_fragmented(self, pkt, fragsize=1480):
        """An IPv4 datagram from the host, cut into fragments (scapy, RFC 791 3.2)."""
        head = Ether(dst=self.host.resolve(GUEST_IP), src=self.host.mac)
        frags = fragment(pkt, fragsize=fragsize)
        assert len(frags) > 1
        for f in frags:
            self.host.send(head / f)
        return len(frags)

    def answer_from_guest(self, since, proto, timeout=10):
        """The first datagram of proto the guest sent to the host in fragments after since
        (time.time()), put together from the host's record of the wire; each fragment is
        checked as it is taken. Returns the bytes above IPv4."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            groups = {}
            for t, frame in list(self.host.record):
                if t < since:
                    continue
                p = Ether(frame)
                if p.src != GUEST_MAC or IP not in p:
                    continue
                ip = p[IP]
                if ip.src != GUEST_IP or ip.dst != HOST_IP or ip.proto != proto or not (ip.flags.MF or ip.frag):
                    continue
                data = bytes(ip)[ip.ihl * 4:ip.len]
                assert ip.len <= MTU and not ip.flags.DF and ip.ttl == 64, ip.summary()
                assert not ip.flags.MF or len(data) % 8 == 0, ip.summary()
                groups.setdefault(ip.id, {})[ip.frag * 8] = (data, bool(ip.flags.MF))
            for parts in groups.values():
                whole, more = b"", True
                for off in sorted(parts):
                    if off != len(whole):
                        break
                    whole += parts[off][0]
                    more = parts[off][1]
                if not more:
                    return whole
            time.sleep(0.2)
        pytest.fail(f"no fragmented answer (protocol {proto}) from the guest in {timeout} s")


@pytest.fixture(scope="module")
def fr(tmp_path_factory):
    need_host_programs()
    st = Frag(tmp_path_factory.mktemp("frag"))
    yield st
    st.close()


def test_ping_4000_answered(fr):
    before = inetstat(fr.g)
    if fr.kernel_host:
        r = fr.host.ns.run(["ping", "-n", "-c", "3", "-s", str(SIZE), "-i", "0.3", "-W", "3", GUEST_IP],
                           check=False, timeout=60)
        text = r.stdout + r.stderr
        assert "3 packets transmitted, 3 received" in text, text
        assert "wrong data" not in text and "DUP!" not in text, text
        assert text.count(f"{SIZE + 8} bytes from {GUEST_IP}") == 3, text
        n = 3
    else:
        n = 1
        data = bytes((i * 13 + 5) & 0xFF for i in range(SIZE))
        since = time.time()
        fr.send_fragmented(IP(src=HOST_IP, dst=GUEST_IP, id=0x4F4F) / ICMP(type=8, id=0x99, seq=1) / Raw(data))
        answer = fr.answer_from_guest(since, 1)
        reply = ICMP(answer)
        assert (reply.type, reply.code, reply.id, reply.seq) == (0, 0, 0x99, 1), reply.summary()
        assert bytes(reply.payload) == data
        assert checksum(answer) == 0  # RFC 792: over the whole message
    after = inetstat(fr.g)
    assert after["ip.rx_frag_reassembled"] - before["ip.rx_frag_reassembled"] == n, after
    assert after["icmp.tx_echo_replies"] - before["icmp.tx_echo_replies"] == n, after
    assert after["ip.tx_fragments"] - before["ip.tx_fragments"] == 3 * n, after  # 1480 + 1480 + 1048


def test_udp_echo_4000_exact(fr):
    rnd = random.Random(16)
    before = inetstat(fr.g)
    sizes = [SIZE, 1473, 2961]  # 3 fragments; just over one packet; 2960 + 9 bytes of UDP
    for size in sizes:
        payload = rnd.randbytes(size)
        if fr.kernel_host:  # a quiet link of our own: one send, no resend needed
            s = fr.host.udp_socket()
            s.settimeout(5.0)
            try:
                s.sendto(payload, (GUEST_IP, 7))
                data, src = s.recvfrom(65536)
            finally:
                s.close()
            assert src == (GUEST_IP, 7)
        else:
            since = time.time()
            fr.send_fragmented(IP(src=HOST_IP, dst=GUEST_IP, id=0x5000 + size) / UDP(sport=40007, dport=7) /
                               Raw(payload))
            answer = fr.answer_from_guest(since, 17)
            udp = UDP(answer)
            assert (udp.sport, udp.dport, udp.len) == (7, 40007, 8 + size), udp.summary()
            data = bytes(udp.payload)
            assert in4_chksum(17, IP(src=GUEST_IP, dst=HOST_IP), answer) == 0  # RFC 768
        assert data == payload, f"echo of {size} bytes differs"
    after = inetstat(fr.g)
    assert after["udp.echo_packets"] - before["udp.echo_packets"] == len(sizes), after
    assert after["ip.rx_frag_reassembled"] - before["ip.rx_frag_reassembled"] == len(sizes), after
    assert after["udp.rx_bad_csum"] == 0, after
    # nothing left behind: no datagram in progress took a pool buffer, none was dropped
    for k in ("rx_frag_overlap", "rx_frag_bad_len", "rx_frag_tiny", "rx_frag_timeout", "rx_frag_evicted",
              "tx_frag_no_buffers"):
        assert after["ip." + k] == before["ip." + k], (k, after)


def test_guest_sends_more_than_the_mtu(fr):
    """udp_sendto and ping of more than the MTU leave the guest in fragments, whole on arrival:
    `udpsend -s 4000` to a host UDP socket, `ping -s 4000` to the host."""
    want = bytes((ord("a") + i % 26) for i in range(SIZE))
    before = inetstat(fr.g)
    if fr.kernel_host:
        s = fr.host.udp_socket()
        s.settimeout(8.0)
        try:
            out = fr.g.cmd(f"udpsend -s {SIZE} {HOST_IP} {s.getsockname()[1]}")
            assert f"udpsend: {SIZE} bytes to {HOST_IP}" in out, out
            data, src = s.recvfrom(65536)
        finally:
            s.close()
        assert src[0] == GUEST_IP and data == want
        out = fr.g.cmd(f"ping {HOST_IP} -c 2 -s {SIZE} -i 300 -W 3", timeout=20)
        assert "2 packets transmitted, 2 received" in out, out
        assert out.count(f"{SIZE + 8} bytes from {HOST_IP}") == 2, out
        pings = 2
    else:  # the fake host does not reassemble: the test takes the fragments off the wire
        since = time.time()
        out = fr.g.cmd(f"udpsend -s {SIZE} {HOST_IP} 40123")
        assert f"udpsend: {SIZE} bytes to {HOST_IP}" in out, out
        udp = UDP(fr.answer_from_guest(since, 17))
        assert (udp.dport, udp.len) == (40123, 8 + SIZE) and bytes(udp.payload) == want
        since = time.time()
        fr.g.cmd(f"ping {HOST_IP} -c 1 -s {SIZE} -W 1", timeout=20)
        answer = fr.answer_from_guest(since, 1)
        req = ICMP(answer)
        assert (req.type, len(answer)) == (8, 8 + SIZE) and checksum(answer) == 0
        assert bytes(req.payload) == bytes((1 + i) & 0xFF for i in range(SIZE))  # seq 1: byte i is 1 + i
        pings = 1
    after = inetstat(fr.g)
    assert after["ip.tx_fragments"] - before["ip.tx_fragments"] == 3 * (1 + pings), after
    assert after["icmp.tx_echo_requests"] - before["icmp.tx_echo_requests"] == pings, after
    assert after["ip.tx_frag_no_buffers"] == before["ip.tx_frag_no_buffers"], after


def test_echo_reply_keeps_record_route(fr):
    """RFC 1122 3.2.2.6: an echo request's IP options come back in the reply; record route
    with the guest's address added (RFC 791 3.1), so the route recorded is the round trip."""
    before = inetstat(fr.g)
    if fr.kernel_host:
        r = fr.host.ns.run(["ping", "-n", "-R", "-c", "1", "-W", "3", GUEST_IP], check=False, timeout=30)
        text = r.stdout + r.stderr
        assert "1 packets transmitted, 1 received" in text, text
        route = text.split("RR:", 1)[1].split("\n\n", 1)[0].split() if "RR:" in text else []
        assert GUEST_IP in route, text  # the guest's entry, put in on the way back
    else:
        from scapy.layers.inet import IPOption_RR
        q = fr.host.listen(lambda p: ICMP in p and p[ICMP].type == 0 and p[ICMP].id == 0x5252)
        try:
            fr.host.send(fr.host.ip_to(GUEST_IP, options=[IPOption_RR(pointer=4, routers=["0.0.0.0"] * 3)]) /
                         ICMP(type=8, id=0x5252, seq=1) / Raw(b"route"))
            p = q.get(timeout=5)
        finally:
            fr.host.unlisten(q)
        opts = bytes(p[IP])[20:p[IP].ihl * 4]
        assert opts[:3] == bytes([7, 15, 8]), opts.hex()  # record route, pointer moved on by 4
        assert socket.inet_ntoa(opts[3:7]) == GUEST_IP and opts[7:15] == bytes(8), opts.hex()
        assert bytes(p[ICMP].payload) == b"route"
    after = inetstat(fr.g)
    assert after["icmp.tx_echo_options"] - before["icmp.tx_echo_options"] == 1, after
