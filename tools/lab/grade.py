#!/usr/bin/python3
"""
tools/lab/grade.py - `make grade`: run each stage's checks (LAB.md) on this tree and print a
score table.

    tools/lab/grade.py                  every stage
    tools/lab/grade.py --stage 2 -v     one stage, with pytest's output and every check
    tools/lab/grade.py --json FILE      also write every check's result as JSON (GRADE_JSON=)

A teacher grades a student's tree with the teacher's tree's checks laid over it (make grade
SUBMISSION=dir in the teacher's tree): a scratch copy of that tree with the student's sources,
where this script runs.

A stage's checks are host unit tests (by binary and test name, from tests/unit/) and QEMU tests
(pytest node ids, from tests/qemu/). Each check ends as pass, fail, skip or timeout, and every
one that does not pass says why (the failed CHECK lines, a sanitizer's report, the assertion
and the guest's last console lines, "timed out after N s", the skip's cause):

  - A unit binary runs its tests in their order, as make unit does (some rely on what the one
    before left), but built as build/grade/unit/NAME: the same main, printing each line
    unbuffered, leaving out the tests named on its command line. A binary that crashes (an
    ASan abort) or stays silent for UNIT_TIMEOUT s in a test runs again without that test:
    the crash or hang loses that check only, and the sanitizer's report is its reason.
  - The QEMU checks run in one pytest with a time limit per test (tests/qemu/conftest.py,
    VNET_TEST_TIMEOUT[S]), each result written down as it ends (VNET_RESULTS). A test that
    does not stop at its limit has its pytest killed (QEMU and helpers with it, by PID, and
    the network namespaces it made deleted); the checks left run in a new pytest.
  - A QEMU test skips only when this machine cannot run it (no kernel TAP device on the socket
    wire of tools/privnet.sh, a missing tool). A stage earns its points in proportion to the
    checks that passed among those that ran; skipped ones count neither way.

A stage marked optional (stage 8, the packed ring) is scored like the others but apart from
them: "total" (and full marks, and the exit status) is the required stages' alone, and the
optional stages have their own "optional: N/M" line (JSON: optional, optional_full), so the
required total means the same whether a class does the optional stage or not.

Unit checks run before the QEMU checks and need no kernel: a kernel that hangs at boot still
has the ring's checks scored. With --budget, checks not started when it runs out are recorded
as timeouts. The JSON is rewritten as each check ends. Exit status 0 only with full marks
on the required stages graded (and on an optional stage named with --stage).
"""
import argparse
import concurrent.futures
import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "qemu"))  # for the wire's one description (wire.py)
from wire import describe as describe_wire, have_tap  # noqa: E402
PYTHON = "/usr/bin/python3"
BUILD = ROOT / "build" / "grade"

BUILD_TIMEOUT = 600   # s for make of the kernel or of one unit binary
UNIT_TIMEOUT = 10     # s for one unit test (the solution's take milliseconds each)
QEMU_TIMEOUT = 90     # s for one QEMU check (their own waits give up after 60 s)
QEMU_TIMEOUTS = {"tests/qemu/test_lab.py::test_stage7_kicks_and_interrupts_per_packet": 240,
                 "tests/qemu/test_lab.py::test_stage7_kicks_suppressed_while_device_busy[event-idx]": 240,
                 "tests/qemu/test_lab.py::test_stage7_kicks_suppressed_while_device_busy[no-event-idx]": 240}
KILL_GRACE = 20       # s past a QEMU check's limit before its pytest is killed
PYTEST_IDLE = 120     # s pytest may spend outside any test (collecting) before it is killed

