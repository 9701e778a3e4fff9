"""
tests/qemu/test_net.py - the virtio-net driver moving real frames over a TAP device.

Each test gives the guest a wire of its own (tests/qemu/wire.py): a TAP in a network
namespace of the test's own, read and written with a raw AF_PACKET socket, or, where no TAP
can be made, a unix socket with the test as the other end. The frames are the same either way:
  - host -> guest: frames of 60..1514 bytes (up to the MTU); the guest's frame log
    (`framelog on`) prints each frame's length and CRC-32, which must match what was sent;
  - guest -> host: `sendraw COUNT SIZE` frames are captured and compared byte for byte with
    the documented pattern (docs/serial.md);
  - across the QEMU configuration matrix (a representative subset by default; FULL=1 or
    `make test-full` runs all of it); for a row with host_mtu also the MTU the guest chose and
    whether VIRTIO_NET_F_MTU was negotiated, as QEMU reports it (`info virtio-status`); for
    mq=on a device with MQ_PAIRS queue pairs (a multiqueue TAP) of which we use one;
  - 100,000 frames each way without loss and with the buffer pool back at its baseline;
  - link down/up from the QEMU monitor while traffic flows; `netreset` under traffic.
No frame leaves the namespace: the TAP is its only link and nothing routes.
"""
import os
import re
import socket
import struct
import time
import zlib
from pathlib import Path

import pytest

from counters import netstat
from guest import GUEST_MAC, nic
from qemu_view import queue_status
from wire import TEST_ETHERTYPE, Pump, Wire, have_tap, mac_bytes, make_frame, open_link

FULL = os.environ.get("FULL") == "1"
ROOT = Path(__file__).resolve().parents[2]
# The largest MTU the driver's receive buffers are sized for, read from the driver so that
# the row "one above it" follows the constant.
VIRTNET_MAX_MTU = int(re.search(r"^#define VIRTNET_MAX_MTU\s+(\d+)",
                                (ROOT / "drivers/net/virtio_net.c").read_text(), re.M).group(1))
ETH_MIN_MTU = 68           # virtio 1.x 5.1.4.1: a device's mtu is 68..65535
ETH_DATA_LEN = 1500        # the MTU without VIRTIO_NET_F_MTU
QEMU_MAX_HOST_MTU = 65535  # QEMU 7.2's host_mtu is a uint16 (65536: "expects uint16_t")
MQ_PAIRS = 4               # queue pairs of the mq=on rows (-netdev tap,queues=4)


def sendraw_frame(seq, size):
    """What `sendraw` sends as frame number seq (net/netdev_cmds.c, docs/serial.md)."""
    head = b"\xff" * 6 + mac_bytes(GUEST_MAC) + struct.pack("!HI", TEST_ETHERTYPE, seq)
    return head + bytes((seq + i) & 0xFF for i in range(18, size))


@pytest.fixture
def net(boot):
    """Factory: net(props=[...], machine=..., append=..., tap_mtu=..., queues=1) -> (guest, link,
    wire); queues > 1 (a TAP only): a multiqueue TAP and -netdev tap,queues=N."""
    made = []

    def start(props=(), machine="pc", append="", tap_mtu=None, keep=True, queues=1):
        link = open_link(host_addr=None, mtu=tap_mtu)
        made.append(link)
        netdev = link.netdev("n0")
        if queues > 1:
            make_multiqueue(link)
            netdev += f",queues={queues}"
        g = boot(machine=machine, devices=[nic(*props)], netdev=[netdev],
                 netns=link.netns, append=append)
        g.wait_for(r"eth0: virtio0 ready", timeout=60)
        g.wait_for(r"vnet> ", timeout=30)
        wire = Wire(link, keep=keep)
        made.append(wire)
        return g, link, wire

    yield start
    for obj in reversed(made):
        obj.close()


