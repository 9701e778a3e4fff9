"""
tests/qemu/test_lab.py - the course lab's stage checks (LAB.md).

The stage tests (test_stage*) are the QEMU checks `make grade` runs for the stages whose work
the existing tests cannot see on their own: each must pass with the stages up to its own
solved and the later ones still stubbed (so a student's score rises stage by stage), and fail
while its own stage is a stub. tools/lab/grade.py lists every check of every stage. The
teacher's tree also checks the student tree itself and the lab as a whole (stage K fails
until solved, for every K) in tests of its own, which the student tree does not have.
"""
import os
import re
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

import pytest

from counters import netstat
from guest import GUEST_MAC, PROMPT, nic
from qemu_view import GdbStub, Trace, queue_status, set_trace, symbol_address, virtio_status
from wire import HOST_MAC, TEST_ETHERTYPE, Wire, mac_bytes, open_link

ROOT = Path(__file__).resolve().parents[2]
GRADE = ROOT / "tools" / "lab" / "grade.py"
PYTHON = "/usr/bin/python3"


# ---- stage 1: PCI and probe ----------------------------------------------------------------

PROBE_CASES = [
    # id, device props, machine, transport, expected status values in order
    ("modern-pc", [], "pc", "modern", ["01", "03", "0b", "0f"]),
    ("modern-only-q35", ["disable-legacy=on"], "q35", "modern", ["01", "03", "0b", "0f"]),
    ("legacy-pc", ["disable-modern=on"], "pc", "legacy", ["01", "03", "07"]),
]


@pytest.mark.parametrize("props,machine,transport,values", [c[1:] for c in PROBE_CASES],
                         ids=[c[0] for c in PROBE_CASES])
def test_stage1_probe(boot, tmp_path, props, machine, transport, values):
    """The device is found on its transport, the status sequence of virtio 1.x 3.1.1 runs in
    order with every bit kept, and the features accepted are the ones both sides know -- as
    the driver says, and as QEMU sees it: the guest starts stopped (-S), the gdbstub stops it
    again where the driver calls virtio_device_ready, and the monitor's `info virtio-status`
    then shows the status bits and the features QEMU took; QEMU's virtio_set_status trace
    event shows every status value the device was given."""
    kernel = Path(os.environ.get("VNET_KERNEL", ROOT / "build" / "kernel.elf"))
    trace = Trace(tmp_path)
    gdb = os.path.join(tempfile.mkdtemp(prefix="vnet-gdb-"), "gdb.sock")
    g = boot(machine=machine, devices=[nic(*props)], netdev=["user,id=n0"],
             extra=["-S", "-gdb", f"unix:{gdb},server=on,wait=off", *trace.args()])
    stub = GdbStub(gdb)
    ready = symbol_address(kernel, "virtio_device_ready")
    if not stub.run_to(ready, timeout=60, give_up=lambda: PROMPT in g.log):
        stub.detach()
        pytest.fail("the driver never called virtio_device_ready:\n" + g.log[-2000:], pytrace=False)
    qemu = virtio_status(g)
    stub.detach()
    shutil.rmtree(os.path.dirname(gdb), ignore_errors=True)
    g.wait_ready(timeout=60)
    assert re.search(rf"^virtio0: device type 1 on pci 00:04\.0, {transport} ", g.log, re.M), g.log
    steps = re.findall(r"virtio0: \[ *[\d.]+ ms\] status \+= (\w+) +-> 0x([0-9a-f]{2})", g.log)
    assert [v for _, v in steps[:len(values)]] == values, steps
    accepted = re.search(r"^virtio0: accepting 0x([0-9a-f]{16}):(.*)$", g.log, re.M)
    offered = re.search(r"^virtio0: offered +0x([0-9a-f]{16}):", g.log, re.M)
    assert accepted and offered, g.log
    acc, off = int(accepted.group(1), 16), int(offered.group(1), 16)
    assert acc & ~off == 0, "accepted a feature the device did not offer"
    assert acc & (1 << 5), "VIRTIO_NET_F_MAC (bit 5) is offered by QEMU and used by the driver"
    if transport == "modern":
        assert acc & (1 << 32), "a modern device needs VERSION_1 (bit 32)"
    else:
        assert acc >> 32 == 0, "the legacy feature register has 32 bits"
    # Up to the last status step asked for: later stages' stubs may make the probe fail after
    # DRIVER_OK, and the reset before FAILED is then reported too.
    last = re.search(r"status \+= (DRIVER_OK|FEATURES_OK) .*$", g.log, re.M)
    assert last and "SPEC RULE BROKEN" not in g.log[:last.end()], g.log

    # QEMU's side, just before DRIVER_OK: the bits so far (FEATURES_OK on a modern device)
    # and the features it took are the ones the driver says it accepted.
    before_ok = int(values[-2], 16)
    assert qemu["status"] == before_ok, \
        f"QEMU's status at virtio_device_ready is {qemu['status']:#04x}, not {before_ok:#04x}:\n{qemu['text']}"
    assert qemu["guest"] == acc, (f"QEMU took features {qemu['guest']:#x}, the driver says it accepted "
                                  f"{acc:#x}:\n{qemu['text']}")
    assert qemu["guest"] & ~qemu["host"] == 0, qemu["text"]
    # Every status value QEMU was given, repeats folded: the device's reset(s), then the
    # driver's steps in order, each keeping the bits before it.
    g.kill()
    written = [int(f["val"]) for e, f in trace.records() if e == "virtio_set_status"]
    folded = [v for i, v in enumerate(written) if i == 0 or v != written[i - 1]]
    first = next((i for i, v in enumerate(folded) if v), len(folded))
    assert folded[first:first + len(values)] == [int(v, 16) for v in values], \
        f"status values QEMU saw: {written}"


