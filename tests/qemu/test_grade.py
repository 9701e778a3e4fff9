"""
tests/qemu/test_grade.py - grading students' trees (tools/lab/grade.py, tools/lab/grade_class.py;
docs/lab-teachers.md).

Cheap, in every make test:
  - the QEMU tests' time limit and results as they come (tests/qemu/conftest.py), on a demo;
  - a pytest whose test will not stop at its limit is killed with what it started, its
    network namespace deleted, and the tests after it still run;
  - a unit binary that crashes (a sanitizer report) or hangs in one test loses that check only;
  - a daemon a test leaves behind is killed;
  - one end to end `make grade SUBMISSION=dir GRADE_JSON=file` of a doctored student tree:
    its tests, grader and Makefile rewritten to pass everything (ignored: it scores what its
    sources earn), a probe that loops forever (the QEMU checks time out; the ring's unit
    checks still score), an ASan error in a stage 7 function (that check's reason is the
    report; the tests after it still run), and the submission left untouched.
With FULL=1: make grade-class over three small submissions (grades.csv, a JSON each, notes).
Inside a student tree (no generator) these skip.
"""
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "tools" / "lab"
PYTHON = "/usr/bin/python3"
STATUSES = {"pass", "fail", "skip", "timeout"}

sys.path.insert(0, str(LAB))
import grade  # noqa: E402  (tools/lab/grade.py)

pytestmark = pytest.mark.skipif(not (LAB / "grade_class.py").exists(),
                                reason="no class grader here (a student tree)")


def demo_tree(tmp_path, tests):
    """A directory with this conftest and the helpers it imports, and t_demo.py."""
    for name in ("conftest.py", "guest.py"):
        shutil.copy(ROOT / "tests" / "qemu" / name, tmp_path / name)
    (tmp_path / "t_demo.py").write_text(tests)
    return tmp_path


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


DEMO = '''
import time
import pytest

def test_ok():
    pass

def test_fails():
    assert 1 == 2, "the demo's own message"

def test_skips():
    pytest.skip("no demo device on this machine")

def test_hangs():
    time.sleep(30)

def test_slow_within_its_own_limit():
    time.sleep(1.5)
'''


def test_conftest_limits_each_test_and_records_as_it_goes(tmp_path):
    tree = demo_tree(tmp_path, DEMO)
    results = tmp_path / "results.jsonl"
    env = dict(os.environ, VNET_RESULTS=str(results), VNET_TEST_TIMEOUT="1",
               VNET_TEST_TIMEOUTS=json.dumps({"t_demo.py::test_slow_within_its_own_limit": 5}))
    start = time.monotonic()
    subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tree), "t_demo.py"],
                   cwd=tree, env=env, capture_output=True, timeout=120)
    assert time.monotonic() - start < 25, "test_hangs was stopped at its limit"
    events = [json.loads(line) for line in results.read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "end"] * 5
    end = {e["nodeid"].split("::")[1]: e for e in events if e["event"] == "end"}
    assert {n: e["status"] for n, e in end.items()} == {
        "test_ok": "pass", "test_fails": "fail", "test_skips": "skip", "test_hangs": "timeout",
        "test_slow_within_its_own_limit": "pass"}
    assert "the demo's own message" in end["test_fails"]["reason"]
    assert end["test_skips"]["reason"] == "no demo device on this machine"
    assert end["test_hangs"]["reason"].startswith("timed out after 1 s"), end["test_hangs"]
    assert 0.9 < end["test_hangs"]["seconds"] < 5
    assert end["test_ok"]["reason"] == ""


STUCK = '''
import os
import subprocess
import time

def test_stuck():
    child = subprocess.Popen(["sleep", "600"], start_new_session=True)
    ns = f"vnet-{os.getpid()}-0"
    made = subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode == 0
    with open(os.environ["DEMO_OUT"], "w") as f:
        f.write(f"{child.pid} {ns if made else ''}")
    for _ in range(600):  # swallows the time limit's exception: only a kill ends it
        try:
            time.sleep(0.1)
        except Exception:
            pass

def test_after():
    pass
'''