RING = "virtio_ring"
STAGES = [
    {
        "n": 1, "name": "PCI and probe", "points": 15,
        "unit": {},
        "pytest": ["tests/qemu/test_lab.py::test_stage1_probe[modern-pc]",
                   "tests/qemu/test_lab.py::test_stage1_probe[modern-only-q35]",
                   "tests/qemu/test_lab.py::test_stage1_probe[legacy-pc]"],
    },
    {
        "n": 2, "name": "virtqueue add/get", "points": 12,
        "unit": {RING: ["test_chain_out_in", "test_add_outbuf_inbuf", "test_indirect", "test_queue_full",
                        "test_detach_after_reset", "test_vring_reset", "test_notify_failure",
                        "test_hostile_desc_scribble"]},
        "pytest": ["tests/qemu/test_lab.py::test_stage2_receive_ring_filled"],
    },
    {
        "n": 3, "name": "the device is not trusted", "points": 8,
        "unit": {RING: ["test_hostile_id_out_of_range", "test_hostile_id_not_in_flight",
                        "test_hostile_len_too_big", "test_hostile_double_completion",
                        "test_hostile_used_idx", "test_hostile_random"]},
        "pytest": [],
    },
    {
        "n": 4, "name": "interrupts", "points": 15,
        "unit": {RING: ["test_interrupt_no_event_idx", "test_vring_interrupt"]},
        "pytest": ["tests/qemu/test_lab.py::test_stage4_receive_interrupt[msix]",
                   "tests/qemu/test_lab.py::test_stage4_receive_interrupt[intx]",
                   "tests/qemu/test_virtio.py::test_intx_interrupts_are_acknowledged_through_isr"],
    },
    {
        "n": 5, "name": "receive and transmit", "points": 20,
        "unit": {"virtio_net": ["test_rx_used_len_short", "test_rx_too_long_and_used_len_lie",
                                "test_rx_bad_used_id", "test_num_buffers_zero",
                                "test_num_buffers_more_than_completed", "test_num_buffers_merge",
                                "test_small_mtu_enforced", "test_mtu_feature_validated",
                                "test_refill_after_pool_ran_dry",
                                "test_reset_and_remove_with_buffers_out"]},
        "pytest": ["tests/qemu/test_net.py::test_frames_both_ways[transitional-msix]",
                   "tests/qemu/test_net.py::test_frames_both_ways[legacy-intx]",
                   "tests/qemu/test_net.py::test_frames_both_ways[no-mrg-rxbuf]",
                   "tests/qemu/test_net.py::test_frames_both_ways[merge-small-buffers]",
                   "tests/qemu/test_net.py::test_stall_fills_the_ring_then_recovers"],
    },
    {
        "n": 6, "name": "ARP, IPv4, ICMP, UDP", "points": 20,
        "unit": {"net_arp": ["test_reply_in_place", "test_conflict_and_probe"],
                 "net_ipv4": ["test_delivers_valid", "test_header_drops", "test_fragments_dropped",
                              "test_source_and_destination_checks",
                              "test_options_skipped_and_padding_trimmed",
                              "test_unknown_protocol_gets_unreachable"],
                 "net_udp": ["test_receive_checks", "test_unconfigured_only_dhcp_client",
                             "test_echo_in_place_exact", "test_echo_ignores_broadcast",
                             "test_discard_counts", "test_closed_port"]},
        "pytest": ["tests/qemu/test_stack.py::test_host_pings_guest[56]",
                   "tests/qemu/test_stack.py::test_arping",
                   "tests/qemu/test_stack.py::test_udp_echo_500_random_payloads",
                   "tests/qemu/test_stack.py::test_guest_pings_host"],
    },
    {
        "n": 7, "name": "performance: fewer kicks and interrupts", "points": 10,
        "unit": {RING: ["test_kick_no_event_idx", "test_kick_event_idx", "test_kick_saturation",
                        "test_interrupt_event_idx"]},
        "pytest": ["tests/qemu/test_lab.py::test_stage7_kicks_and_interrupts_per_packet",
                   "tests/qemu/test_lab.py::test_stage7_kicks_suppressed_while_device_busy[event-idx]",
                   "tests/qemu/test_lab.py::test_stage7_kicks_suppressed_while_device_busy[no-event-idx]"],
    },
    # Optional: scored apart from the 100 points of stages 1-7 (the "optional" line), so that
    # the required total means the same from year to year whether or not a class does it.
    {
        "n": 8, "name": "packed ring (optional)", "points": 10, "optional": True,
        "unit": {"virtio_ring_packed": ["test_list_out_in", "test_indirect", "test_full_and_out_of_order",
                                        "test_kick_suppression", "test_kick_saturation",
                                        "test_interrupt_suppression", "test_vring_interrupt",
                                        "test_wrap_plain", "test_wrap_indirect", "test_wrap_event_idx",
                                        "test_wrap_event_idx_indirect", "test_wrap_large",
                                        "test_detach_and_reset", "test_notify_failure", "test_hostile_ids",
                                        "test_hostile_len", "test_hostile_broken_ring", "test_hostile_random"],
                 "virtio_net": ["test_packed_negotiated_and_working", "test_packed_hostile_recovers"]},
        "pytest": ["tests/qemu/test_net.py::test_frames_both_ways[packed]",
                   "tests/qemu/test_lab.py::test_stage8_packed_ring_on_the_device"],
    },
]

