"""
tests/qemu/test_backends.py - the guest on each of QEMU's network backends, and guests talking
to each other through them. docs/backends.md draws every topology and maps it to QEMU's
NetClientState, peer, NetHub/NetHubPort and TAPState.

Each test builds its topology through tests/qemu/topology.py: guest n is 10.0.3.n/24 with MAC
52:54:00:00:03:0n, the host side of the wire is 10.0.3.100. On the TAP wire (VNET_NET=tap)
everything lives in a network namespace of the test's own: socket backends bind 127.0.0.1
there, the host side is tap0 and the namespace's kernel. On the socket wire (VNET_NET=socket,
no namespace can be made) no IP socket is opened: the links are unix sockets and socketpairs,
and the host side is the test itself (fakehost.FakeHost). Nothing is sent to any other address.
Every test runs on both wires; what differs is said where it does.

- One guest, the three ways to join it to the host's wire: `-netdev X` + `-device` (the NIC's
  peer is the backend), `-nic X` (the same in one option), `-net nic -net X` (both on hub 0).
  X is `tap` on the TAP wire, `socket,fd=3` (a socketpair with the test) on the socket wire,
  because -nic and -net cannot spell a dgram backend in QEMU 7.2. The host pings the guest,
  the guest pings the host, `info network` shows the shape.
- `-netdev user` with DHCP (restrict=on: nothing can leave QEMU).
- Two guests point to point over each socket backend QEMU 7.2 has: stream, dgram, socket
  listen/connect and socket udp (on the socket wire: stream and dgram on unix paths, socket on
  a stream socketpair and socket-udp on a datagram one, passed as fd=3). A pings B, B pings A,
  B's echo service answers A's udpsend.
- A hub in guest A's QEMU joining A's NIC, the host side, and a stream socket to guest B: A
  and B talk, the host reaches B through A's hub, and a capture of the host side (dumpcap on
  the TAP, or QEMU's filter-dump) sees A<->B frames.
- Three guests: A's hub also has a dgram port to guest C; B<->C traffic crosses A's QEMU, and
  A's NIC, a hub port like any other, receives those frames too.
"""
import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from counters import inetstat
from guest import Guest, nic
from topology import (HOST_IP, LINK_KINDS, PASSED_FD, READY_RE, Net, Node, guest_ip,
                      guest_mac, hubport, netdevs_up, ping, ping_answered, udp_echo,
                      wait_counters, wait_up)
from wire import have_tap

ROOT = Path(__file__).resolve().parents[2]


def need_tools():
    """The TAP wire's host side uses the namespace's ping and dumpcap; both wires count
    captured frames with tshark."""
    tools = ("ip", "ping", "dumpcap", "tshark") if have_tap() else ("tshark",)
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip("missing host tools: %s (tools/deps.sh test)" % " ".join(missing))


@pytest.fixture
def net(boot):
    """Net(host_addr=...) factory; everything it made is undone at teardown."""
    need_tools()
    made = []

    def make(host_addr=None):
        made.append(Net(boot, host_addr))
        return made[-1]

    yield make
    for n in made:
        n.close()


def info_nic_peer(info, mac, peer_re):
    """`info network` prints a NIC and, indented under it, its peer (NetClientState.peer)."""
    rx = r"^virtio-net-pci\.0: index=0,type=nic,model=virtio-net-pci,macaddr=%s\n \\ %s" % (mac, peer_re)
    assert re.search(rx, info, re.M), f"no /{rx}/ in\n{info}"


def hub_ports(info, hubid=0):
    """`info network` -> {port name: description} for one hub (a NetHub and its NetHubPorts).
    A port's backend may have filters, listed after it ("filters:", "  - cap0: ...")."""
    m = re.search(r"^hub %d\n((?:(?: |filters:).*\n?)+)" % hubid, info, re.M)
    assert m, f"no hub {hubid} in\n{info}"
    return dict(re.findall(r"^ \\ (\S+): (.*)$", m.group(1), re.M))


# ---- one guest on the host's wire, three spellings ------------------------------------------
TAP_OPTS = "ifname=tap0,script=no,downscript=no,vnet_hdr=off"
FORMS = ("netdev-tap", "nic-tap", "net-hub")


def host_form(w, form):
    """Net.start arguments for one spelling, and the `info network` text of its backend."""
    if w.tap:
        backend, value, shows = "tap," + TAP_OPTS, str, r"type=tap,ifname=tap0,"
    else:
        backend, value, shows = f"socket,fd={PASSED_FD}", w.host_fd().netdev_value, r"type=socket,"
    if form == "netdev-tap":
        return dict(netdev=[value(backend.replace(",", ",id=n0,", 1))]), shows
    if form == "nic-tap":
        return dict(devices=[], extra=["-nic", value(f"{backend},model=virtio-net-pci,mac={guest_mac(1)}")]), shows
    return dict(devices=[], extra=["-net", f"nic,model=virtio-net-pci,macaddr={guest_mac(1)}",
                                   "-net", value(backend)]), shows