def test_a_test_that_will_not_stop_is_killed_and_the_rest_still_run(tmp_path, monkeypatch):
    (tmp_path / "t").mkdir()
    tree = demo_tree(tmp_path / "t", STUCK)
    out = tmp_path / "demo.out"
    monkeypatch.setenv("DEMO_OUT", str(out))
    monkeypatch.setattr(grade, "KILL_GRACE", 1)
    stages = [{"n": 1, "name": "demo", "points": 10, "unit": {},
               "pytest": ["t_demo.py::test_stuck", "t_demo.py::test_after"]}]
    grading = grade.Grading(stages)
    grading.checks = grade.checks_of(stages, qemu_timeout=1)
    start = time.monotonic()
    grade.run_qemu_checks(grading, grading.checks, False, root=tree, build=tmp_path / "build")
    assert time.monotonic() - start < 60
    stuck, after = grading.checks
    assert (stuck.status, after.status) == ("timeout", "pass"), (stuck.reason, after.reason)
    assert "did not stop at its limit" in stuck.reason, stuck.reason
    pid, _, ns = out.read_text().partition(" ")
    for _ in range(50):
        if not alive(int(pid)):
            break
        time.sleep(0.1)
    assert not alive(int(pid)), "what the killed test started is killed too"
    if ns:
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert ns not in left, "its network namespace is deleted"


FAKE_UNIT = '''#!/usr/bin/python3 -u
import sys
import time

for name in ["t_first", "t_crash", "t_hang", "t_fail", "t_last"]:
    if name in sys.argv[1:]:
        continue
    if name == "t_crash":
        sys.stderr.write("=================================================================\\n"
                         "==7==ERROR: AddressSanitizer: stack-buffer-overflow on address 0x7f\\n"
                         "    #0 0x55 in vring_demo drivers/virtio/virtio_ring.c:12\\n")
        sys.exit(1)
    if name == "t_hang":
        time.sleep(60)
    if name == "t_fail":
        print("#   tests/unit/test_demo.c:3: t_fail: x == 1 failed: 0 != 1")
        print("not ok - t_fail")
        continue
    print(f"ok - {name}")
print("demo: 3 passed, 1 failed")
sys.exit(1)
'''


def test_a_unit_crash_or_hang_loses_only_its_own_check(tmp_path, monkeypatch):
    fake = tmp_path / "demo"
    fake.write_text(FAKE_UNIT)
    fake.chmod(0o755)
    monkeypatch.setattr(grade, "UNIT_TIMEOUT", 1)
    order = ["t_first", "t_crash", "t_hang", "t_fail", "t_last"]
    stages = [{"n": 2, "name": "demo", "points": 20, "unit": {"demo": order}, "pytest": []}]
    grading = grade.Grading(stages)
    grading.checks = grade.checks_of(stages)
    grade.settle_unit_checks(grading, fake, order, grading.checks)
    got = {c.test: (c.status, c.reason) for c in grading.checks}
    assert {t: s for t, (s, _) in got.items()} == {
        "t_first": "pass", "t_crash": "fail", "t_hang": "timeout", "t_fail": "fail", "t_last": "pass"}
    assert "AddressSanitizer: stack-buffer-overflow" in got["t_crash"][1]
    assert "virtio_ring.c:12" in got["t_crash"][1], "the report's stack is in the reason"
    assert got["t_hang"][1].startswith("timed out after 1 s")
    assert "x == 1 failed" in got["t_fail"][1]
    assert grading.rows()[0]["score"] == 20 * 2 // 5


def test_what_a_test_leaves_running_is_killed(tmp_path):
    """A daemon forked by a student's test (its parent gone) comes to the grader, a
    subreaper, and kill_strays ends it."""
    script = (f"import subprocess, sys, time; sys.path.insert(0, {str(LAB)!r}); import grade\n"
              "grade.become_subreaper()\n"
              "subprocess.run(['sh', '-c', 'sleep 600 & echo $!'], stdout=open(sys.argv[1], 'w'))\n"
              "time.sleep(0.2)\n"
              "grade.kill_strays()\n")
    pid_file = tmp_path / "daemon.pid"
    subprocess.run([PYTHON, "-c", script, str(pid_file)], timeout=60, check=True)
    pid = int(pid_file.read_text())
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.1)
    assert not alive(pid)