# ---- stage 2: virtqueue add/get ------------------------------------------------------------

def test_stage2_receive_ring_filled(boot):
    """After probe the receive queue is full of posted buffers: every descriptor is the
    device's, and the avail index has moved by the ring size."""
    g = boot(devices=[nic()], netdev=["user,id=n0"])
    g.wait_ready(timeout=60)
    out = g.cmd("vq rx0")
    m = re.search(r"^vq rx0: virtio0 queue 0, (\d+) entries, (\d+) descriptors free", out, re.M)
    assert m, out
    assert int(m.group(2)) == 0, out
    size = int(m.group(1))
    assert re.search(rf"avail\.idx {size} ", out), out
    assert re.search(rf"A posted, the device owns it: {size} ", out), out
    rows = re.findall(r"^\s+\d+ (\S+)$", out.split("descriptor table")[1], re.M)
    assert rows and all(set(r) == {"A"} for r in rows), out


# ---- stage 4: interrupts -------------------------------------------------------------------

def numbered_frame(i):
    """A minimum-size frame to the guest, of our test ethertype, numbered i."""
    return mac_bytes(GUEST_MAC) + HOST_MAC + struct.pack("!HI", TEST_ETHERTYPE, i) + bytes(46)


@pytest.mark.parametrize("props", [[], ["vectors=0"]], ids=["msix", "intx"])
def test_stage4_receive_interrupt(boot, props):
    """Frames from the wire raise the receive queue's interrupt, which reaches skb_recv_done
    and schedules the receive poll (MSI-X: the queue's own vector; INTx: vp_interrupt)."""
    link = open_link(host_addr=None)
    try:
        g = boot(devices=[nic(*props)], netdev=[link.netdev("n0")], netns=link.netns,
                 append="ip=10.0.9.2/24")
        g.wait_ready(timeout=60)
        before, _ = netstat(g)
        for i in range(5):
            link.send(numbered_frame(i))
            time.sleep(0.01)
        deadline = time.time() + 15
        while True:
            after, out = netstat(g)
            if after.get("rx_interrupts", 0) > before.get("rx_interrupts", 0) or time.time() > deadline:
                break
            time.sleep(0.3)
        assert after.get("rx_interrupts", 0) > before.get("rx_interrupts", 0), out
        assert after.get("napi_polls", 0) > before.get("napi_polls", 0), out
    finally:
        link.close()


