"""
tests/qemu/test_lab.py - the course lab (LAB.md): the student tree and the stage checks.

The stage tests (test_stage*) are the QEMU checks `make grade` runs for the stages whose work
the existing tests cannot see on their own: each must pass with the stages up to its own
solved and the later ones still stubbed (so a student's score rises stage by stage), and fail
while its own stage is a stub. tools/lab/grade.py lists every check of every stage.

The generator tests make the student tree (tools/lab/mklab.py), build it and boot it to the
shell: the cheap check that runs in every `make test`. With FULL=1 (make test-full) the lab
is checked whole: for each stage K, a tree with stages 1..K-1 solved must score nothing for
stage K, and a tree with 1..K solved must score its full points. Inside a student tree
(which has no markers and no generator) the generator tests skip.
"""
import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from counters import netstat
from guest import GUEST_MAC, nic
from wire import HOST_MAC, TEST_ETHERTYPE, mac_bytes, open_link

ROOT = Path(__file__).resolve().parents[2]
MKLAB = ROOT / "tools" / "lab" / "mklab.py"
GRADE = ROOT / "tools" / "lab" / "grade.py"
PYTHON = "/usr/bin/python3"


def have_markers():
    if not MKLAB.exists():
        return False
    out = subprocess.run(["git", "grep", "-l", "LAB" + ":SOLUTION", "--", "*.c", "*.h"], cwd=ROOT,
                         capture_output=True, text=True)
    return bool(out.stdout.strip())


needs_markers = pytest.mark.skipif(not have_markers(), reason="no lab markers here (a student tree)")


# ---- stage 1: PCI and probe ----------------------------------------------------------------

PROBE_CASES = [
    # id, device props, machine, transport, expected status values in order
    ("modern-pc", [], "pc", "modern", ["01", "03", "0b", "0f"]),
    ("modern-only-q35", ["disable-legacy=on"], "q35", "modern", ["01", "03", "0b", "0f"]),
    ("legacy-pc", ["disable-modern=on"], "pc", "legacy", ["01", "03", "07"]),
]


@pytest.mark.parametrize("props,machine,transport,values", [c[1:] for c in PROBE_CASES],
                         ids=[c[0] for c in PROBE_CASES])
def test_stage1_probe(boot, props, machine, transport, values):
    """The device is found on its transport, the status sequence of virtio 1.x 3.1.1 runs in
    order with every bit kept, and the features accepted are the ones both sides know."""
    g = boot(machine=machine, devices=[nic(*props)], netdev=["user,id=n0"])
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


# ---- stage 3: interrupts -------------------------------------------------------------------

def numbered_frame(i):
    """A minimum-size frame to the guest, of our test ethertype, numbered i."""
    return mac_bytes(GUEST_MAC) + HOST_MAC + struct.pack("!HI", TEST_ETHERTYPE, i) + bytes(46)


@pytest.mark.parametrize("props", [[], ["vectors=0"]], ids=["msix", "intx"])
def test_stage3_receive_interrupt(boot, props):
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


# ---- stage 6: performance ------------------------------------------------------------------

MAX_KICKS_PER_PKT = 0.10
MAX_IRQS_PER_PKT = 0.10


def test_stage6_kicks_and_interrupts_per_packet(boot):
    """A burst of 20000 small frames: at most one kick and one interrupt per ten frames
    (batching to the end of each burst, notification and interrupt suppression)."""
    g = boot(devices=[nic()], netdev=["user,id=n0"], append="ip=10.0.2.15/24")
    g.wait_ready(timeout=60)
    time.sleep(0.5)
    g.cmd("perf -z")
    out = g.cmd("sendraw 20000 60", timeout=180)
    assert "sendraw: 20000 frames of 60 bytes queued, 0 failed" in out, out
    time.sleep(0.5)
    out = g.cmd("perf")
    m = re.search(r"tx_pkts (\d+) tx_cycles_per_pkt (\d+) kicks_per_pkt ([\d.]+) interrupts_per_pkt ([\d.]+)", out)
    assert m, out
    assert int(m.group(1)) >= 20000, out
    assert float(m.group(3)) <= MAX_KICKS_PER_PKT, out
    assert float(m.group(4)) <= MAX_IRQS_PER_PKT, out


