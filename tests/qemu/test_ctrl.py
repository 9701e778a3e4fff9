"""
tests/qemu/test_ctrl.py - the control virtqueue against QEMU's virtio-net (issue 18; virtio 1.x
5.1.6.5, drivers/net/virtio_net_ctrl.c).

QEMU's NIC filters received frames by destination itself (hw/net/virtio-net.c, receive_filter)
once the guest negotiates VIRTIO_NET_F_CTRL_RX; before that it is promiscuous. So what our
commands did is visible in what reaches the guest's counters:
  - promisc off (the default we set at probe): frames to another MAC never reach the guest;
    `ifconfig eth0 promisc on`: they do, and our own Ethernet layer counts them as not ours;
    off again: they stop. allmulti the same for an unasked multicast group. A frame to the
    guest's MAC sent after each batch marks where the batch ended.
  - `ifconfig eth0 hw ether MAC` (TAP wire): the gratuitous ARP from the new MAC is on the
    wire, the namespace's kernel learns it and reaches the guest at the new MAC (its echo
    requests carry it), and a frame to the old MAC no longer gets in.
  - the monitor's `announce_self`: QEMU's RARP, and for each of its rounds the guest's
    gratuitous ARP and an acknowledged ANNOUNCE_ACK (GUEST_ANNOUNCE, 5.1.6.5.4).
Both wires for the first and the last (the filter and the announcing are QEMU's NIC's, whatever
the backend); the MAC change needs the namespace's kernel as the host.
"""
import re
import struct
import time

import pytest

from counters import inetstat, netstat
from guest import GUEST_MAC, nic
from wire import HOST_MAC, TEST_ETHERTYPE, Wire, mac_bytes, need_tap, open_link

OTHER_MAC = "02:11:22:33:44:55"      # nobody's
GROUP_MAC = "01:00:5e:00:00:42"      # a multicast group the guest never joined
NEW_MAC = "52:54:00:aa:bb:cc"
GUEST_IP = "10.0.2.15"
HOST_IP = "10.0.2.2"
BATCH = 5


def frame_to(dst):
    return mac_bytes(dst) + HOST_MAC + struct.pack("!H", TEST_ETHERTYPE) + bytes(46)


@pytest.fixture
def guest_on_wire(boot):
    made = []

    def start(host_addr=None):
        link = open_link(host_addr=host_addr)
        made.append(link)
        g = boot(devices=[nic()], netdev=[link.netdev("n0")], netns=link.netns)
        g.wait_ready()
        return g, link

    yield start
    for link in made:
        link.close()


def delivered(g, link, dst, count, marker_dst=GUEST_MAC):
    """Send count frames to dst, then one to the guest's MAC; once the guest has that one, how
    many of the batch reached it (its rx_packets moved by batch + 1) and the Ethernet counters'
    moves."""
    before_dev = netstat(g)[0]["eth0.rx_packets"]
    before_eth = inetstat(g)
    for _ in range(count):
        link.send(frame_to(dst))
    link.send(frame_to(marker_dst))
    deadline = time.time() + 20
    while True:
        now = netstat(g)[0]["eth0.rx_packets"]
        if now > before_dev or time.time() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.2)  # the marker came last: the batch is in (or was filtered) by now
    now = netstat(g)[0]["eth0.rx_packets"]
    eth = inetstat(g)
    assert now > before_dev, "the marker frame to the guest's own MAC never arrived"
    return now - before_dev - 1, {k: eth[k] - before_eth[k] for k in
                                  ("eth.rx_not_for_us", "eth.rx_multicast")}


def ifconfig(g, args, expect):
    out = g.cmd(f"ifconfig eth0 {args}")
    assert expect in out, out
    return out


def ctrl_counters(g):
    vals, out = netstat(g)
    assert re.search(r"eth0: ctrl_sent \d+ .* ctrl_state ok", out), out
    return vals


def test_promisc_and_allmulti_filter_in_qemu(guest_on_wire):
    g, link = guest_on_wire()
    before = ctrl_counters(g)
    assert "rx filter (device): as the interface says" in g.cmd("ifconfig")
    # default: QEMU filters for us
    assert delivered(g, link, OTHER_MAC, BATCH) == (0, {"eth.rx_not_for_us": 0, "eth.rx_multicast": 0})
    assert delivered(g, link, GROUP_MAC, BATCH) == (0, {"eth.rx_not_for_us": 0, "eth.rx_multicast": 0})
    ifconfig(g, "promisc on", "ifconfig: eth0 promisc on")
    assert delivered(g, link, OTHER_MAC, BATCH) == (BATCH, {"eth.rx_not_for_us": BATCH, "eth.rx_multicast": 0})
    ifconfig(g, "promisc off", "ifconfig: eth0 promisc off")
    assert delivered(g, link, OTHER_MAC, BATCH)[0] == 0
    ifconfig(g, "allmulti on", "ifconfig: eth0 allmulti on")
    assert delivered(g, link, GROUP_MAC, BATCH) == (BATCH, {"eth.rx_not_for_us": 0, "eth.rx_multicast": BATCH})
    assert delivered(g, link, OTHER_MAC, BATCH)[0] == 0  # allmulti is not promisc
    ifconfig(g, "allmulti off", "ifconfig: eth0 allmulti off")
    assert delivered(g, link, GROUP_MAC, BATCH)[0] == 0
    after = ctrl_counters(g)
    # exactly one command per change, each acknowledged
    assert after["eth0.ctrl_sent"] - before["eth0.ctrl_sent"] == 4, after
    assert after["eth0.ctrl_ok"] - before["eth0.ctrl_ok"] == 4, after
    assert after["eth0.ctrl_failed"] == 0, after
    assert "promisc on" not in g.cmd("ifconfig")
    out = g.cmd("ifconfig eth0 promisc maybe")
    assert "usage" in out.lower(), out