# ---- stage 7: performance ------------------------------------------------------------------
#
# Counted by the device: QEMU's trace events virtio_queue_notify (the driver notified a queue)
# and virtio_notify (QEMU decided to interrupt the driver about a queue), switched on through
# the monitor around the burst only, and the transmit queue's used index (info
# virtio-queue-status) for the frames the device really sent. The NIC has ioeventfd=off: with
# it on, QEMU (under KVM, and under TCG too since the memory core signals the eventfd itself)
# merges notifications that arrive while the queue's handler has not run yet into one, and
# the count would be of handler runs, not of the driver's notifications.

MAX_KICKS_PER_PKT = 0.10
MAX_IRQS_PER_PKT = 0.10
MAX_EXCESS_PER_PKT = 0.01  # kicks that came while the device had said it needs none
TX_QUEUE = 1
COUNTED = ("virtio_queue_notify", "virtio_notify", "virtqueue_flush")


def tx_decisions(g):
    """(kicks, suppressed) of the transmit queue, as the driver's `virtio` command counts them."""
    out = g.cmd("virtio")
    m = re.search(r"queue 1 tx0 .*\n.*?kicks (\d+) \(suppressed (\d+)\)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def burst_as_the_device_counts(g, trace, frames, burst):
    """Send frames test frames, burst of them between two flushes; returns the device's
    counts over the burst: {"kicks": notifications of the TX queue, "irqs": interrupts it
    decided on (any queue), "sent": frames it took off the TX queue, "excess": kicks that came
    while the device had said it needs none (excess_kicks), "decisions": how often the driver
    asked itself whether to kick (kicks + suppressed, as the driver counts them)}."""
    g.cmd("perf -z")
    before = queue_status(g, TX_QUEUE)["used_idx"]
    kicks0, suppressed0 = tx_decisions(g)
    set_trace(g, COUNTED, True)
    out = g.cmd(f"sendraw {frames} 60 {burst}", timeout=180)
    assert f"sendraw: {frames} frames of 60 bytes queued, 0 failed" in out, out
    deadline = time.monotonic() + 20
    sent = 0
    while time.monotonic() < deadline:
        sent = (queue_status(g, TX_QUEUE)["used_idx"] - before) % 65536
        if sent >= frames:
            break
        time.sleep(0.2)
    time.sleep(0.3)  # the interrupts that follow the last completions
    set_trace(g, COUNTED, False)
    kicks1, suppressed1 = tx_decisions(g)
    g.kill()  # the trace file is complete once QEMU has exited
    records = trace.records()
    counts = {"sent": sent, "decisions": kicks1 - kicks0 + suppressed1 - suppressed0,
              "kicks": sum(e == "virtio_queue_notify" and f.get("n") == str(TX_QUEUE) for e, f in records),
              "irqs": sum(e == "virtio_notify" for e, f in records), "excess": excess_kicks(records)}
    print(f"device counts for sendraw {frames} 60 {burst}: {counts}")
    assert sent >= frames, f"the device sent {sent} of the {frames} frames queued: {counts}"
    return counts


def excess_kicks(records):
    """Kicks of the TX queue the device had said it does not need, from the order of QEMU's
    trace events. A kick that finds the device idle makes it schedule its transmit handler and
    turn notifications off (virtio_net_handle_tx_bh): VRING_USED_F_NO_NOTIFY without EVENT_IDX,
    avail_event set to the avail index it has seen with it -- which lets exactly one more kick
    through (the driver's next buffer crosses it). Notifications come back on only after the
    handler has run, and it completes each frame it sends (a virtqueue_flush event). So
    between two completions at most two kicks are needed; every further one is excess."""
    tx_vq = next((f.get("vq") for e, f in records if e == "virtio_queue_notify" and f.get("n") == str(TX_QUEUE)),
                 None)
    excess = since_completion = 0
    for e, f in records:
        if e == "virtio_queue_notify" and f.get("n") == str(TX_QUEUE):
            since_completion += 1
            excess += since_completion > 2
        elif e == "virtqueue_flush" and f.get("vq") == tx_vq:
            since_completion = 0
    return excess


def test_stage7_kicks_and_interrupts_per_packet(boot, tmp_path):
    """A burst of 20000 small frames, 32 between flushes: the device is notified at most once
    and interrupts at most once per ten frames it sends (the kick deferred to the end of each
    burst, notification and interrupt suppression)."""
    trace = Trace(tmp_path)
    g = boot(devices=[nic("ioeventfd=off")], netdev=["user,id=n0"], append="ip=10.0.2.15/24",
             extra=trace.args())
    g.wait_ready(timeout=60)
    time.sleep(0.5)
    c = burst_as_the_device_counts(g, trace, 20000, 32)
    assert c["kicks"] / c["sent"] <= MAX_KICKS_PER_PKT, f"kicks per frame as the device counts: {c}"
    assert c["irqs"] / c["sent"] <= MAX_IRQS_PER_PKT, f"interrupts per frame as the device counts: {c}"


@pytest.mark.parametrize("props", [[], ["event_idx=off"]], ids=["event-idx", "no-event-idx"])
def test_stage7_kicks_suppressed_while_device_busy(boot, tmp_path, props):
    """20000 frames, each flushed on its own: while QEMU's transmit handler is still to run it
    has asked not to be notified (avail_event with EVENT_IDX, VRING_USED_F_NO_NOTIFY without:
    virtio 1.x 2.7.10), and a driver that honours it sends no kick the device said it does
    not need (excess_kicks; at most 1% of the frames, for races). How many kicks that saves
    depends on how far the device lags behind the guest on this machine (on a loaded 2-CPU
    host 60-95% of the flushes); a driver that kicks at every flush sends thousands of excess ones."""
    trace = Trace(tmp_path)
    g = boot(devices=[nic("ioeventfd=off", *props)], netdev=["user,id=n0"], append="ip=10.0.2.15/24",
             extra=trace.args())
    g.wait_ready(timeout=60)
    time.sleep(0.5)
    c = burst_as_the_device_counts(g, trace, 20000, 1)
    assert c["kicks"] > 0, c
    assert c["excess"] <= MAX_EXCESS_PER_PKT * c["sent"], \
        f"{c['excess']} kicks came while the device had said it needs none: {c}"


# ---- stage 8 (optional): the packed ring ------------------------------------------------------

PACKED_FRAMES = 20  # each way; fewer than a ring holds, so the device's index does not wrap
RX_QUEUE = 0


def ring_moved(g, queue, before):
    """Slots the device has completed on queue since before (its used_idx, which for a packed
    ring counts descriptors modulo the ring size: virtio 1.2 2.8, QEMU's vq->used_idx)."""
    status = queue_status(g, queue)
    return (status["used_idx"] - before["used_idx"]) % status["num"]


def test_stage8_packed_ring_on_the_device(boot):
    """-device virtio-net-pci,packed=on: QEMU took VIRTIO_F_RING_PACKED among the features
    the driver accepted (its `info virtio-status`, not the driver's word), both queues are
    packed, and frames move both ways through them as the device counts: the frames the host
    sends arrive in the guest, each through one receive slot the device completed, and the
    frames the guest sends each leave through one transmit slot (an indirect table) that
    the device took, and reach the host."""
    link = open_link(host_addr=None)
    wire = None
    try:
        g = boot(devices=[nic("packed=on")], netdev=[link.netdev("n0")], netns=link.netns,
                 append="ip=10.0.9.2/24")
        g.wait_ready(timeout=60)
        qemu = virtio_status(g)
        assert qemu["guest"] & (1 << 34), \
            f"QEMU did not take VIRTIO_F_RING_PACKED (bit 34) from the driver:\n{qemu['text']}"
        out = g.cmd("virtio")
        assert "RING_PACKED(34)" in out.split("features:")[1].split("\n")[0], out
        rings = re.findall(r"^  queue \d+ \w+ .* (split|packed) ring", out, re.M)
        assert len(rings) >= 2 and set(rings) == {"packed"}, out
        time.sleep(0.5)  # the stack's own announcements are out before the counts start

        wire = Wire(link)
        rx0, tx0 = queue_status(g, RX_QUEUE), queue_status(g, TX_QUEUE)
        before, _ = netstat(g)
        for i in range(PACKED_FRAMES):
            link.send(numbered_frame(i))
            time.sleep(0.01)
        deadline = time.time() + 15
        while ring_moved(g, RX_QUEUE, rx0) < PACKED_FRAMES and time.time() < deadline:
            time.sleep(0.2)
        after, stat = netstat(g)
        assert ring_moved(g, RX_QUEUE, rx0) == PACKED_FRAMES, \
            f"the device completed {ring_moved(g, RX_QUEUE, rx0)} receive slots for {PACKED_FRAMES} frames"
        assert after["rx_frames"] - before["rx_frames"] == PACKED_FRAMES, stat

        out = g.cmd(f"sendraw {PACKED_FRAMES} 60")
        assert f"sendraw: {PACKED_FRAMES} frames of 60 bytes queued, 0 failed" in out, out
        got = wire.wait_count(PACKED_FRAMES, 15)
        assert got == PACKED_FRAMES, f"the host received {got} of the {PACKED_FRAMES} frames sent"
        assert ring_moved(g, TX_QUEUE, tx0) == PACKED_FRAMES, \
            f"the device completed {ring_moved(g, TX_QUEUE, tx0)} transmit slots for {PACKED_FRAMES} frames"
    finally:
        if wire:
            wire.close()
        link.close()


def test_grader_scores_over_the_checks_that_ran(capsys):
    """A skipped check (its reason from pytest's skip message) counts neither as passed nor
    as failed: the stage is scored over the checks that ran, and the table says what was
    skipped and why. A check with no result, or one that timed out, fails."""
    sys.path.insert(0, str(GRADE.parent))
    import grade  # noqa: E402
    ids = [f"t_demo.py::{n}" for n in ("test_ok", "test_skips", "test_fails", "test_missing")]
    reason = "the demo needs a kernel TAP device: none here"
    stages = [{"n": 8, "name": "mixed", "points": 10, "unit": {"u": ["t1", "t2"]}, "pytest": ids},
              {"n": 9, "name": "all that ran passed", "points": 20, "unit": {}, "pytest": ids[:2]}]
    grading = grade.Grading(stages)
    grading.checks = grade.checks_of(stages)
    results = {"unit/u: t1": (grade.PASS, ""), "unit/u: t2": (grade.PASS, ""), ids[0]: (grade.PASS, ""),
               ids[1]: (grade.SKIP, reason), ids[2]: (grade.FAIL, "assert False")}
    for c in grading.checks:
        if c.name in results:
            grading.done(c, *results[c.name])
    rows = grading.rows()
    assert [(r["checks"], r["ran"], r["passed"], r["score"]) for r in rows] == [(6, 5, 3, 6), (2, 1, 1, 20)]
    assert rows[0]["failed"] == ids[2:] and rows[0]["skipped"] == [{"name": ids[1], "reason": reason}]
    total, full = grade.print_table(rows, grading.checks, verbose=True)
    out = capsys.readouterr().out
    assert (total, full) == (26, 30)
    assert f"skipped: {ids[1]}" in out and f"failed: {ids[3]}" in out, out
    assert "assert False" in out, "-v shows why a check failed"
    assert f"stage 8: 1 check skipped ({reason}), score over the 5 that ran" in out, out
    assert f"stage 9: 1 check skipped ({reason}), score over the 1 that ran" in out, out
