"""
tests/qemu/test_lab_tree.py - the student tree, and the lab as a whole (teacher's tree only:
tools/lab/mklab.py leaves this file, the generator and the stub pages out of the tree it makes).

The generator tests make the student tree (tools/lab/mklab.py), check that it names no file
it lacks, build it and boot it to the shell: the cheap checks that run in every `make test`.
With FULL=1 (make test-full) the lab is checked whole: for each stage K, a tree with stages
1..K-1 solved must score nothing for stage K, and a tree with 1..K solved must score its full
points (stage 8, the optional packed ring, too); and a tree with only stage 8 unsolved scores
the 100 required points, 0 optional, and runs a device that offers the packed ring on split
rings.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from guest import nic

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
    for s in range(1, 9):
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
@pytest.mark.parametrize("stage", range(1, 9))
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


@needs_markers
@pytest.mark.full  # make test-full only (tests/qemu/conftest.py)
def test_optional_stage_unsolved_keeps_the_required_stages(boot, tmp_path):
    """Stages 1-7 solved, the optional packed ring (stage 8) a stub: every required stage
    scores full marks (100), the optional line 0; the driver turns RING_PACKED down
    (vring_packed_ready is false), so a device that offers it runs split rings and moves
    frames, and virtio_ring=packed says why it is not used."""
    tree = tmp_path / "solved7"
    make_tree(tree, "--solved", "7")
    build(tree, "build/kernel.elf")
    score = tmp_path / "score.json"
    env = dict(os.environ, VNET_KERNEL=str(tree / "build/kernel.elf"))
    r = subprocess.run([PYTHON, "tools/lab/grade.py", "--json", str(score)], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=3600)
    doc = json.loads(score.read_text())
    assert (doc["total"], doc["full"]) == (100, 100), r.stdout[-3000:]
    assert (doc["optional"], doc["optional_full"]) == (0, 10), doc["stages"][-1]
    assert r.returncode == 0, "full marks on the required stages: make grade succeeds\n" + r.stdout[-2000:]
    assert re.search(r"^optional: +0/10", r.stdout, re.M), r.stdout[-2000:]
    g = boot(kernel=tree / "build/kernel.elf", devices=[nic("packed=on")], netdev=["user,id=n0"],
             append="virtio_ring=packed ip=10.0.2.15/24")
    g.wait_ready(timeout=60)
    assert "virtio_ring=packed, but this kernel's packed ring is switched off" in g.log, g.log
    out = g.cmd("virtio")
    assert "RING_PACKED" not in out and re.search(r"tx0 .* split ring", out), out
    out = g.cmd("sendraw 20 60")
    assert "20 frames of 60 bytes queued, 0 failed" in out, out




LINK_RE = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")  # a Markdown link's target


@needs_markers
def test_student_tree_names_only_its_files(tmp_path):
    """The student tree refers to no file it does not contain: no file of it names a
    teacher-only file (the generator, the class grader, their make targets, the teachers'
    page, the stub pages, the teacher's own tests), and every relative Markdown link in it
    leads to a file that is there."""
    sys.path.insert(0, str(MKLAB.parent))
    try:
        import mklab  # noqa: E402
    finally:
        sys.path.pop(0)
    tree = tmp_path / "lab"
    make_tree(tree)
    teacher_only = list(mklab.TEACHER_ONLY) + [str(mklab.STUBS) + "/"]
    named, broken = [], []
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        rel = path.relative_to(tree)
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # images and other binary files name nothing
        for t in teacher_only:
            assert not (tree / t).exists() or t.endswith("/"), f"{t} was copied"
            if t in text:
                named.append(f"{rel} names {t}")
        if path.suffix == ".md":
            for target in LINK_RE.findall(text):
                if "://" in target or target.startswith("mailto:"):
                    continue
                if not (path.parent / target).exists():
                    broken.append(f"{rel} links to {target}")
    assert not named and not broken, "\n".join(named + broken)