def test_optional_stage_is_reported_apart(tmp_path, capsys):
    """An optional stage (stage 8, the packed ring) is scored like any other but never moves
    the required total: the table has its own "optional:" line after the total, the JSON its
    own optional/optional_full, grades.csv its columns after the required ones (which stay
    as they were, also for a year graded without it), and the real stages keep 100 required
    points."""
    import grade_class  # noqa: E402  (tools/lab/grade_class.py)
    required = [st for st in grade.STAGES if not st.get("optional")]
    assert sum(st["points"] for st in required) == 100
    assert [st["n"] for st in grade.STAGES if st.get("optional")] == [8]
    stages = [{"n": 1, "name": "required", "points": 15, "unit": {"u": ["a", "b", "c"]}, "pytest": []},
              {"n": 8, "name": "packed ring (optional)", "points": 10, "optional": True,
               "unit": {"u": ["d", "e"]}, "pytest": []}]
    grading = grade.Grading(stages, json_path=tmp_path / "g.json")
    grading.checks = grade.checks_of(stages)
    for c in grading.checks:
        grading.done(c, grade.PASS if c.test in ("a", "b", "c", "d") else grade.FAIL, "demo")
    rows = grading.rows()
    assert grade.totals(rows) == (15, 15, 5, 10)
    assert grade.print_table(rows, grading.checks) == (15, 15)
    out = capsys.readouterr().out.splitlines()
    total = next(i for i, l in enumerate(out) if l.startswith("total"))
    assert out[total].split()[-1] == "15/15", out
    assert out[total + 1].startswith("8 ") and out[total + 1].split()[-1] == "5/10", out
    assert any(l.startswith("optional:") and l.split()[-1] == "5/10" for l in out[total + 1:]), out
    doc = json.loads((tmp_path / "g.json").read_text())
    assert (doc["total"], doc["full"], doc["optional"], doc["optional_full"]) == (15, 15, 5, 10), doc
    assert [r["optional"] for r in doc["stages"]] == [False, True]
    assert grade_class.summary(doc) == "15/15 (optional: 5/10)"
    older = {"total": 12, "full": 15, "stages": [{"stage": 1, "score": 12}]}  # a JSON from before
    grade_class.write_csv(tmp_path / "grades.csv", {"ann": doc, "bob": older})
    assert list(csv.reader((tmp_path / "grades.csv").open())) == [
        ["submission", "total", "stage1", "optional", "stage8"], ["ann", "15", "15", "5", "5"],
        ["bob", "12", "12", "", ""]]
    grade_class.write_csv(tmp_path / "old.csv", {"bob": older})
    assert list(csv.reader((tmp_path / "old.csv").open())) == [["submission", "total", "stage1"],
                                                               ["bob", "12", "12"]]
    assert grade_class.summary(older) == "12/15"


# ---- end to end -------------------------------------------------------------------------------