def make_multiqueue(link):
    """Make the link's TAP again as a multi_queue one. QEMU's `-netdev tap,queues=N` opens it
    N times with IFF_MULTI_QUEUE, which the kernel refuses on a TAP made without that flag
    ("could not configure /dev/net/tun (tap0): Invalid argument"), and netns.py makes a
    single-queue TAP. The capture socket is bound again to the new device (by name) and the
    ENETDOWN the old one's removal left pending on it is read and cleared."""
    ns = link.ns
    ns.run(["ip", "tuntap", "del", "dev", ns.tap, "mode", "tap"])
    ns.run(["ip", "tuntap", "add", "dev", ns.tap, "mode", "tap", "multi_queue"])
    ns.run(["sysctl", "-qw", f"net.ipv6.conf.{ns.tap}.disable_ipv6=1"])
    ns.run(["ip", "link", "set", ns.tap, "up"])
    link.sock.bind((ns.tap, 0))
    link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    link.host_mac = ns.run(["cat", f"/sys/class/net/{ns.tap}/address"]).stdout.strip()


def mtu_rule(host_mtu):
    """(VIRTIO_NET_F_MTU negotiated, the guest's MTU) for a device offering mtu host_mtu. A
    driver that negotiates the feature must post receive buffers for a frame of that mtu
    (virtio 1.x 5.1.4.2, 5.1.6.3.1), and a device must not offer one below 68 (5.1.4.1): so
    the feature is accepted only for 68..VIRTNET_MAX_MTU, and otherwise the MTU is 1500."""
    if ETH_MIN_MTU <= host_mtu <= VIRTNET_MAX_MTU:
        return True, host_mtu
    return False, ETH_DATA_LEN


def qemu_virtio_status(g):
    """QEMU's view of the NIC (HMP `info virtio-status`): num_vqs and the sets of host
    (offered) and guest (negotiated) feature names."""
    paths = re.findall(r"^(/\S+) \[virtio-net\]", g.monitor("info virtio"), re.M)
    assert len(paths) == 1, paths
    out = g.monitor(f"info virtio-status {paths[0]}")
    feats = {}
    for which in ("Host", "Guest"):
        m = re.search(rf"^ *{which} features:\n((?:\t.*\n)*)", out, re.M)
        assert m, out
        feats[which] = set(re.findall(r"^\t(\w+):", m.group(1), re.M))
    return int(re.search(r"num_vqs:\s+(\d+)", out).group(1)), feats["Host"], feats["Guest"], out


def guest_features(g):
    """The feature names the guest's `virtio` command lists as negotiated."""
    out = g.cmd("virtio")
    return set(re.findall(r"(\w+)\(\d+\)", re.search(r"^  features:(.*)$", out, re.M).group(1))), out


def check_ring_kind(g, props, append):
    """packed=on (and no virtio_ring=split): RING_PACKED negotiated and both queues packed;
    otherwise neither."""
    packed = "packed=on" in props and "virtio_ring=split" not in append
    features, out = guest_features(g)
    assert ("RING_PACKED" in features) == packed, out
    rings = re.findall(r"^  queue \d+ \w+ .* (split|packed) ring", out, re.M)
    assert len(rings) >= 2 and set(rings) == {"packed" if packed else "split"}, out


def check_host_mtu(g, host_mtu):
    """The MTU the guest chose and whether VIRTIO_NET_F_MTU was negotiated, by the rule."""
    want_feature, want_mtu = mtu_rule(host_mtu)
    out = g.cmd("ifconfig")
    mtu = int(re.search(r"^eth0: .* mtu (\d+) ", out, re.M).group(1))
    _, offered, negotiated, status = qemu_virtio_status(g)
    assert "VIRTIO_NET_F_MTU" in offered, status
    ours, vout = guest_features(g)
    assert ("VIRTIO_NET_F_MTU" in negotiated) == ("MTU" in ours), \
        f"QEMU and the guest disagree on VIRTIO_NET_F_MTU\n{status}\n{vout}"
    assert ("VIRTIO_NET_F_MTU" in negotiated, mtu) == (want_feature, want_mtu), (
        f"device mtu {host_mtu}: want VIRTIO_NET_F_MTU {'negotiated' if want_feature else 'refused'} "
        f"and MTU {want_mtu}; got {'negotiated' if 'VIRTIO_NET_F_MTU' in negotiated else 'refused'} "
        f"and MTU {mtu} (driver's buffers hold up to {VIRTNET_MAX_MTU})\n{out}\n{status}")


