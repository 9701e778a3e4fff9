"""
tests/qemu/test_csum.py - checksum offload on QEMU's TAP backend, bytes on the wire checked
(issue 17: VIRTIO_NET_F_CSUM and VIRTIO_NET_F_GUEST_CSUM, virtio 1.x 5.1.6.2 and 5.1.6.4).

QEMU offers both features when its TAP has the virtio-net header (vnet_hdr, on by default
where the kernel has it) and passes our header to the host kernel's tun driver with the frame:
a NEEDS_CSUM frame becomes a "checksum partial" packet there, and QEMU does not fill the
checksum in. So what the capture on the TAP shows for a frame we offloaded is the seed we left
(the pseudo-header sum), with the kernel's note that the checksum is not ready yet
(TP_STATUS_CSUMNOTREADY in PACKET_AUXDATA); the host stack then takes the datagram as
checked, as Linux does for any such packet. The tests prove both halves: the field holds
exactly the seed 5.1.6.2 asks for, and summing the datagram from the UDP header, as the header
told the device to, makes it valid; with offload off the checksum on the wire is already whole
and the kernel says nothing is pending. The host's sockets receive exactly what was sent either
way.

Receive: datagrams from the host's own sockets reach the guest as NEEDS_CSUM (tun marks them
so under GUEST_CSUM), which the guest counts as trusted (udp rx_csum_trusted) and answers
with a checksum of its own, never the seed it was given; a frame injected on the TAP with a
wrong checksum carries no flags and is still dropped (udp rx_bad_csum).

Rows: both offloads (the default), vnet_csum=off, vnet_guest_csum=off, both off, and a TAP
without the virtio-net header (QEMU then offers neither). A TAP is needed: QEMU's
-netdev dgram (the socket wire) has no virtio-net header, so there is no offload to test.
"""
import socket
import struct

import pytest

from counters import inetstat, netstat
from fakehost import open_host
from guest import GUEST_MAC
from test_stack import GUEST_IP, HOST_IP, start_guest
from wire import mac_bytes, need_tap

SOL_PACKET, PACKET_AUXDATA, ETH_P_ALL = 263, 8, 3
TP_STATUS_CSUMNOTREADY = 0x8  # linux/if_packet.h: the checksum is the device's job
HOST_PORT = 5000
PAYLOADS = [b"", b"x", bytes(range(256)) * 2, bytes((i * 7) & 0xFF for i in range(1472))]

ROWS = [
    # id, kernel command line, TAP has the virtio-net header, tx offload, rx offload
    ("offload", "", True, True, True),
    ("csum-off", "vnet_csum=off", True, False, True),
    ("guest-csum-off", "vnet_guest_csum=off", True, True, False),
    ("both-off", "vnet_csum=off vnet_guest_csum=off", True, False, False),
    ("tap-no-vnet-hdr", "", False, False, False),
]


def csum16(data):
    """RFC 1071 ones' complement sum, folded, not complemented."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def udp_parts(frame):
    """(pseudo-header sum, UDP header + data, checksum field) of an IPv4/UDP frame."""
    ihl = (frame[14] & 0xF) * 4
    ip = frame[14:14 + ihl]
    ulen = struct.unpack("!H", frame[14 + ihl + 4:14 + ihl + 6])[0]
    udp = frame[14 + ihl:14 + ihl + ulen]
    pseudo = csum16(ip[12:20] + struct.pack("!BBH", 0, 17, ulen))
    return pseudo, udp, struct.unpack("!H", udp[6:8])[0]


class Capture:
    """Frames crossing the TAP with the kernel's packet status (PACKET_AUXDATA)."""

    def __init__(self, host):
        with host.ns.entered():
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self.sock.bind((host.ns.tap, ETH_P_ALL))
        self.sock.settimeout(0.5)

    def udp_from_guest(self, want, timeout=5):
        """The next `want` IPv4/UDP frames the guest sent: [(frame, status)]."""
        got = []
        src = mac_bytes(GUEST_MAC)
        for _ in range(int(timeout / 0.5) + want * 4):  # bounded
            if len(got) == want:
                break
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, 1024)
            except socket.timeout:
                continue
            status = next((struct.unpack("I", d[:4])[0] for lvl, typ, d in anc
                           if lvl == SOL_PACKET and typ == PACKET_AUXDATA), None)
            if data[6:12] == src and data[12:14] == b"\x08\x00" and data[23] == 17:
                got.append((data, status))
        return got

    def close(self):
        self.sock.close()


def check_on_wire(frame, status, offloaded):
    """The UDP checksum of a frame the guest sent, as the TAP saw it."""
    pseudo, udp, field = udp_parts(frame)
    assert status is not None, "no PACKET_AUXDATA"
    if offloaded:
        # 5.1.6.2: the field holds the pseudo-header sum; the rest is left to the device
        assert status & TP_STATUS_CSUMNOTREADY, hex(status)
        assert field == pseudo, (hex(field), hex(pseudo))
        summed = 0xFFFF - csum16(udp)  # what completing it from the UDP header stores
        completed = udp[:6] + struct.pack("!H", summed or 0xFFFF) + udp[8:]
        assert csum16(struct.pack("!H", pseudo) + completed) == 0xFFFF
    else:
        assert not status & TP_STATUS_CSUMNOTREADY, hex(status)
        assert field != 0 and csum16(struct.pack("!H", pseudo) + udp) == 0xFFFF, hex(field)