@pytest.mark.parametrize("form", FORMS)
def test_one_guest_on_a_tap(net, form):
    w = net(HOST_IP + "/24")
    args, shows = host_form(w, form)
    a = w.start(1, **args)
    wait_up(a)
    w.host_ping(a.ip)
    ping(a, HOST_IP)
    info = netdevs_up(a)
    if form == "net-hub":  # -net puts both on hub 0, each behind a hub port
        ports = hub_ports(info)
        assert sorted(ports) == ["hub0port0", "hub0port1"], ports
        descs = sorted(ports.values())
        assert re.match(r"#net\d+: index=0,%s" % shows, descs[0]), descs
        assert descs[1].startswith(f"virtio-net-pci.0: index=0,type=nic,model=virtio-net-pci,macaddr={a.mac}"), descs
    else:  # the NIC and the backend are each other's peer; no hub
        assert "hub" not in info, info
        info_nic_peer(info, a.mac, r"(?:n0|#net\d+): index=0,%s" % shows)


# ---- user networking -----------------------------------------------------------------------
def test_user_networking_dhcp(net):
    w = net()  # no address in the namespace: QEMU's slirp is all the guest can reach
    g = w.boot(append="ip=dhcp", devices=[nic(addr=None, mac=guest_mac(1))], netdev=["user,id=n0,restrict=on"],
               netns=w.ns)  # on the socket wire there is no namespace: w.ns is None
    g.wait_for(r"dhcp: bound to 10\.0\.2\.15/24 gw \S+, lease \d+ s", timeout=60)
    g.wait_for(r"net: ready ip=10\.0\.2\.15 mac=%s\n" % guest_mac(1), timeout=10)
    info = g.monitor("info network")
    info_nic_peer(info, guest_mac(1), r"n0: index=0,type=user,net=10\.0\.2\.0,restrict=on")
    g.send("")
    g.wait_for(r"vnet> ", timeout=10)
    assert "(dhcp)" in g.cmd("inet")


# ---- two guests, one socket link ----------------------------------------------------------
@pytest.mark.parametrize("kind", LINK_KINDS)
def test_two_guests_point_to_point(net, kind):
    w = net()
    end_a, end_b, b_needs_a = w.link(kind, "n0", 7001, 7002)
    a = w.start(1, [end_a])
    if b_needs_a:
        netdevs_up(a)  # A listens before B connects
    b = w.start(2, [end_b])
    wait_up(a, b)
    ping_answered(a, b)
    udp_echo(a, b, f"hello B, this is A over {kind}")
    ping_answered(b, a, count=2, size=1472)
    qemu_type = kind.split("-")[0]
    for node in (a, b):
        info_nic_peer(netdevs_up(node), node.mac, r"n0: index=0,type=%s," % qemu_type)


# ---- a hub in one QEMU ---------------------------------------------------------------------
def hub_guest_a(w, *more_ports):
    """Guest 1 with hub 0 joining its NIC, the host side of the wire (the namespace's TAP, or
    the test on a unix socket), a stream listener on 7001 (to guest 2) and more_ports:
    (netdev id, -netdev value) pairs."""
    netdev = [hubport("h0", 0), w.host_port("t0"), hubport("h1", 0, "t0"),
              w.stream("s2", 7001, server=True), hubport("h2", 0, "s2")]
    for i, (nid, value) in enumerate(more_ports, start=3):
        netdev += [value, hubport(f"h{i}", 0, nid)]
    a = w.start(1, netdev, devices=[nic(netdev="h0", addr=None, mac=guest_mac(1))])
    return a, hub_ports(netdevs_up(a))