def mklab(dest, *args):
    r = subprocess.run([PYTHON, str(LAB / "mklab.py"), str(dest), *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def insert_at_body(path, signature_re, code):
    """Put code first in the body of the function whose definition matches signature_re."""
    text = path.read_text()
    m = re.search(signature_re + r"\n\{\n", text)
    assert m, f"no {signature_re} in {path}"
    path.write_text(text[:m.end()] + code + text[m.end():])


def tamper(tree):
    """Rewrite the submission's tests, grader and Makefile to claim full marks."""
    (tree / "tests/unit/test_virtio_ring.c").write_text(
        '#include <stdio.h>\nint main(void)\n{\n\tputs("ok - test_chain_out_in");\n\treturn 0;\n}\n')
    (tree / "tests/qemu/test_lab.py").write_text(
        "def test_stage2_receive_ring_filled():\n    pass\n\n\n"
        "def test_stage7_kicks_and_interrupts_per_packet():\n    pass\n")
    (tree / "tools/lab/grade.py").write_text("print('grade: 100/100 points')\n")
    (tree / "Makefile").write_text("grade:\n\t@echo 100/100\n")


def snapshot(tree):
    return {str(p.relative_to(tree)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(tree.rglob("*")) if p.is_file()}


def test_grade_submission_scores_only_its_sources(tmp_path):
    """make grade SUBMISSION=dir GRADE_JSON=file on a doctored tree (stages 1-2 solved)."""
    sub = tmp_path / "doctored"
    mklab(sub, "--solved", "2")
    insert_at_body(sub / "drivers/virtio/virtio_pci_modern.c", r"static void find_caps\([^)]*\)",
                   "\tfor (volatile int spin = 1; spin;)\n\t\tcontinue; /* a probe that never ends */\n")
    insert_at_body(sub / "drivers/virtio/virtio_ring.c", r"bool virtqueue_enable_cb_delayed\(struct virtqueue \*vq\)",
                   "\t{ volatile int over = 4; volatile char a[4] = { 0 }; volatile char *volatile p = a; p[over] = p[0]; }\n"
                   "\t/* ASan: stack-buffer-overflow */\n")
    tamper(sub)
    before = snapshot(sub)
    out = tmp_path / "grade.json"
    r = subprocess.run(["make", "--no-print-directory", "grade", f"SUBMISSION={sub}", f"GRADE_JSON={out}",
                        "GRADE_ARGS=--stage 2 --stage 7 --timeout 4"], cwd=ROOT, capture_output=True,
                       text=True, timeout=900)
    log = r.stdout + r.stderr
    assert r.returncode != 0, log
    assert snapshot(sub) == before and not (sub / "build").exists(), "the submission is never written"
    doc = json.loads(out.read_text())
    for c in doc["checks"]:
        assert set(c) == {"stage", "name", "points", "status", "reason", "seconds"}, c
        assert c["status"] in STATUSES and isinstance(c["seconds"], (int, float)), c
        assert c["status"] == "pass" or c["reason"], f"{c['name']} has no reason"
    by_name = {c["name"]: c for c in doc["checks"]}
    stage2 = [c for c in doc["checks"] if c["stage"] == 2]
    units = [c for c in stage2 if c["name"].startswith("unit/")]
    # the ring's unit checks run after the crashing interrupt tests and without a kernel
    assert units and all(c["status"] == "pass" for c in units), [c for c in units if c["status"] != "pass"]
    ring = by_name["tests/qemu/test_lab.py::test_stage2_receive_ring_filled"]
    assert ring["status"] == "timeout" and ring["reason"].startswith("timed out after 4 s"), ring
    assert "serial console" in ring["reason"], "the guest's last lines are in the reason"
    perf = by_name["tests/qemu/test_lab.py::test_stage7_kicks_and_interrupts_per_packet"]
    assert perf["status"] == "timeout", perf
    asan = by_name["unit/virtio_ring: test_interrupt_event_idx"]
    assert asan["status"] == "fail" and "AddressSanitizer: stack-buffer-overflow" in asan["reason"], asan
    kick = by_name["unit/virtio_ring: test_kick_event_idx"]
    assert kick["status"] == "fail" and "failed" in kick["reason"], kick
    scores = {s["stage"]: s["score"] for s in doc["stages"]}
    assert scores == {2: 12 * len(units) // (len(units) + 1), 7: 0}, scores
    assert doc["total"] == scores[2] and doc["notes"] == [], doc["notes"]
    if os.geteuid() == 0 and open("/proc/self/uid_map").read().split()[:3] == ["0", "0", "4294967295"]:
        assert "as nobody" in log, "root grades the student's code as an unprivileged user"


@pytest.mark.full  # make test-full only (tests/qemu/conftest.py)
def test_grade_class_writes_csv_and_a_json_each(tmp_path):
    """Three submissions graded side by side on stage 2: this tree's own sources (full
    points), the handed-out stubs (none), and a tree with stages 1-2 solved that lacks
    net/udp.c (graded as the stub, and said so)."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    grade_class = subprocess.run([PYTHON, "-c", "import sys; sys.path.insert(0, 'tools/lab'); import grade_class; "
                                  "print('\\n'.join(grade_class.student_files()))"],
                                 cwd=ROOT, capture_output=True, text=True, timeout=60)
    for rel in grade_class.stdout.split():
        (subs / "solution" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, subs / "solution" / rel)
    mklab(subs / "stubs")
    mklab(subs / "partial", "--solved", "2")
    (subs / "partial/net/udp.c").unlink()
    r = subprocess.run(["make", "--no-print-directory", "grade-class", f"SUBMISSIONS={subs}", f"OUT={out}",
                        "JOBS=2", "GRADE_ARGS=--stage 2"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = list(csv.reader((out / "grades.csv").open()))
    full = str(next(st["points"] for st in grade.STAGES if st["n"] == 2))
    assert rows[0] == ["submission", "total", "stage2"]
    assert sorted(rows[1:]) == [["partial", full, full], ["solution", full, full], ["stubs", "0", "0"]], rows
    for name in ("partial", "solution", "stubs"):
        doc = json.loads((out / f"{name}.json").read_text())
        assert doc["submission"] == name and (out / f"{name}.log").exists()
        assert all(c["status"] in STATUSES for c in doc["checks"])
    notes = json.loads((out / "partial.json").read_text())["notes"]
    assert len(notes) == 1 and notes[0].startswith("net/udp.c: missing"), notes
