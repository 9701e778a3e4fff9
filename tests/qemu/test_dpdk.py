"""
tests/qemu/test_dpdk.py - the guest against DPDK's vhost-user back-end (issue 17): testpmd's
net_vhost port serves the NIC's rings (tests/qemu/testpmd.py), no TAP, no namespace, no root.

Two ways testpmd forwards, each on the split ring and on the packed ring (RINGS: one more
entry for another variant):
  - macswap: every frame the guest sends comes back to it with the MAC addresses swapped.
    `sendraw` frames of 60..1514 bytes go out and come back; the guest's frame log (length and
    CRC-32 of each received frame) must show exactly the swapped frames, in order, and testpmd
    must have received and sent as many: byte-exact through the guest's transmit path, DPDK,
    and the guest's receive path.
  - io to a pcap file: port 1 is DPDK's net_pcap writing what port 0 (the guest) sends. The
    file must hold the `sendraw` frames byte for byte, and UDP datagrams the guest sends to
    the limited broadcast (no ARP: nothing answers here) with their payload intact and a valid
    UDP checksum: with checksum offload (DPDK's vhost-user port offers VIRTIO_NET_F_CSUM) the
    guest leaves the pseudo-header sum and NEEDS_CSUM, and DPDK's net_vhost completes the sum
    in software as it dequeues ("Rx csum will be done in SW"); with vnet_csum=off the guest
    sums them itself. Either way the bytes in the file are right.

Skipped, with the reason, when testpmd is not installed (a student's `make test` does not
pull in DPDK; `make test-full` and `make bench` install it through tools/deps.sh dpdk).
testpmd polls: one host CPU is busy while it runs, so each guest here is short-lived.
"""
import re
import struct
import time
import zlib

import pytest

import testpmd
from guest import GUEST_MAC
from test_net import sendraw_frame
from test_stack import GUEST_IP, HOST_IP, start_guest

# ring variant: extra kernel command line / device settings. One line per variant.
RINGS = [("split", False), ("packed", True)]
SENDRAW = [(10, 60), (3, 61), (3, 1000), (3, 1514)]


@pytest.fixture(autouse=True)
def need_testpmd():
    why = testpmd.unavailable()
    if why:
        pytest.skip(why)


def boot(tmp_path, pmd, packed, append=""):
    g = start_guest(tmp_path, None, f"ip={GUEST_IP}/24 gw={HOST_IP} {append}".strip(), testpmd.netdev(),
                    extra=testpmd.qemu_args(pmd.sock, packed=packed), name="dpdk")
    g.wait_for(r"(?:^|vnet> )net: ready ip=10\.0\.2\.15 ", timeout=90)
    g.wait_for(r"vnet> ", timeout=30)
    return g


def check_ring(g, packed):
    info = g.cmd("virtio")
    assert ("RING_PACKED" in info) == packed, info


def swapped(frame):
    return frame[6:12] + frame[0:6] + frame[12:]


@pytest.mark.parametrize("packed", [r[1] for r in RINGS], ids=[r[0] for r in RINGS])
def test_macswap_exact(tmp_path, packed):
    pmd = testpmd.TestPmd("macswap", workdir=tmp_path)
    g = None
    try:
        g = boot(tmp_path, pmd, packed)
        check_ring(g, packed)
        g.cmd("framelog on")
        pmd.cmd("start")
        time.sleep(0.5)
        start = len(g.log)
        want = []
        for count, size in SENDRAW:
            out = g.cmd(f"sendraw {count} {size}", timeout=60)
            assert f"sendraw: {count} frames of {size} bytes queued, 0 failed" in out, out
            want += [(size, zlib.crc32(swapped(sendraw_frame(seq, size)))) for seq in range(count)]
        got = []
        for _ in range(200):  # bounded: 20 s
            got = [(int(a), int(b, 16)) for a, b in
                   re.findall(r"rx: eth0 len (\d+) crc ([0-9a-f]{8})", g.log[start:])]
            if len(got) >= len(want):
                break
            time.sleep(0.1)
        assert got == want, f"want {want}\ngot {got}"
        st = pmd.port_stats(0)
        n = sum(c for c, _ in SENDRAW)
        # the guest's own frames besides sendraw's (its link-up announcements) also go round,
        # and one may still be on its way back as the counters are read
        assert st["rx"] >= n and n <= st["tx"] <= st["rx"], st
        pmd.cmd("stop")
    finally:
        if g:
            g.kill()
        pmd.close()


def udp_ok(frame):
    """(payload, checksum valid) of an IPv4/UDP frame."""
    ihl = (frame[14] & 0xF) * 4
    ulen = struct.unpack("!H", frame[14 + ihl + 4:14 + ihl + 6])[0]
    udp = frame[14 + ihl:14 + ihl + ulen]
    data = frame[26:34] + struct.pack("!BBH", 0, 17, ulen) + udp
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return udp[8:], s == 0xFFFF and udp[6:8] != b"\0\0"


@pytest.mark.parametrize("csum", ["offload", "off"])
@pytest.mark.parametrize("packed", [r[1] for r in RINGS], ids=[r[0] for r in RINGS])
def test_to_pcap_exact(tmp_path, packed, csum):
    from scapy.utils import rdpcap  # scapy: make test's own dependency

    out_pcap = tmp_path / "guest.pcap"
    pmd = testpmd.TestPmd("io", pcap_out=out_pcap, workdir=tmp_path)
    g = None
    texts = ["a", "dpdk-offload-" * 8]
    try:
        g = boot(tmp_path, pmd, packed, "" if csum == "offload" else "vnet_csum=off")
        check_ring(g, packed)
        pmd.cmd("start")
        time.sleep(0.5)
        for count, size in SENDRAW:
            assert f"{count} frames of {size} bytes queued, 0 failed" in g.cmd(f"sendraw {count} {size}", timeout=60)
        for t in texts:
            assert f"udpsend: {len(t)} bytes" in g.cmd(f"udpsend 255.255.255.255 5000 {t}")
        v = g.cmd("netstat")
        m = re.search(r"eth0: csum tx (\w+) rx (\w+) tx_csum_partial (\d+)", v)
        assert m and m.group(1) == csum and int(m.group(3)) == (len(texts) if csum == "offload" else 0), v
        time.sleep(1)
        pmd.cmd("stop")
    finally:
        if g:
            g.kill()
        pmd.close()  # the pcap port writes its file out as testpmd quits
    frames = [bytes(p) for p in rdpcap(str(out_pcap))]
    mac = bytes.fromhex(GUEST_MAC.replace(":", ""))
    raw = [f for f in frames if f[6:12] == mac and f[12:14] == b"\x88\xb5"]
    want = [sendraw_frame(seq, size) for count, size in SENDRAW for seq in range(count)]
    assert raw == want
    udp = [f for f in frames if f[6:12] == mac and f[12:14] == b"\x08\x00" and f[23] == 17
           and f[36:38] == struct.pack("!H", 5000)]
    assert [udp_ok(f) for f in udp] == [(t.encode(), True) for t in texts], [f.hex() for f in udp]
