#!/usr/bin/python3
"""
tools/lab/grade.py - `make grade`: run each stage's tests (LAB.md) and print a score table.

    tools/lab/grade.py                  every stage
    tools/lab/grade.py --stage 2 -v     one stage, with each check's result
    tools/lab/grade.py --json FILE      also write the scores as JSON (used by tests)

A stage's checks are host unit tests (by binary and test name, from tests/unit/) and QEMU
tests (pytest node ids, from tests/qemu/). Each check passes, fails or is skipped: a QEMU test
skips only when this machine cannot run it (no kernel TAP device on the socket wire of
tools/privnet.sh, a missing tool), and says why. A stage earns its points in proportion to the
checks that passed among those that ran; the skipped ones are listed with their reasons and
count neither way. The kernel and unit binaries are built first; one that does not build
fails its checks, and a check pytest reports nothing for fails. Exit status 0 only with full
marks.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "qemu"))  # for the wire's one description (wire.py)
from wire import describe as describe_wire, have_tap  # noqa: E402
PYTHON = "/usr/bin/python3"
BUILD = ROOT / "build" / "grade"
UNIT_TIMEOUT = 120
PYTEST_TIMEOUT = 1800

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
        "n": 2, "name": "virtqueue add/get", "points": 20,
        "unit": {RING: ["test_chain_out_in", "test_add_outbuf_inbuf", "test_indirect", "test_queue_full",
                        "test_detach_after_reset", "test_vring_reset", "test_notify_failure",
                        "test_hostile_id_out_of_range", "test_hostile_id_not_in_flight",
                        "test_hostile_len_too_big", "test_hostile_double_completion",
                        "test_hostile_used_idx", "test_hostile_random", "test_hostile_desc_scribble"]},
        "pytest": ["tests/qemu/test_lab.py::test_stage2_receive_ring_filled"],
    },
    {
        "n": 3, "name": "interrupts", "points": 15,
        "unit": {RING: ["test_interrupt_no_event_idx", "test_vring_interrupt"]},
        "pytest": ["tests/qemu/test_lab.py::test_stage3_receive_interrupt[msix]",
                   "tests/qemu/test_lab.py::test_stage3_receive_interrupt[intx]",
                   "tests/qemu/test_virtio.py::test_intx_interrupts_are_acknowledged_through_isr"],
    },
    {
        "n": 4, "name": "receive and transmit", "points": 20,
        "unit": {},
        "pytest": ["tests/qemu/test_net.py::test_frames_both_ways[transitional-msix]",
                   "tests/qemu/test_net.py::test_frames_both_ways[legacy-intx]",
                   "tests/qemu/test_net.py::test_frames_both_ways[no-mrg-rxbuf]",
                   "tests/qemu/test_net.py::test_frames_both_ways[merge-small-buffers]",
                   "tests/qemu/test_net.py::test_stall_fills_the_ring_then_recovers"],
    },
    {
        "n": 5, "name": "ARP, IPv4, ICMP, UDP", "points": 20,
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
        "n": 6, "name": "performance: fewer kicks and interrupts", "points": 10,
        "unit": {RING: ["test_kick_no_event_idx", "test_kick_event_idx", "test_kick_saturation",
                        "test_interrupt_event_idx"]},
        "pytest": ["tests/qemu/test_lab.py::test_stage6_kicks_and_interrupts_per_packet"],
    },
]

RESULT_RE = re.compile(r"^(not ok|ok) - (\S+)")


def log(msg, verbose=True):
    if verbose:
        print(msg, flush=True)


def make(targets, logname):
    """Build targets; returns (ok, tail of the log)."""
    BUILD.mkdir(parents=True, exist_ok=True)
    path = BUILD / logname
    with open(path, "w") as f:
        rc = subprocess.call(["make", "--no-print-directory", *targets], cwd=ROOT, stdout=f,
                             stderr=subprocess.STDOUT)
    text = path.read_text(errors="replace")
    return rc == 0, "\n".join(text.splitlines()[-15:])


def run_unit(binary):
    """{test name: passed} for one unit binary (built on demand)."""
    ok, tail = make([f"build/unit/{binary}"], f"make-{binary}.log")
    if not ok:
        print(f"grade: build/unit/{binary} does not build:\n{tail}", flush=True)
        return {}
    try:
        p = subprocess.run([str(ROOT / "build" / "unit" / binary)], cwd=ROOT, capture_output=True,
                           text=True, errors="replace", timeout=UNIT_TIMEOUT)
        out = p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    results = {}
    for line in out.splitlines():
        m = RESULT_RE.match(line)
        if m:
            results[m.group(2)] = m.group(1) == "ok"
    return results


PASS, FAIL, SKIP = "pass", "fail", "skip"


def outcome(case):
    """(PASS|FAIL|SKIP, reason) of one JUnit <testcase>: the reason is a skip's message."""
    for child in case:
        if child.tag in ("failure", "error"):
            return FAIL, ""
    for child in case:
        if child.tag == "skipped":
            return SKIP, (child.get("message") or child.text or "no reason given").strip()
    return PASS, ""