def check_min_mtu_ping(g, link):
    """MTU 68 with a host on the wire: an echo of 68 bytes of IP is answered; one of 69 is
    dropped by the guest as too long (not answered), and the guest refuses to send one."""
    from fakehost import FakeHost, KernelHost  # scapy, for the socket wire, only here

    ip_max = ETH_MIN_MTU - 20 - 8  # ICMP echo data that fits 68 bytes of IP
    if link.kind == "tap":
        link.ns.run(["ip", "addr", "add", "10.0.2.2/24", "dev", link.ns.tap])
        host = KernelHost(link)
    else:
        host = FakeHost(link)
    try:
        before, _ = netstat(g)
        r = host.ping("10.0.2.15", 3, size=ip_max)
        assert r.received == 3 and not r.errors, r.text
        r = host.ping("10.0.2.15", 2, size=ip_max + 1, wait=1)
        assert r.sent == 2 and r.received == 0, r.text
        vals, out = netstat(g)
        assert vals["rx_too_long"] - before["rx_too_long"] == 2, out
        # More than the MTU leaves in two fragments (48 + 1 bytes of ICMP here). On the TAP the
        # host's kernel, whose MTU is 1500, reassembles them and answers with one 69-byte
        # datagram, which the guest drops as too long like the host's own pings above (the
        # socket wire's scapy host does not reassemble, so it does not answer at all).
        before, _ = netstat(g)
        out = g.cmd(f"ping 10.0.2.2 -c 1 -W 2 -s {ip_max + 1}", timeout=20)
        assert "1 packets transmitted, 0 received" in out, out
        vals, out = netstat(g)
        assert vals["tx_fragments"] - before["tx_fragments"] == 2, out
        if link.kind == "tap":
            assert vals["rx_too_long"] - before["rx_too_long"] == 1, out
        # the limit is what we send at all
        out = g.cmd("ping 10.0.2.2 -c 1 -s 16377")
        assert "ping: -s 16377 is more than we send (16376)" in out, out
        out = g.cmd(f"ping 10.0.2.2 -c 2 -i 200 -s {ip_max}", timeout=20)
        assert "2 packets transmitted, 2 received" in out, out
    finally:
        host.close()


def check_mq(g, link):
    """The NIC has MQ_PAIRS queue pairs, each with a queue of the TAP behind it, and offers MQ;
    we accept MQ and the control queue and say on it that we use one pair (virtio 1.x
    5.1.6.5.5, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 1, acknowledged): QEMU then has all 2 *
    MQ_PAIRS + 1 queues, we set up receiveq1, transmitq1 and the control queue (index
    2 * MQ_PAIRS), and the TAP's other queues stay detached."""
    peers = re.findall(r"^ \\ n0: index=\d+,type=tap", g.monitor("info network"), re.M)
    assert len(peers) == MQ_PAIRS, peers
    num_vqs, offered, negotiated, status = qemu_virtio_status(g)
    assert {"VIRTIO_NET_F_MQ", "VIRTIO_NET_F_CTRL_VQ"} <= negotiated, status
    assert num_vqs == 2 * MQ_PAIRS + 1, status
    tap = link.ns.run(["ip", "-d", "link", "show", link.ns.tap]).stdout
    assert re.search(rf"multi_queue numqueues 1 numdisabled {MQ_PAIRS - 1}\b", tap), tap
    assert re.search(r"virtio0: 3 queues, interrupts by MSI-X, one vector per queue", g.log), \
        g.log[-3000:]
    out = g.cmd("netstat")
    m = re.search(r"eth0: ctrl_sent (\d+) ctrl_ok (\d+) ctrl_failed 0 .* ctrl_state ok", out)
    assert m and int(m.group(1)) >= 1 and m.group(1) == m.group(2), out
    assert "control command" not in g.log, g.log[-3000:]


def pool_at_baseline(g):
    """Every buffer is either free or posted on the receive queue: nothing leaked."""
    vals, out = netstat(g)
    posted, inflight = vals["rx_posted"], vals["tx_inflight"]
    return vals["in_use"] == posted + inflight and inflight == 0 and vals["bad_frees"] == 0, out