@pytest.fixture(params=ROWS, ids=[r[0] for r in ROWS])
def row(request, tmp_path):
    need_tap("checksum offload (QEMU offers it only on a TAP with the virtio-net header)")
    rid, append, vnet_hdr, tx, rx = request.param
    host = open_host()
    g = cap = None
    try:
        netdev = host.link.netdev("n0") + ("" if vnet_hdr else ",vnet_hdr=off")
        g = start_guest(tmp_path, host.ns, f"ip={GUEST_IP}/24 gw={HOST_IP} {append}".strip(), netdev,
                        name=f"csum-{rid}")
        g.wait_for(r"(?:^|vnet> )net: ready ip=10\.0\.2\.15 ", timeout=60)
        g.wait_for(r"vnet> ", timeout=30)
        host.neigh_permanent(GUEST_IP, GUEST_MAC)
        cap = Capture(host)
        yield host, g, cap, tx, rx, vnet_hdr
    finally:
        if cap:
            cap.close()
        if g:
            g.kill()
        host.close()


def test_negotiated(row):
    host, g, cap, tx, rx, vnet_hdr = row
    out = netstat(g)[1]
    want = f"eth0: csum tx {'offload' if tx else 'off'} rx {'offload' if rx else 'off'} "
    assert want in out, out
    accepting = [ln for ln in g.log.splitlines() if "virtio0: accepting" in ln]
    assert accepting, g.log
    assert ("CSUM(0)" in accepting[0]) == tx, accepting[0]
    assert ("GUEST_CSUM(1)" in accepting[0]) == rx, accepting[0]
    if not vnet_hdr:  # QEMU offers neither without a header to pass them in
        assert "CSUM" not in accepting[0], accepting[0]


def test_guest_sends_udp(row):
    """udpsend from the guest: what the host socket receives is exact, the wire's checksum is
    the seed (offload) or whole (off)."""
    host, g, cap, tx, rx, _ = row
    s = host.udp_socket(HOST_PORT)
    s.settimeout(5)
    try:
        texts = ["a", "checksum-offload-" * 8]
        for t in texts:
            assert f"udpsend: {len(t)} bytes to {HOST_IP}:{HOST_PORT}" in g.cmd(f"udpsend {HOST_IP} {HOST_PORT} {t}")
            data, src = s.recvfrom(4096)
            assert data == t.encode() and src[0] == GUEST_IP
    finally:
        s.close()
    frames = cap.udp_from_guest(len(texts))
    assert len(frames) == len(texts), frames
    for frame, status in frames:
        check_on_wire(frame, status, tx)
    v = netstat(g)[0]
    assert v["eth0.tx_csum_partial"] == (len(texts) if tx else 0), v


def test_echo_both_ways(row):
    """The host's datagrams to the echo port come back exact; the guest trusts what the device
    vouched for (GUEST_CSUM), and never sends the seed it received back as a checksum. A reply
    is offloaded only when the request came with a seed: a whole checksum received is sent
    back as it is (udp_reply: swapping the ports and addresses leaves the sum unchanged)."""
    host, g, cap, tx, rx, _ = row
    before = inetstat(g)
    s = host.udp_socket()
    s.settimeout(5)
    try:
        for p in PAYLOADS:
            s.sendto(p, (GUEST_IP, 7))
            data, src = s.recvfrom(4096)
            assert data == p and src == (GUEST_IP, 7), (len(p), len(data))
    finally:
        s.close()
    frames = cap.udp_from_guest(len(PAYLOADS))
    assert len(frames) == len(PAYLOADS)
    for frame, status in frames:
        check_on_wire(frame, status, tx and rx)
    after = inetstat(g)
    n = len(PAYLOADS)
    assert after["udp.echo_packets"] - before["udp.echo_packets"] == n
    assert after["udp.rx_csum_trusted"] - before["udp.rx_csum_trusted"] == (n if rx else 0), after
    assert after["udp.tx_csum_offload"] - before["udp.tx_csum_offload"] == (n if tx and rx else 0), after
    assert after["udp.rx_bad_csum"] == before["udp.rx_bad_csum"]
    v = netstat(g)[0]
    assert v["eth0.rx_csum_partial"] == (n if rx else 0), v


def test_wrong_checksum_still_dropped(row):
    """A frame put on the TAP by a packet socket carries no checksum promise, GUEST_CSUM or
    not: the guest sums it and drops it."""
    from scapy.all import IP, UDP, Ether, Raw  # scapy: make test's own dependency
    host, g, cap, tx, rx, _ = row
    before = inetstat(g)
    frame = bytearray(bytes(Ether(src=host.mac, dst=GUEST_MAC) / IP(src=HOST_IP, dst=GUEST_IP) /
                            UDP(sport=4000, dport=9) / Raw(b"wrong sum")))
    frame[40] ^= 0x5A  # the UDP checksum's first byte
    good = bytes(Ether(src=host.mac, dst=GUEST_MAC) / IP(src=HOST_IP, dst=GUEST_IP) /
                 UDP(sport=4000, dport=9) / Raw(b"right sum"))
    host.send(bytes(frame))
    host.send(good)
    for _ in range(50):  # bounded: both counted within 5 s
        after = inetstat(g)
        if after["udp.rx_datagrams"] - before["udp.rx_datagrams"] >= 2:
            break
    assert after["udp.rx_bad_csum"] - before["udp.rx_bad_csum"] == 1, after
    assert after["udp.discard_packets"] - before["udp.discard_packets"] == 1, after
    assert after["udp.rx_csum_trusted"] == before["udp.rx_csum_trusted"], after
