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