def run_pytest(node_ids, verbose):
    """{node id: (PASS|FAIL|SKIP, skip reason)} for the QEMU tests."""
    if not node_ids:
        return {}
    xml = BUILD / "pytest.xml"
    try:
        xml.unlink()
    except FileNotFoundError:
        pass
    argv = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
            *shlex.split(os.environ.get("GRADE_PYTEST_ARGS", "")), *node_ids]
    log("grade: " + " ".join(shlex.quote(a) for a in argv[:8]) + f" ... ({len(node_ids)} tests)", verbose)
    out = None if verbose else subprocess.DEVNULL
    try:
        subprocess.run(argv, cwd=ROOT, stdout=out, stderr=out, timeout=PYTEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        print("grade: the QEMU tests ran out of time", flush=True)
    return read_junit(xml, node_ids) if xml.exists() else {}


def read_junit(xml, node_ids):
    """{node id: (PASS|FAIL|SKIP, skip reason)} from pytest's JUnit XML, for node_ids."""
    results = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/")
        name = case.get("name", "")
        for nid in node_ids:
            file, _, test = nid.partition("::")
            if file.endswith(path.split("/")[-1] + ".py") and test == name:
                results[nid] = outcome(case)
    return results


def grade(stages, verbose):
    kernel_ok, tail = make(["build/kernel.elf"], "make-kernel.log")
    if not kernel_ok:
        print(f"grade: the kernel does not build; every QEMU check fails:\n{tail}", flush=True)
    unit_results = {}
    for st in stages:
        for binary in st["unit"]:
            if binary not in unit_results:
                unit_results[binary] = run_unit(binary)
    node_ids = [n for st in stages for n in st["pytest"]]
    py_results = run_pytest(node_ids, verbose) if kernel_ok else {}
    return score_rows(stages, unit_results, py_results)


def score_rows(stages, unit_results, py_results):
    """The table's rows from {binary: {test: passed}} and {node id: (result, skip reason)}:
    a stage scores in proportion to the checks passed among those that ran."""
    no_result = (FAIL, "")
    rows = []
    for st in stages:
        checks = [(f"unit/{b}: {t}", (PASS, "") if unit_results.get(b, {}).get(t) else no_result)
                  for b, names in st["unit"].items() for t in names]
        checks += [(n, py_results.get(n, no_result)) for n in st["pytest"]]
        passed = sum(res == PASS for _, (res, _) in checks)
        skipped = [{"name": name, "reason": why} for name, (res, why) in checks if res == SKIP]
        ran = len(checks) - len(skipped)
        score = st["points"] * passed // ran if ran else 0  # over the checks that ran
        rows.append({"stage": st["n"], "name": st["name"], "checks": len(checks), "passed": passed,
                     "ran": ran, "points": st["points"], "score": score,
                     "failed": [name for name, (res, _) in checks if res == FAIL],
                     "skipped": skipped})
    return rows


def n_checks(n):
    return f"{n} check" if n == 1 else f"{n} checks"


def by_reason(skipped):
    """[(reason, [check names])] in the order the reasons first appear."""
    groups = {}
    for s in skipped:
        groups.setdefault(s["reason"], []).append(s["name"])
    return list(groups.items())


def print_table(rows, verbose):
    print()
    print(f"{'stage':<6}{'what':<42}{'checks':>7}{'passed':>8}{'skipped':>9}{'score':>10}")
    for r in rows:
        print(f"{r['stage']:<6}{r['name']:<42}{r['checks']:>7}{r['passed']:>8}{len(r['skipped']):>9}"
              f"{r['score']:>6}/{r['points']:<3}")
        for name in r["failed"]:
            print(f"{'':6}  failed: {name}")
        for s in r["skipped"]:
            print(f"{'':6}  skipped: {s['name']}")
    total, full = sum(r["score"] for r in rows), sum(r["points"] for r in rows)
    print(f"{'total':<6}{'':<42}{'':>7}{'':>8}{'':>9}{total:>6}/{full:<3}")
    skips = [r for r in rows if r["skipped"]]
    for r in skips:
        groups = by_reason(r["skipped"])
        tail = f"score over the {r['ran']} that ran" if r["ran"] else "no check ran, so it scores 0"
        if len(groups) == 1:
            print(f"stage {r['stage']}: {n_checks(len(r['skipped']))} skipped ({groups[0][0]}), {tail}")
        else:
            print(f"stage {r['stage']}: {n_checks(len(r['skipped']))} skipped, {tail}:")
            for reason, names in groups:
                print(f"{'':9}{n_checks(len(names))} ({reason})")
    if skips:
        print("grade: a skipped check could not run on this machine; it counts neither as passed "
              "nor as failed")
    return total, full


def main():
    ap = argparse.ArgumentParser(description="grade the lab (LAB.md): a score per stage")
    ap.add_argument("--stage", type=int, action="append", help="grade only this stage (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show pytest's output and every check")
    ap.add_argument("--json", help="write the table as JSON to this file")
    args = ap.parse_args()
    stages = [s for s in STAGES if not args.stage or s["n"] in args.stage]
    if not stages:
        sys.exit("grade: stages are 1..6")
    start = time.monotonic()
    print("grade: network: " + describe_wire()
          + ("" if have_tap() else "; the checks that need a kernel TAP are skipped"), flush=True)
    rows = grade(stages, args.verbose)
    total, full = print_table(rows, args.verbose)
    print(f"grade: {total}/{full} points in {time.monotonic() - start:.0f} s"
          + ("" if total == full else " (LAB.md says what each stage needs)"))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "total": total, "full": full,
                                               "net": os.environ.get("VNET_NET", ""),
                                               "net_why": os.environ.get("VNET_NET_WHY", "")},
                                              indent=1))
    return 0 if total == full else 1


if __name__ == "__main__":
    sys.exit(main())