def check_rx_sizes(g, wire, sizes):
    """Send one frame per size; the guest's frame log must show each length and CRC, in order."""
    g.cmd("framelog on")
    start = len(g.log)
    sent = []
    for i, size in enumerate(sizes):
        f = make_frame(size, i)
        wire.send(f)
        sent.append((len(f), zlib.crc32(f)))
        time.sleep(0.002)
    deadline = time.time() + 20
    while True:
        got = [(int(a), int(b, 16)) for a, b in
               re.findall(r"rx: eth0 len (\d+) crc ([0-9a-f]{8})", g.log[start:])]
        if len(got) >= len(sent) or time.time() > deadline:
            break
        time.sleep(0.1)
    assert got[:len(sent)] == sent, f"sent {sent}\ngot {got}"
    g.cmd("framelog off")


def check_tx(g, wire, count, size):
    before = len(wire.frames)
    out = g.cmd(f"sendraw {count} {size}", timeout=60)
    assert f"sendraw: {count} frames of {size} bytes queued, 0 failed" in out, out
    wire.wait_count(before + count, 20)
    got = wire.frames[before:before + count]
    assert len(got) == count, f"captured {len(got)} of {count}"
    for seq, frame in enumerate(got):
        assert frame == sendraw_frame(seq, size), f"frame {seq} differs"


SIZES = [60, 61, 64, 100, 127, 128, 255, 256, 511, 512, 1000, 1023, 1024, 1400, 1513, 1514]