def arp_frames(link, timeout):
    """The ARP frames the guest sends within timeout s."""
    got, end = [], time.time() + timeout
    while time.time() < end:
        f = link.recv(timeout=max(0.05, end - time.time()))
        if f and len(f) >= 42 and f[12:14] == b"\x08\x06":
            got.append(f)
    return got


def test_mac_change_reaches_the_host(guest_on_wire):
    need_tap("the namespace's kernel reaching the guest at its new MAC")
    g, link = guest_on_wire(host_addr=HOST_IP + "/24")
    ns = link.ns
    ns.run(["ping", "-c", "1", "-W", "5", GUEST_IP])
    assert GUEST_MAC in ns.run(["ip", "neigh", "show", GUEST_IP]).stdout
    time.sleep(1.2)  # past Linux's neighbour locktime (1 s): a new ARP may override the entry
    link.listen()
    ifconfig(g, f"hw ether {NEW_MAC}", f"ifconfig: eth0 hw ether {NEW_MAC}")
    arps = arp_frames(link, 1.0)
    new = mac_bytes(NEW_MAC)
    ours = [f for f in arps if f[6:12] == new and f[22:28] == new and f[28:32] == f[38:42]
            and f[0:6] == b"\xff" * 6 and f[20:22] == b"\x00\x01"]
    assert ours, f"no gratuitous ARP from {NEW_MAC} within 1 s: {[f.hex() for f in arps]}"
    assert ours[0][28:32] == bytes(map(int, GUEST_IP.split(".")))
    # the namespace's kernel took it: its echo requests now go to the new MAC, and are answered
    assert NEW_MAC in ns.run(["ip", "neigh", "show", GUEST_IP]).stdout
    out = ns.run(["ping", "-c", "3", "-i", "0.2", "-W", "5", GUEST_IP]).stdout
    assert "3 received" in out, out
    assert NEW_MAC in ns.run(["ip", "neigh", "show", GUEST_IP]).stdout
    assert f"mac {NEW_MAC}" in g.cmd("ifconfig")
    # QEMU took the new address too: a frame to the old one is filtered now
    assert delivered(g, link, GUEST_MAC, BATCH, marker_dst=NEW_MAC)[0] == 0
    vals = ctrl_counters(g)
    assert vals["eth0.ctrl_failed"] == 0, vals
    # a group address is refused before anything is sent
    out = g.cmd("ifconfig eth0 hw ether 01:00:5e:00:00:01")
    assert "is a group or zero address" in out, out


def test_announce_self_from_the_monitor(guest_on_wire):
    """QEMU's `announce_self` (what a migration does at its end, without the migration): QEMU
    sends its RARP, and, the guest having GUEST_ANNOUNCE, sets VIRTIO_NET_S_ANNOUNCE in rounds;
    the guest answers each with gratuitous ARP from its MAC and an ANNOUNCE_ACK."""
    g, link = guest_on_wire()
    wire = Wire(link, ethertypes=(0x0806, 0x8035))
    try:
        before = ctrl_counters(g)
        g.monitor("announce_self")
        g.wait_for(r"the device asks us to announce ourselves \(VIRTIO_NET_S_ANNOUNCE\)", timeout=10)
        mac, ip = mac_bytes(GUEST_MAC), bytes(map(int, GUEST_IP.split(".")))
        deadline = time.time() + 10
        while time.time() < deadline:
            garp = [f for f in wire.frames if f[12:14] == b"\x08\x06" and f[6:12] == mac
                    and f[22:28] == mac and f[28:32] == ip and f[38:42] == ip]
            rarp = [f for f in wire.frames if f[12:14] == b"\x80\x35" and f[6:12] == mac]
            if garp and rarp:
                break
            time.sleep(0.1)
        assert garp and rarp, f"gratuitous ARP {len(garp)}, RARP {len(rarp)}"
        time.sleep(1.5)  # QEMU's rounds (5, up to 550 ms apart) are over
        after = ctrl_counters(g)
        rounds = after["eth0.announces"] - before["eth0.announces"]
        assert rounds >= 1, after
        # one ANNOUNCE_ACK per round, each acknowledged (QEMU clears the bit on it)
        assert after["eth0.ctrl_ok"] - before["eth0.ctrl_ok"] == rounds, (before, after)
        assert after["eth0.ctrl_failed"] == 0, after
    finally:
        wire.close()