def test_hub_joins_nic_tap_and_socket(net, tmp_path):
    w = net(HOST_IP + "/24")
    cap = w.capture(tmp_path / "host.pcap")
    a, ports = hub_guest_a(w)
    assert sorted(ports) == ["h0", "h1", "h2"], ports
    assert ports["h0"].startswith(f"virtio-net-pci.0: index=0,type=nic,model=virtio-net-pci,macaddr={a.mac}")
    host_type = "type=tap,ifname=tap0," if w.tap else "type=dgram,"
    assert ports["h1"].startswith("t0: index=0," + host_type), ports
    assert ports["h2"].startswith("s2: index=0,type=stream,"), ports
    b = w.start(2, [w.stream("n0", 7001, server=False)])
    wait_up(a, b)
    ping_answered(a, b)
    udp_echo(a, b, "hello B, this is A through its hub")
    w.host_ping(b.ip)  # host side -> hub -> stream -> B and back
    cap.stop()
    # Frames between A and B, addressed to neither the host nor from it, reached the host side:
    # the hub sends what one port receives out of every other port.
    between = f"eth.src == {a.mac} and eth.dst == {b.mac} and ip.src == {a.ip} and ip.dst == {b.ip}"
    back = f"eth.src == {b.mac} and eth.dst == {a.mac} and ip.src == {b.ip} and ip.dst == {a.ip}"
    assert cap.count(f"icmp.type == 8 and {between}") == 3
    assert cap.count(f"icmp.type == 0 and {back}") == 3
    assert cap.count(f"udp.dstport == 7 and {between}") == 1
    assert cap.count(f"udp.srcport == 7 and {back}") == 1
    # ...and A's answer to the echo, sent to a port nobody listens on
    assert cap.count(f"icmp.type == 3 and icmp.code == 3 and {between}") == 1

def test_three_guests_on_one_hub(net, tmp_path):
    w = net(HOST_IP + "/24")
    cap = w.capture(tmp_path / "host.pcap")
    a, ports = hub_guest_a(w, ("d3", w.dgram("d3", 7002, 7003)))
    assert sorted(ports) == ["h0", "h1", "h2", "h3"], ports
    assert ports["h3"].startswith("d3: index=0,type=dgram,"), ports
    b = w.start(2, [w.stream("n0", 7001, server=False)])
    c = w.start(3, [w.dgram("n0", 7003, 7002)])
    wait_up(a, b, c)
    # A's NIC filters by destination (VIRTIO_NET_F_CTRL_RX, promisc off): in promiscuous mode
    # the flooded frames reach A's stack, which counts them as not its own
    assert "ifconfig: eth0 promisc on" in a.g.cmd("ifconfig eth0 promisc on")
    before = inetstat(a.g)["eth.rx_not_for_us"]
    ping_answered(b, c)  # stream -> A's hub -> dgram, and back
    udp_echo(c, b, "hello B, this is C through A's hub")
    ping_answered(a, c)
    # B<->C unicast frames (ARP reply, 3 echo requests and replies, the UDP echo and its
    # port unreachable) were flooded to A's NIC as well; A's stack dropped them as not ours.
    after = wait_counters(a, lambda c: c["eth.rx_not_for_us"] - before >= 10)
    assert after["eth.rx_not_for_us"] - before >= 10, after
    time.sleep(0.3)  # let the last frames reach dumpcap before it is stopped
    cap.stop()
    # The hub floods B<->C frames to the host side's port too. Under heavy host load dumpcap
    # has been seen to miss one of the three (ping_answered already proved all three crossed
    # the hub), so two or more in the capture is the proof asked for here.
    assert cap.count(f"icmp.type == 8 and ip.src == {b.ip} and ip.dst == {c.ip}") in (2, 3)
    assert cap.count(f"icmp.type == 0 and ip.src == {c.ip} and ip.dst == {b.ip}") in (2, 3)


# ---- make run GUESTS=2 ----------------------------------------------------------------------
def test_run_sh_two_guests(tmp_path):
    """tools/run.sh GUESTS=2 without a terminal: guest 1 on stdio, guest 2 in the background,
    joined by -netdev dgram on unix sockets (no IP socket, no root). Guest 2 ends with guest 1."""
    run2 = tempfile.mkdtemp(prefix="vnet-run2-")  # unix socket paths: at most 107 bytes
    g = Guest(["env", "GUESTS=2", f"RUN2_DIR={run2}", str(ROOT / "tools" / "run.sh")], tmp_path,
              name="run2")
    try:
        pid2 = int(g.wait_for(r"guest 2 +10\.0\.3\.2 .* PID (\d+)\n", timeout=30).group(1))
        a = Node(g, 1)
        wait_up(a)
        ping(a, guest_ip(2))
        log2 = Path(run2, "guest2.log").read_text(errors="replace")
        assert re.search(READY_RE % (r"10\.0\.3\.2", guest_mac(2)), log2, re.M), log2
        g.send("exit 0")
        assert g.wait_exit(30) == 0
        assert f"run: stopping guest 2 (PID {pid2})" in g.log + g.stderr_text()
        assert not Path(f"/proc/{pid2}").exists(), "guest 2 outlived run.sh"
        assert Path(run2, "guest1.log").read_text(errors="replace").count("bytes from 10.0.3.2") == 3
    finally:
        # run.sh waits for its foreground QEMU before acting on a signal: end that QEMU too,
        # through the process group run.sh leads (Guest starts it in a session of its own).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(g.pid, signal.SIGTERM)
        g.kill()
        shutil.rmtree(run2, ignore_errors=True)