# ---- the generator -------------------------------------------------------------------------

def make_tree(dest, *args):
    r = subprocess.run([PYTHON, str(MKLAB), str(dest), *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def build(tree, *targets):
    r = subprocess.run(["make", "-j2", "--no-print-directory", *targets], cwd=tree, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@needs_markers
def test_markers_are_well_formed():
    r = subprocess.run([PYTHON, str(MKLAB), "-", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    n = int(re.search(r"(\d+) regions", r.stdout).group(1))
    assert n >= 6, r.stdout


@needs_markers
def test_student_tree_builds_and_boots(boot, tmp_path):
    """Every stage stubbed: no marker left, a TODO per region, the kernel builds without a
    warning and boots to the shell (the network stays down: nothing can be queued yet)."""
    tree = tmp_path / "lab"
    out = make_tree(tree)
    for s in range(1, 7):
        assert re.search(rf"stage {s} [1-9]\d* region", out), out
    ring = (tree / "drivers/virtio/virtio_ring.c").read_text()
    assert "TODO(lab stage 2)" in ring and "return -ENOSYS;" in ring
    assert not (tree / "tools/lab/mklab.py").exists(), "the generator is for teachers"
    grep = subprocess.run(["grep", "-rl", "LAB" + ":", str(tree)], capture_output=True, text=True)
    assert grep.stdout == "", "markers left: " + grep.stdout
    build(tree, "build/kernel.elf")
    g = boot(kernel=tree / "build/kernel.elf", devices=[nic()], netdev=["user,id=n0"])
    g.wait_ready(timeout=60)
    help_out = g.cmd("help")
    assert "  trace" in help_out and "  vq" in help_out, help_out
    g.send("exit 3")
    assert g.wait_exit() == 7


@needs_markers
def test_grader_names_existing_checks():
    """Every check the grader lists exists (tests renamed elsewhere must not go unnoticed)."""
    sys.path.insert(0, str(GRADE.parent))
    import grade  # noqa: E402
    for st in grade.STAGES:
        for binary, names in st["unit"].items():
            mk = "".join(p.read_text() for p in (ROOT / "tests/unit").glob("*.mk"))
            src = re.search(rf"{binary}_SRCS\s*:?=\s*(tests/unit/\S+\.c)", mk)
            text = (ROOT / src.group(1)).read_text() if src else \
                (ROOT / f"tests/unit/test_{binary}.c").read_text()
            for n in names:
                assert f"RUN({n})" in text, f"stage {st['n']}: unit/{binary} has no {n}"
    ids = [n for st in grade.STAGES for n in st["pytest"]]
    r = subprocess.run([PYTHON, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *ids],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for n in ids:
        assert n in r.stdout, f"{n} not collected:\n{r.stdout[-2000:]}"


@needs_markers
@pytest.mark.full  # make test-full only (tests/qemu/conftest.py)
@pytest.mark.parametrize("stage", range(1, 7))
def test_stage_fails_until_solved(tmp_path, stage):
    """Stages 1..K-1 solved: stage K scores nothing. Stages 1..K solved: full points."""
    for solved, want_full in ((stage - 1, False), (stage, True)):
        tree = tmp_path / f"solved{solved}"
        make_tree(tree, "--solved", str(solved))
        score = tmp_path / f"score{solved}.json"
        env = dict(os.environ, VNET_KERNEL=str(tree / "build/kernel.elf"))
        subprocess.run([PYTHON, "tools/lab/grade.py", "--stage", str(stage), "--json", str(score)], cwd=tree,
                       env=env, capture_output=True, text=True, timeout=3600)
        row = json.loads(score.read_text())["stages"][0]
        if want_full:
            assert row["score"] == row["points"], row
        else:
            assert row["passed"] == 0, row


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