MATRIX = [
    # id, device props, machine, append, tap mtu, max frame
    ("transitional-msix", [], "pc", "", None, 1514),
    ("legacy-intx", ["disable-modern=on", "vectors=0"], "pc", "", None, 1514),
    ("modern-q35", ["disable-legacy=on"], "q35", "", None, 1514),
    ("no-mrg-rxbuf", ["mrg_rxbuf=off"], "pc", "", None, 1514),
    ("no-event-idx-no-indirect", ["event_idx=off", "indirect_desc=off"], "pc", "", None, 1514),
    # VIRTIO_F_RING_PACKED offered: both queues packed (virtio 1.2 2.8)
    ("packed", ["packed=on"], "pc", "", None, 1514),
    ("queue-1024", ["rx_queue_size=1024", "tx_queue_size=256"], "pc", "", None, 1514),
    ("mtu-9000", ["host_mtu=9000"], "pc", "", 9000, 9014),
    ("mtu-1280", ["host_mtu=1280"], "pc", "", None, 1294),
    ("merge-small-buffers", [], "pc", "vnet_rxbuf=256", None, 1514),
    # VIRTIO_F_ACCESS_PLATFORM offered (QEMU allows it only without the legacy interface) and
    # no IOMMU on the machine: the device refuses FEATURES_OK unless we accept the bit
    ("iommu-platform-pc", ["disable-legacy=on", "iommu_platform=on"], "pc", "", None, 1514),
    ("iommu-platform-q35", ["disable-legacy=on", "iommu_platform=on"], "q35", "", None, 1514),
    # one MSI-X vector: too few for per-queue or shared MSI-X, so the driver ends on INTx
    ("legacy-one-vector", ["disable-modern=on", "vectors=1"], "pc", "", None, 1514),
    ("modern-one-vector", ["disable-legacy=on", "vectors=1"], "q35", "", None, 1514),
    # the notify region gives each queue a page of its own (queue 1's notify at 4096)
    ("page-per-vq", ["page-per-vq=on"], "pc", "", None, 1514),
    # MQ_PAIRS queue pairs on a multiqueue TAP; we negotiate no MQ and run pair 0
    ("mq-4-pairs", ["mq=on"], "pc", "", None, 1514),
    # host_mtu at its limits: 68, the smallest valid, is accepted (frames up to 82 bytes)...
    ("mtu-68", [f"host_mtu={ETH_MIN_MTU}"], "pc", "", None, ETH_MIN_MTU + 14),
    # checksum offload left out by the guest although offered (tests/qemu/test_csum.py checks
    # the checksums on the wire), and not offered by the device at all
    ("csum-off", [], "pc", "vnet_csum=off vnet_guest_csum=off", None, 1514),
    ("device-csum-off", ["csum=off", "guest_csum=off"], "pc", "", None, 1514),
    # ...one above what our buffers hold is refused: 1500
    (f"mtu-{VIRTNET_MAX_MTU + 1}", [f"host_mtu={VIRTNET_MAX_MTU + 1}"], "pc", "", None, 1514),
]
MATRIX_FULL = [
    ("legacy-msix-q35", ["disable-modern=on"], "q35", "", None, 1514),
    ("packed-no-event-idx-no-indirect", ["packed=on", "event_idx=off", "indirect_desc=off"], "pc", "", None, 1514),
    ("packed-modern-q35-intx-no-mrg", ["packed=on", "disable-legacy=on", "vectors=0", "mrg_rxbuf=off"], "q35", "",
     None, 1514),
    ("packed-queue-1024", ["packed=on", "rx_queue_size=1024", "tx_queue_size=256"], "pc", "", None, 1514),
    ("packed-merge-small-buffers", ["packed=on"], "pc", "vnet_rxbuf=256", None, 1514),
    ("packed-mtu-9000", ["packed=on", "host_mtu=9000"], "pc", "", 9000, 9014),
    # offered, refused on the command line: split rings
    ("packed-forced-split", ["packed=on"], "pc", "virtio_ring=split", None, 1514),
    ("legacy-no-mrg", ["disable-modern=on", "mrg_rxbuf=off"], "pc", "", None, 1514),
    ("legacy-10byte-header", ["disable-modern=on", "mrg_rxbuf=off", "any_layout=off"], "pc", "", None, 1514),
    ("modern-intx-q35", ["disable-legacy=on", "vectors=0"], "q35", "", None, 1514),
    ("shared-vector", ["vectors=2"], "pc", "", None, 1514),
    ("all-off", ["mrg_rxbuf=off", "event_idx=off", "indirect_desc=off"], "q35", "", None, 1514),
    ("legacy-queue-1024", ["disable-modern=on", "rx_queue_size=1024"], "pc", "", None, 1514),
    ("legacy-mtu-9000", ["disable-modern=on", "host_mtu=9000"], "pc", "", 9000, 9014),
    ("modern-mtu-9000-no-mrg", ["disable-legacy=on", "host_mtu=9000", "mrg_rxbuf=off"], "q35", "", 9000, 9014),
    ("forced-legacy", [], "pc", "virtio=legacy", None, 1514),
    ("forced-intx", [], "pc", "virtio_irq=intx", None, 1514),
    ("legacy-page-per-vq", ["disable-modern=on", "page-per-vq=on"], "pc", "", None, 1514),
    ("legacy-mq-4-pairs", ["disable-modern=on", "mq=on"], "q35", "", None, 1514),
    ("legacy-mtu-68", ["disable-modern=on", f"host_mtu={ETH_MIN_MTU}"], "pc", "", None, ETH_MIN_MTU + 14),
    # the largest QEMU accepts, with a TAP as large as Linux makes one: still 1500
    (f"mtu-{QEMU_MAX_HOST_MTU}", [f"host_mtu={QEMU_MAX_HOST_MTU}"], "q35", "", 65521, 1514),
    # below the smallest valid (QEMU takes it): refused, 1500
    (f"mtu-{ETH_MIN_MTU - 1}", [f"host_mtu={ETH_MIN_MTU - 1}"], "pc", "", None, 1514),
]
CASES = MATRIX + (MATRIX_FULL if FULL else [])