PASS, FAIL, SKIP, TIMEOUT = "pass", "fail", "skip", "timeout"
NOT_RUN = "not run: grading ended before this check (killed, or out of time)"
TAIL_LINES = 15


def log(msg, verbose=True):
    if verbose:
        print(msg, flush=True)


def tail(text, n=TAIL_LINES):
    return "\n".join(text.rstrip("\n").split("\n")[-n:])


# ---- processes: bounded in time, killed with everything they started -------------------------

def become_subreaper():
    """Orphans of what we start are reparented to us (not to init), so kill_tree finds them."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def process_children():
    """{pid: [its children's pids]} as /proc stands now."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid):
    """pid's children, grandchildren, ... as they stand in /proc now."""
    children = process_children()
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found


def kill_tree(pid):
    """SIGKILL pid and everything below it, each by its PID; returns the PIDs."""
    pids = [pid] + descendants(pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in pids[1:]:  # orphans that came to us
        try:
            os.waitpid(p, os.WNOHANG)
        except ChildProcessError:
            pass
    return pids


def kill_strays(keep=()):
    """Kill our children but those in keep (what we started and still wait for), each with
    what is under it. A subreaper's other children are orphans that came to it: left behind
    by something that ended or was killed (a student's test that forked a daemon, say)."""
    for pid in process_children().get(os.getpid(), []):
        if pid not in keep:
            kill_tree(pid)
            try:
                os.waitpid(pid, 0)  # ours to reap
            except ChildProcessError:
                pass


def run_bounded(argv, timeout, cwd=ROOT, out=None):
    """(exit status, or None when killed at the time limit; seconds) of argv, its output to
    the open file out (else discarded)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if out else subprocess.DEVNULL,
                            start_new_session=True)
    try:
        status = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.wait()
        status = None
    return status, time.monotonic() - start


def make(targets, logname, jobs=1):
    """Build targets; returns (ok, why not: the end of make's output)."""
    BUILD.mkdir(parents=True, exist_ok=True)
    path = BUILD / logname
    with open(path, "w") as f:
        status, _ = run_bounded(["make", "--no-print-directory", f"-j{jobs}", *targets], BUILD_TIMEOUT,
                                out=f)
    text = path.read_text(errors="replace")
    if status is None:
        return False, f"make {' '.join(targets)} was stopped after {BUILD_TIMEOUT} s:\n{tail(text)}"
    return status == 0, tail(text)


# ---- the checks -------------------------------------------------------------------------------

class Check:
    def __init__(self, stage, name, timeout, binary=None, test=None):
        self.stage, self.name, self.timeout = stage, name, timeout
        self.binary, self.test = binary, test  # a unit check's binary and test function
        self.status, self.reason, self.seconds = None, "", 0.0

    @property
    def nodeid(self):
        return None if self.binary else self.name


def checks_of(stages, qemu_timeout=None):
    """Every check of the stages, in order: unit checks first within a stage, as listed."""
    out = []
    for st in stages:
        out += [Check(st["n"], f"unit/{b}: {t}", UNIT_TIMEOUT, binary=b, test=t)
                for b, names in st["unit"].items() for t in names]
        out += [Check(st["n"], n, qemu_timeout or QEMU_TIMEOUTS.get(n, QEMU_TIMEOUT))
                for n in st["pytest"]]
    return out


class Grading:
    """The checks of one run and their results; the JSON is rewritten as each one ends."""

    def __init__(self, stages, json_path=None, budget=None):
        self.stages = stages
        self.json_path = Path(json_path) if json_path else None
        self.start = time.monotonic()
        self.deadline = self.start + budget if budget else None
        self.budget = budget
        self.checks = []
        self.lock = threading.Lock()  # unit checks end in several threads at once

    def out_of_time(self):
        return self.deadline is not None and time.monotonic() >= self.deadline

    def budget_reason(self):
        return f"not run: the time budget of {self.budget:g} s for this grading ran out first"

    def done(self, check, status, reason="", seconds=0.0):
        with self.lock:
            check.status, check.reason, check.seconds = status, reason.strip(), round(seconds, 2)
            if status != PASS and not check.reason:
                check.reason = "no reason given"
            self.write_json()

    def rows(self):
        return score_rows(self.stages, self.checks)

    def write_json(self):
        if not self.json_path:
            return
        rows = self.rows()
        worth = {r["stage"]: r["points"] / r["ran"] if r["ran"] else 0 for r in rows}
        checks = []
        for c in self.checks:
            status, reason = (c.status, c.reason) if c.status else (TIMEOUT, NOT_RUN)
            checks.append({"stage": c.stage, "name": c.name,
                           "points": 0 if status == SKIP else round(worth[c.stage], 2),
                           "status": status, "reason": reason, "seconds": c.seconds})
        total, full, optional, optional_full = totals(rows)
        doc = {"total": total, "full": full, "optional": optional, "optional_full": optional_full,
               "checks": checks, "stages": rows,
               "seconds": round(time.monotonic() - self.start, 1),
               "net": os.environ.get("VNET_NET", ""), "net_why": os.environ.get("VNET_NET_WHY", "")}
        tmp = self.json_path.with_name(self.json_path.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, self.json_path)


def score_rows(stages, checks):
    """A row per stage: it scores in proportion to the checks passed among those that ran (a
    check without a result counts as failed)."""
    rows = []
    for st in stages:
        mine = [c for c in checks if c.stage == st["n"]]
        passed = sum(c.status == PASS for c in mine)
        skipped = [{"name": c.name, "reason": c.reason} for c in mine if c.status == SKIP]
        ran = len(mine) - len(skipped)
        score = st["points"] * passed // ran if ran else 0  # over the checks that ran
        rows.append({"stage": st["n"], "name": st["name"], "checks": len(mine), "passed": passed,
                     "ran": ran, "points": st["points"], "score": score,
                     "optional": bool(st.get("optional")),
                     "failed": [c.name for c in mine if c.status in (FAIL, TIMEOUT, None)],
                     "skipped": skipped})
    return rows


def totals(rows):
    """(total, full) of the required stages and (optional, optional_full) of the optional
    ones: an optional stage never changes the total, it has a line of its own."""
    req = [r for r in rows if not r.get("optional")]
    opt = [r for r in rows if r.get("optional")]
    return (sum(r["score"] for r in req), sum(r["points"] for r in req),
            sum(r["score"] for r in opt), sum(r["points"] for r in opt))


# ---- unit checks: a crash or a hang loses only its own check ---------------------------------

MAIN_RE = re.compile(r"^int main\((?:void)?\)\n\{\n(?P<body>.*?)^\}", re.M | re.S)
RUN_RE = re.compile(r"\bRUN\((\w+)\)")


def test_main(binary):
    """(body of main, [test names in the order main runs them]) of tests/unit/test_BINARY.c."""
    text = (ROOT / "tests" / "unit" / f"test_{binary}.c").read_text(errors="replace")
    m = MAIN_RE.search(text)
    if not m:
        return "", []
    return m.group("body"), RUN_RE.findall(m.group("body"))


def unit_main(binary, body):
    """The source of build/grade/unit/BINARY: tests/unit/test_BINARY.c with its main renamed,
    and that main's body again in a main whose RUNs leave out the tests named on the command
    line; every line is written before a crash can lose it."""
    return (f"/* Written by tools/lab/grade.py from tests/unit/test_{binary}.c. */\n"
            f"#define main unit_main_all_tests\n"
            f'#include "tests/unit/test_{binary}.c"\n'
            f"#undef main\n\n"
            f"static int grade_argc;\nstatic char **grade_argv;\n\n"
            f"static int grade_wanted(const char *name)\n{{\n"
            f"\tfor (int i = 1; i < grade_argc; i++)\n\t\tif (strcmp(grade_argv[i], name) == 0)\n"
            f"\t\t\treturn 0;\n\treturn 1;\n}}\n\n"
            f"#define GRADE_RUN(fn) do {{ if (grade_wanted(#fn)) RUN(fn); }} while (0)\n\n"
            f"int main(int argc, char **argv)\n{{\n"
            f"\tsetvbuf(stdout, NULL, _IONBF, 0);\n\tsetvbuf(stderr, NULL, _IONBF, 0);\n"
            f"\tgrade_argc = argc;\n\tgrade_argv = argv;\n"
            + RUN_RE.sub(r"GRADE_RUN(\1)", body) + "}\n")


def build_unit(binary):
    """(path of build/grade/unit/BINARY or None, why not, [its tests in order])."""
    body, order = test_main(binary)
    if not order:
        return None, f"tests/unit/test_{binary}.c has no main that RUNs tests", []
    src = BUILD / "unit" / f"{binary}.c"
    src.parent.mkdir(parents=True, exist_ok=True)
    text = unit_main(binary, body)
    if not src.exists() or src.read_text() != text:
        src.write_text(text)
    target = f"build/grade/unit/{binary}"
    ok, why = make([target], f"make-unit-{binary}.log")
    return (ROOT / target if ok else None), why, order


RESULT_RE = re.compile(r"^(ok|not ok) - (\w+)")
REPORT_RE = re.compile(r"ERROR: \w+Sanitizer|runtime error:|Sanitizer:DEADLYSIGNAL")


def crash_reason(status, out):
    """How a test binary ended in the middle of a test: its sanitizer's report, or the
    signal or status and the last lines it printed."""
    lines = out.rstrip("\n").split("\n")
    report = next((i for i, l in enumerate(lines) if REPORT_RE.search(l)), None)
    how = f"killed by signal {-status}" if status < 0 else f"ended with exit status {status}"
    if report is not None:  # from the line before the report's first to its SUMMARY line
        end = next((i for i in range(report, len(lines)) if lines[i].startswith("SUMMARY:")), report + 30)
        return f"{how} in this test:\n" + "\n".join(lines[max(0, report - 1):min(end + 1, report + 40)])
    return f"{how} in this test; its last output:\n{tail(out)}"


class UnitRun:
    """One run of a test binary, the tests in skip left out: which tests passed or failed,
    and the one it crashed or hung in (None: it ran to the end)."""

    def __init__(self, path, order, skip, timeout):
        self.results = {}  # test name: (PASS|FAIL, reason, seconds)
        self.stopped = None  # (name, TIMEOUT|FAIL, reason, seconds)
        self.todo = [t for t in order if t not in skip]
        proc = subprocess.Popen([str(path), *skip], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        out, since = "", time.monotonic()
        buf = b""
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, since + timeout - time.monotonic()))
            chunk = os.read(proc.stdout.fileno(), 65536) if ready else None
            if chunk is None:  # silent for too long: the test now running hangs
                kill_tree(proc.pid)
                proc.wait()
                self.stop(TIMEOUT, f"timed out after {timeout:g} s; its last output:\n{tail(out)}", since)
                return
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace")
                m = RESULT_RE.match(line)
                if m and self.todo and m.group(2) == self.todo[0]:
                    checks = [l for l in out.split("\n") if l.startswith("#")]
                    reason = "" if m.group(1) == "ok" else "\n".join(checks[:TAIL_LINES] + [line])
                    self.results[self.todo.pop(0)] = (PASS if m.group(1) == "ok" else FAIL, reason,
                                                      time.monotonic() - since)
                    out, since = "", time.monotonic()
                else:
                    out += line + "\n"
        status = proc.wait()
        out += buf.decode(errors="replace")
        if self.todo:  # ended before the rest had their lines: it died in the first of them
            self.stop(FAIL, crash_reason(status, out), since)

    def stop(self, status, reason, since):
        if self.todo:
            self.stopped = (self.todo[0], status, reason, time.monotonic() - since)


def run_unit_binary(grading, binary, checks):
    path, why, order = build_unit(binary)
    if path is None:
        for c in checks:
            grading.done(c, FAIL, f"build/grade/unit/{binary} does not build:\n{why}")
    else:
        settle_unit_checks(grading, path, order, checks)


def settle_unit_checks(grading, path, order, checks):
    """Run the binary as make unit would, then again without each test it crashed or hung in,
    until it runs to the end (at most once per test): the others keep their results."""
    wanted = {c.test: c for c in checks}
    skip = []
    for _ in range(len(order) + 1):
        if grading.out_of_time() or all(c.status for c in checks):
            break
        run = UnitRun(path, order, skip, UNIT_TIMEOUT)
        for name, (status, reason, seconds) in run.results.items():
            if name in wanted and not wanted[name].status:
                grading.done(wanted[name], status, reason, seconds)
        if run.stopped is None:
            break
        name, status, reason, seconds = run.stopped
        if name in wanted and not wanted[name].status:
            grading.done(wanted[name], status, reason, seconds)
        skip.append(name)
    for c in checks:
        if not c.status:
            grading.done(c, TIMEOUT if grading.out_of_time() else FAIL,
                         grading.budget_reason() if grading.out_of_time()
                         else f"{path.name} has no test {c.test}, or never reported it")


def run_unit_checks(grading, checks, jobs):
    by_binary = {}
    for c in checks:
        by_binary.setdefault(c.binary, []).append(c)
    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(lambda item: run_unit_binary(grading, *item), by_binary.items()))


# ---- QEMU checks: pytest with a limit per test, results as they come -------------------------

class PytestRun:
    """One pytest over some QEMU checks, watched: results are read from VNET_RESULTS as they
    are written, and a test that outlives its limit (or the budget) gets its pytest killed."""

    def __init__(self, grading, checks, verbose, root=ROOT, build=BUILD):
        self.grading, self.verbose, self.root = grading, verbose, root
        self.pending = {c.nodeid: c for c in checks}
        self.results = build / "pytest-results.jsonl"
        self.log_path = build / "pytest.log"
        self.basetemp = build / "pytest-tmp"
        self.current = None  # (check, monotonic start) of the test running now
        self.killed = []

    def argv(self):
        return [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(self.root),
                f"--basetemp={self.basetemp}",
                *shlex.split(os.environ.get("GRADE_PYTEST_ARGS", "")), *self.pending]

    def env(self):
        env = dict(os.environ, VNET_RESULTS=str(self.results),
                   VNET_TEST_TIMEOUTS=json.dumps({c.nodeid: c.timeout for c in self.pending.values()}))
        for var in ("VNET_KERNEL", "VNET_ISO", "VNET_TEST_TIMEOUT", "FULL"):  # this tree's, as listed
            env.pop(var, None)
        return env

    def run(self):
        """Run pytest over what is pending, until it ends or is killed."""
        for path in (self.results, self.log_path):
            path.unlink(missing_ok=True)
        self.results.touch()
        argv = self.argv()
        log("grade: " + " ".join(shlex.quote(a) for a in argv[:9]) + f" ... ({len(self.pending)} tests)",
            self.verbose)
        with open(self.log_path, "wb") as logf:
            proc = subprocess.Popen(argv, cwd=self.root, env=self.env(), stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        offsets = {"results": 0, "log": 0}
        idle_since = time.monotonic()
        while True:
            ended = proc.poll() is not None
            if self.read_results(offsets):
                idle_since = time.monotonic()
            self.echo_log(offsets)
            if ended:
                return
            why = self.overdue(idle_since)
            if why:
                self.kill(proc, why)
                return
            time.sleep(0.2)

    def read_results(self, offsets):
        """Take in the complete lines written since the last look; True if any."""
        with open(self.results, "rb") as f:
            f.seek(offsets["results"])
            data = f.read()
        end = data.rfind(b"\n") + 1
        offsets["results"] += end
        for line in data[:end].decode(errors="replace").splitlines():
            event = json.loads(line)
            check = self.pending.get(event["nodeid"])
            if check is None:
                continue
            if event["event"] == "start":
                self.current = (check, time.monotonic())
            else:
                del self.pending[check.nodeid]
                self.current = None
                self.grading.done(check, event["status"], event["reason"], event["seconds"])
        return end > 0

    def echo_log(self, offsets):
        if not self.verbose:
            return
        with open(self.log_path, "rb") as f:
            f.seek(offsets["log"])
            data = f.read()
        offsets["log"] += len(data)
        sys.stdout.write(data.decode(errors="replace"))
        sys.stdout.flush()

    def overdue(self, idle_since):
        """Why pytest must be stopped now, or None."""
        now = time.monotonic()
        if self.grading.out_of_time():
            return "budget"
        if self.current:
            check, started = self.current
            if now - started > check.timeout + KILL_GRACE:
                return "check"
        elif now - idle_since > PYTEST_IDLE:
            return "idle"
        return None

    def kill(self, proc, why):
        pids = kill_tree(proc.pid)
        proc.wait()
        self.killed += pids
        remove_namespaces(pids)
        if self.current:
            check, started = self.current
            del self.pending[check.nodeid]
            self.current = None
            if why == "budget":
                reason = (f"the time budget of {self.grading.budget:g} s for this grading ran out "
                          f"during this check")
            else:
                reason = (f"timed out after {check.timeout:g} s; the test did not stop at its limit, so "
                          f"its pytest was killed {KILL_GRACE} s later")
            console = self.last_console(started)
            self.grading.done(check, TIMEOUT, reason + (f"\n{console}" if console else ""),
                              time.monotonic() - started)
        log(f"grade: pytest stopped ({why}); {len(self.pending)} QEMU checks left", True)

    def last_console(self, since):
        """The last lines of the newest guest console log written during the check."""
        logs = [p for p in self.basetemp.rglob("*.serial.log")
                if p.stat().st_mtime >= time.time() - (time.monotonic() - since)]
        if not logs:
            return ""
        newest = max(logs, key=lambda p: p.stat().st_mtime)
        return f"--- {newest.name}, last lines ---\n" + tail(newest.read_text(errors="replace"), 12)


def remove_namespaces(pids):
    """Delete the network namespaces tests/qemu/netns.py made in the processes pids (named
    vnet-PID-N): a killed pytest never ran its teardown."""
    try:
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return
    mine = {str(p) for p in pids}
    for line in names.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(r"vnet-(\d+)-\d+", name)
        if m and m.group(1) in mine:
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30)


def run_qemu_checks(grading, checks, verbose, root=ROOT, build=BUILD):
    """Every QEMU check ends with a result: pytest again for those left after a kill (each
    round settles at least the check it was killed in, so at most len(checks) rounds)."""
    build.mkdir(parents=True, exist_ok=True)
    run = PytestRun(grading, checks, verbose, root, build)
    for _ in range(len(checks)):
        if not run.pending:
            return
        if grading.out_of_time():
            break
        before = len(run.pending)
        run.run()
        if len(run.pending) == before:
            break  # nothing settled this round: no point asking again
    text = run.log_path.read_text(errors="replace") if run.log_path.exists() else ""
    for check in list(run.pending.values()):
        if grading.out_of_time():
            grading.done(check, TIMEOUT, grading.budget_reason())
        else:
            grading.done(check, FAIL, "pytest gave no result for this check (it could not be collected "
                                      f"or pytest ended early); the end of pytest's output:\n{tail(text)}")


def grade(grading, verbose, jobs=1, qemu_timeout=None):
    checks = grading.checks = checks_of(grading.stages, qemu_timeout)
    grading.write_json()
    units = [c for c in checks if c.binary]
    qemu = [c for c in checks if not c.binary]
    run_unit_checks(grading, units, jobs)
    kill_strays()  # nothing the student's tests started lives on into the QEMU checks
    if not qemu:
        return
    kernel_ok, why = make(["build/kernel.elf"], "make-kernel.log", jobs)
    if not kernel_ok:
        print(f"grade: the kernel does not build; every QEMU check fails:\n{why}", flush=True)
        for c in qemu:
            grading.done(c, FAIL, f"the kernel does not build:\n{why}")
        return
    run_qemu_checks(grading, qemu, verbose)


# ---- the table -------------------------------------------------------------------------------

def n_checks(n):
    return f"{n} check" if n == 1 else f"{n} checks"


def by_reason(skipped):
    """[(reason, [check names])] in the order the reasons first appear."""
    groups = {}
    for s in skipped:
        groups.setdefault(s["reason"], []).append(s["name"])
    return list(groups.items())


def print_table(rows, checks=(), verbose=False):
    """The score table; with verbose, each check that did not pass is followed by its reason.
    The required stages and their total come first, then the optional stages and their own
    "optional" line. Returns the required (total, full)."""
    reasons = {c.name: c.reason for c in checks}

    def stage_rows(some):
        for r in some:
            print(f"{r['stage']:<6}{r['name']:<42}{r['checks']:>7}{r['passed']:>8}{len(r['skipped']):>9}"
                  f"{r['score']:>6}/{r['points']:<3}")
            for name in r["failed"]:
                print(f"{'':6}  failed: {name}")
                if verbose and reasons.get(name):
                    print("\n".join(f"{'':12}{line}" for line in reasons[name].split("\n")))
            for s in r["skipped"]:
                print(f"{'':6}  skipped: {s['name']}")

    total, full, optional, optional_full = totals(rows)
    print()
    print(f"{'stage':<6}{'what':<42}{'checks':>7}{'passed':>8}{'skipped':>9}{'score':>10}")
    required = [r for r in rows if not r.get("optional")]
    if required:
        stage_rows(required)
        print(f"{'total':<6}{'':<42}{'':>7}{'':>8}{'':>9}{total:>6}/{full:<3}")
    if len(required) < len(rows):
        stage_rows([r for r in rows if r.get("optional")])
        print(f"{'optional:':<9}{'':<39}{'':>7}{'':>8}{'':>9}{optional:>6}/{optional_full:<3}")
    skips = [r for r in rows if r["skipped"]]
    for r in skips:
        groups = by_reason(r["skipped"])
        end = f"score over the {r['ran']} that ran" if r["ran"] else "no check ran, so it scores 0"
        if len(groups) == 1:
            print(f"stage {r['stage']}: {n_checks(len(r['skipped']))} skipped ({groups[0][0]}), {end}")
        else:
            print(f"stage {r['stage']}: {n_checks(len(r['skipped']))} skipped, {end}:")
            for reason, names in groups:
                print(f"{'':9}{n_checks(len(names))} ({reason})")
    if skips:
        print("grade: a skipped check could not run on this machine; it counts neither as passed "
              "nor as failed")
    return total, full


def main():
    ap = argparse.ArgumentParser(description="grade the lab (LAB.md): a score per stage")
    ap.add_argument("--stage", type=int, action="append", help="grade only this stage (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="show pytest's output, and why each check failed")
    ap.add_argument("--json", help="write every check's result as JSON to this file (as they come)")
    ap.add_argument("--budget", type=float, help="seconds for the whole grading; checks not started "
                                                 "by then are timeouts")
    ap.add_argument("--timeout", type=float, help="seconds for each QEMU check, instead of its own")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="make -j, and unit checks at once")
    args = ap.parse_args()
    stages = [s for s in STAGES if not args.stage or s["n"] in args.stage]
    if not stages:
        sys.exit(f"grade: stages are {STAGES[0]['n']}..{STAGES[-1]['n']}")
    become_subreaper()
    print("grade: network: " + describe_wire()
          + ("" if have_tap() else "; the checks that need a kernel TAP are skipped"), flush=True)
    grading = Grading(stages, args.json, args.budget)
    grade(grading, args.verbose, args.jobs, args.timeout)
    rows = grading.rows()
    print_table(rows, grading.checks, args.verbose)
    total, full, optional, optional_full = totals(rows)
    # Full marks: every required stage graded; an optional stage counts only when asked for
    # by name (--stage 8), since a student who leaves it out has not failed anything.
    ok = total == full and (not args.stage or optional == optional_full)
    parts = ([f"{total}/{full} points"] if full else []) + ([f"optional: {optional}/{optional_full}"]
                                                             if optional_full else [])
    print(f"grade: {'; '.join(parts)} in {time.monotonic() - grading.start:.0f} s"
          + ("" if ok else " (LAB.md says what each stage needs; -v says why each failed)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
