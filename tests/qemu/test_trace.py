"""
tests/qemu/test_trace.py - watching the rings move: the `trace` and `vq` shell commands,
`trace=1` on the command line, and `make run TRACE=1 PCAP=...` (tools/run.sh) with QEMU's
own virtio trace events beside the guest's and a capture that tshark reads.

No root and no TAP needed: the guest's peer is QEMU's user networking (its gateway 10.0.2.2
answers ping), so every frame stays inside QEMU. `make run` itself puts the guest on a TAP in
a namespace of its own where one can be made (tools/privnet.sh) and on user networking where
not; the guest has 10.0.2.15/24 with the peer at 10.0.2.2 on both, so the TRACE/PCAP check
runs on either.
"""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NIC = "virtio-net-pci,netdev=n0,addr=0x4"
TRACE_RE = re.compile(r"^trace: tsc (\d+) \+ *(\d+) ns (\w+) +(\w+) +id (\S+) +(?:(\w+) (\d+) +)?"
                      r"avail\.idx +(\d+) used\.idx +(\d+) last_used +(\d+) free +(\d+)$", re.M)


def records(text):
    return [m.groups() for m in TRACE_RE.finditer(text)]


def boot_user(boot, append="ip=10.0.2.15/24 gw=10.0.2.2"):
    g = boot(devices=[NIC], netdev=["user,id=n0"], append=append)
    g.wait_ready(timeout=60)
    return g


def test_trace_shows_one_ping_through_the_rings(boot):
    g = boot_user(boot)
    time.sleep(0.5)  # the boot-time gratuitous ARP is done
    assert "trace: on" in g.cmd("trace on")
    start = len(g.log)
    out = g.cmd("ping -c 1 10.0.2.2", timeout=30)
    assert "1 received" in out, out
    time.sleep(1)  # trace lines are printed from the event loop, after the command's own
    g.cmd("trace off")
    recs = records(g.log[start:])
    steps = [(r[2], r[3]) for r in recs]
    # transmit: start_xmit, a descriptor added, the burst kicked; then the completion
    for want in [("tx0", "start_xmit"), ("tx0", "virtqueue_add_sgs"), ("tx0", "virtnet_flush"),
                 ("tx0", "virtqueue_kick_prepare"), ("tx0", "virtqueue_notify"),
                 ("rx0", "vring_interrupt"), ("rx0", "skb_recv_done"), ("rx0", "virtnet_poll"),
                 ("rx0", "virtqueue_get_buf"), ("rx0", "receive_buf"), ("rx0", "try_fill_recv")]:
        assert want in steps, f"{want} missing from:\n" + "\n".join(map(str, steps))
    assert steps.index(("tx0", "start_xmit")) < steps.index(("tx0", "virtqueue_notify"))
    tscs = [int(r[0]) for r in recs]
    assert tscs == sorted(tscs), "records come in TSC order"
    for r in recs:
        if r[3] == "virtqueue_add_sgs":
            assert r[5] == "descs" and int(r[6]) >= 1 and int(r[4]) < 1024, r
            assert int(r[7]) - int(r[8]) <= 1024
        if r[2] == "rx0" and r[3] == "virtqueue_get_buf":
            assert int(r[6]) > 12, "a received frame is longer than the virtio-net header"
    # off means off
    n = len(records(g.log))
    g.cmd("ping -c 1 10.0.2.2", timeout=30)
    time.sleep(0.5)
    g.cmd("uptime")
    assert len(records(g.log)) == n


def test_trace_limit_and_usage(boot):
    g = boot_user(boot)
    time.sleep(0.5)  # the boot-time gratuitous ARP is done: no record lands in a typed command
    assert "trace: on for 5 records" in g.cmd("trace on 5")
    g.cmd("ping -c 2 10.0.2.2", timeout=30)
    time.sleep(0.5)
    assert "trace: off" in g.cmd("trace")
    assert "usage: trace" in g.cmd("trace sideways")
    assert "usage: trace" in g.cmd("trace on zero")


def test_trace_from_the_command_line(boot):
    """trace=1 traces from boot on: the receive queue being filled shows up."""
    g = boot_user(boot, append="trace=1 ip=10.0.2.15/24")
    g.wait_for(r"rx0 +try_fill_recv +id - +added (\d+)", timeout=30, since=0)
    assert re.search(r"^trace: on \(trace=1 on the command line\)$", g.log, re.M)


def test_vq_pictures(boot):
    g = boot_user(boot)
    out = g.cmd("vq")
    assert re.search(r"^virtio0 queue 0: rx0, 256 entries, 0 free$", out, re.M), out
    assert re.search(r"^virtio0 queue 1: tx0, 256 entries, \d+ free$", out, re.M), out
    rx = g.cmd("vq rx0")
    assert "last_used -> [" + "A" * 64 + "] <- last_used + 256" in rx, rx
    g.cmd("ping -c 3 -i 100 10.0.2.2", timeout=30)
    tx = g.cmd("vq tx0")
    m = re.search(r"avail\.idx (\d+) .*used\.idx (\d+) .*last_used (\d+)", tx)
    assert m and int(m.group(1)) >= 4, tx  # three echo requests and the ARP for the gateway
    assert re.search(r"^    last_used -> \[[UA.]{64}\]", tx, re.M), tx
    assert "no queue named 'nope'" in g.cmd("vq nope")


@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed (tools/deps.sh test)")
def test_make_run_trace_and_pcap(tmp_path):
    """tools/run.sh TRACE=1 PCAP=...: QEMU's virtio events and the guest's trace in
    build/trace, and a capture tshark reads with the ping in it."""
    pcap = tmp_path / "nic.pcap"
    # A fixed address: on user networking run.sh would otherwise ask DHCP, and the ping at
    # boot would find no address yet.
    env = dict(os.environ, TRACE="1", PCAP=str(pcap),
               CMDLINE="ip=10.0.2.15/24 gw=10.0.2.2 test=ping:-c:1:10.0.2.2 exit=0")
    r = subprocess.run(["tools/run.sh"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    guest = (ROOT / "build/trace/guest.log").read_text(errors="replace")
    qemu = (ROOT / "build/trace/qemu.log").read_text(errors="replace")
    assert records(guest), guest[-2000:]
    assert re.search(r"^\d+@\d+\.\d+:virtio_queue_notify ", qemu, re.M), qemu[-2000:]
    assert re.search(r"virtqueue_(pop|fill|flush) ", qemu), qemu[-2000:]
    t = subprocess.run(["tshark", "-n", "-r", str(pcap), "-Y", "icmp.type == 8 || icmp.type == 0"],
                       capture_output=True, text=True, timeout=120)
    assert t.returncode == 0, t.stderr
    assert len(t.stdout.splitlines()) >= 2, t.stdout