@pytest.mark.parametrize("props,machine,append,tap_mtu,max_frame", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_frames_both_ways(net, props, machine, append, tap_mtu, max_frame):
    mq = "mq=on" in props
    if mq and not have_tap():
        pytest.skip("mq=on needs a multiqueue backend for the device to have several queue "
                    "pairs: -netdev tap,queues=N; QEMU 7.2's -netdev dgram (the socket wire) "
                    "takes no queues= ('Parameter 'queues' is unexpected')")
    g, link, wire = net(props, machine, append, tap_mtu, queues=MQ_PAIRS if mq else 1)
    check_ring_kind(g, props, append)
    if "iommu_platform=on" in props:
        accepting = re.search(r"virtio0: accepting .*", g.log).group(0)
        assert "ACCESS_PLATFORM(33)" in accepting, accepting
    host_mtu = next((int(p.split("=")[1]) for p in props if p.startswith("host_mtu=")), None)
    if host_mtu is not None:
        check_host_mtu(g, host_mtu)
    if mq:
        check_mq(g, link)
    if "vnet_csum=off" in append or "csum=off" in props:
        _, out = netstat(g)
        assert "eth0: csum tx off rx off " in out, out
    sizes = [s for s in SIZES if s <= max_frame]
    if max_frame > 1514:
        sizes += [2000, 4096, 8000, max_frame]
    elif sizes[-1] != max_frame:
        sizes.append(max_frame)
    check_rx_sizes(g, wire, sizes)
    check_tx(g, wire, 20, 60)
    check_tx(g, wire, 5, max_frame)
    # larger than the MTU (where the wire can carry it): counted and dropped, never delivered
    if max_frame < 1514 or (tap_mtu and tap_mtu + 14 > max_frame):
        wire.send(make_frame(max_frame + 1, 99))
        time.sleep(0.5)
        vals, out = netstat(g)
        assert vals["rx_too_long"] == 1, out
        assert "rx_too_long" in out
    ok, out = pool_at_baseline(g)
    assert ok, out
    if "vnet_rxbuf" in append:  # frames really spanned several buffers
        vals, _ = netstat(g)
        assert vals["rx_buffers"] > vals["rx_frames"]
    if host_mtu == ETH_MIN_MTU:
        wire.close()  # the host reads the link from here on
        check_min_mtu_ping(g, link)


def paced_send(g, wire, total, size, burst=32, window=256, deadline=120):
    """Send total frames, never more than window ahead of what QEMU has taken from the TAP
    (a slow, loaded host then slows the sender instead of overflowing the TAP's queue)."""
    frame = make_frame(size, 7)
    end = time.time() + deadline
    sent = 0
    base = wire.link.taken(g.pid)
    while sent < total and time.time() < end:
        if base is not None and sent - (wire.link.taken(g.pid) - base) > window:
            time.sleep(0.0005)
            continue
        for _ in range(min(burst, total - sent)):
            wire.send(frame)
            sent += 1
    return sent


def test_100k_frames_each_way(net):
    g, link, wire = net(keep=False)
    # the first link-up announcement must be back from the device before the counters start,
    # or its completion lands after the zero (tx_completed one above tx_frames); the second
    # (RFC 5227 2.3: two, 2 s apart) may go out during the test and is counted below
    deadline = time.time() + 10
    while not pool_at_baseline(g)[0] and time.time() < deadline:
        time.sleep(0.05)
    g.cmd("netstat -z")
    total = 100_000
    sent = paced_send(g, wire, total, 60)
    assert sent == total
    deadline = time.time() + 60
    while time.time() < deadline:
        vals, out = netstat(g)
        if vals["rx_packets"] >= total:
            break
        time.sleep(1)
    assert vals["rx_packets"] == total, out
    # Guest to host in bursts the capture socket can hold (link.rx_room): as an ordinary user
    # it is far smaller than 100,000 frames, and a reader that falls behind must not lose any.
    batch = link.rx_room(60) or total
    for done in range(0, total, batch):
        n = min(batch, total - done)
        out = g.cmd(f"sendraw {n} 60", timeout=240)
        assert f"sendraw: {n} frames of 60 bytes queued, 0 failed" in out, out
        assert wire.wait_count(done + n, 60) == done + n
    time.sleep(0.5)
    vals, out = netstat(g)
    own = vals["arp.tx_announces"]  # the stack's own frames meanwhile: at most one announcement
    assert own <= 1, out
    assert vals["tx_packets"] == total + own and vals["tx_completed"] == total + own, out
    assert vals["tx_backlog_drop"] == 0 and vals["rx_refill_nomem"] == 0, out
    ok, out = pool_at_baseline(g)
    assert ok, out


def pump(wire, size):
    """A frame of size to the guest every half millisecond, at most 50,000 of them."""
    return Pump(lambda n: wire.send(make_frame(size, n)), every=0.0005, limit=50_000)


def test_link_down_and_up_under_traffic(net):
    g, link, wire = net()
    with pump(wire, 100):
        time.sleep(0.5)
        g.monitor("set_link n0 off")
        g.wait_for(r"eth0: link down", timeout=20)
        before, _ = netstat(g)
        out = g.cmd("sendraw 3 60")
        after, _ = netstat(g)
        assert after["tx_carrier_drop"] - before["tx_carrier_drop"] == 3, out
        assert after["tx_packets"] == before["tx_packets"]
        g.monitor("set_link n0 on")
        g.wait_for(r"eth0: link up", timeout=20)
    check_tx(g, wire, 10, 200)
    check_rx_sizes(g, wire, [60, 1514])
    time.sleep(0.3)
    ok, out = pool_at_baseline(g)
    assert ok, out


def test_netreset_under_traffic(net):
    g, link, wire = net()
    # The baseline once nothing is in flight: the boot's announcements may still hold a
    # transmit buffer for a moment (seen: 257 in use against 256 after, a false leak).
    for _ in range(20):
        ok, _ = pool_at_baseline(g)
        if ok:
            break
        time.sleep(0.1)
    baseline, out = netstat(g)
    assert ok and baseline["tx_inflight"] == 0, out
    with pump(wire, 300):
        time.sleep(0.3)
        for _ in range(3):
            out = g.cmd("netreset", timeout=30)
            assert "netreset: eth0 reset and re-probed" in out, out
            time.sleep(0.2)
    time.sleep(0.5)
    ok, out = pool_at_baseline(g)
    assert ok, out
    vals, out = netstat(g)
    assert vals["in_use"] == baseline["in_use"], out
    check_tx(g, wire, 10, 100)
    check_rx_sizes(g, wire, [60, 1514])
    assert "SPEC RULE BROKEN" not in g.log


def test_stall_fills_the_ring_then_recovers(net):
    """`stall MS` stops polling: the receive ring fills and the device holds the frames it
    cannot place; afterwards the ring is refilled, every frame arrives, nothing leaked."""
    g, link, wire = net()
    g.cmd("netstat -z")
    used0 = queue_status(g, 0)["used_idx"]
    sent0 = link.dev_counts()
    out = g.cmd("stall 3000")
    stalled = time.monotonic()
    assert "stall: no network polling for 3000 ms" in out
    for i in range(600):  # more than the 256-entry ring can hold
        wire.send(make_frame(200, i))
    if have_tap():
        # The device's side while the guest is not polling: it has filled every one of the 256
        # posted buffers and no more (a guest that kept polling would have let it use 600).
        # On a TAP the 600 frames are written in well under the stall; the socket wire's
        # sends block while QEMU does not read, so there the stall is over before they end.
        time.sleep(0.3)
        used = queue_status(g, 0)["used_idx"]
        assert time.monotonic() - stalled < 2.5, "the frames took too long to send to look inside the stall"
        assert (used - used0) & 0xFFFF == 256, (used0, used)
    g.wait_for(r"net: stall over, polling again", timeout=20)
    time.sleep(0.5)
    vals, out = netstat(g)
    # Nothing may be lost: the 344 frames the full ring could not take wait in the TAP's
    # 1000-frame queue (its drop counter says so if not) or in the sender (a unix socket's
    # send waits for room), and all 600 arrive after the stall, not 256 to 600 of them.
    w = {k: v - sent0[k] for k, v in link.dev_counts().items()}
    assert w["to_guest"] == 600 and w["to_guest_dropped"] == 0, w
    assert vals["rx_frames"] == 600, out
    assert re.search(r"rx_posted 256/256", out), out
    check_rx_sizes(g, wire, [60, 1000, 1514])
    ok, out = pool_at_baseline(g)
    assert ok, out
