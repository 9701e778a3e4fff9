#!/usr/bin/python3
"""
tools/runtests.py - run the unit-test binaries, then the QEMU tests, and add it all up.

    tools/runtests.py [--unit-only] [-v] [--extra "COMMAND"]... build/unit/NAME...

Each unit binary prints "ok - test" / "not ok - test" lines and a closing
"<name>: N passed, N failed" (tests/unit/unit.h). A binary that dies before its closing line
(a sanitizer report, a crash) or whose exit status disagrees with its count is a failure.
--extra commands (the bounded fuzz run) are run by the shell and read the same way. Binaries and
commands run side by side, one per CPU ($RUNTESTS_JOBS to change that), reported in order.
Then, unless --unit-only, pytest runs tests/qemu (extra pytest arguments from $PYTEST_ARGS,
e.g. PYTEST_ARGS="-k crash -x"), one worker per CPU with pytest-xdist ($PYTEST_JOBS=1: one at a
time), and its JUnit XML (build/pytest.xml) is read for the counts.

The last line is always "N passed, N failed, N skipped" over every unit test and pytest test
(with "(N of them expected failures)" when pytest xfailed some; a test marked xfail that passes
is a failure: xfail_strict); above it, each skipped test with its reason (a unit-style command
reports one as a "skip - name: reason" line: the fuzz run without clang), and the wire the
network tests had (a TAP, or the unix-socket wire of tools/privnet.sh with the reason no TAP could be made). pytest's "no tests
collected" (exit status 5) is a failure. Exit status: 0 only if nothing failed and something ran.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "qemu"))  # for the wire's one description (wire.py)
from wire import describe as describe_wire  # noqa: E402
PYTHON = "/usr/bin/python3"  # Debian's, which has pytest; not whatever python3 is on PATH
JUNIT = ROOT / "build" / "pytest.xml"
UNIT_TIMEOUT = 300

RESULT_RE = re.compile(r"^(not ok|ok|skip) - (.*)$")
SUMMARY_RE = re.compile(r"(\d+) passed, (\d+) failed\s*$")


class Tally:
    def __init__(self):
        self.passed = self.failed = 0
        self.failures = []  # "suite: name" of each failure, for the end
        self.skips = []  # "suite: name: reason" of each skip


def execute(path, shell=False):
    """Run one unit binary, or one "NAME: COMMAND" shell command; (name, output, exit status or
    None when it could not run or was killed, seconds)."""
    if shell:  # "NAME: COMMAND"
        name, _, path = path.partition(": ")
    else:
        name = Path(path).name
    start = time.monotonic()
    try:
        proc = subprocess.run(path if shell else [str(path)], cwd=ROOT, capture_output=True,
                              text=True, errors="replace", timeout=UNIT_TIMEOUT, shell=shell)
        out, status = proc.stdout + proc.stderr, proc.returncode
    except FileNotFoundError:
        out, status = f"{path}: not found (was it built?)\n", None
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        out += f"\n{path}: killed after {UNIT_TIMEOUT} s\n"
        status = None
    return name, out, status, time.monotonic() - start


def account(name, out, status, elapsed, tally, verbose):
    """Count what one binary or command printed into tally and report it in a line."""
    ok, bad, skipped = [], [], []
    for line in out.splitlines():
        m = RESULT_RE.match(line)
        if m:
            {"ok": ok, "not ok": bad, "skip": skipped}[m.group(1)].append(m.group(2))
    summary = None
    for line in out.splitlines():
        m = SUMMARY_RE.search(line)
        if m and not RESULT_RE.match(line):
            summary = (int(m.group(1)), int(m.group(2)))

    passed, failed = len(ok), len(bad)
    problem = None
    if summary is None:
        problem = "ended without its summary line" + (f" (exit status {status})"
                                                      if status is not None else "")
    elif summary != (passed, failed):
        problem = f"summary says {summary[0]} passed, {summary[1]} failed, " \
                  f"but printed {passed} ok and {failed} not ok lines"
    elif status != 0 and failed == 0:
        problem = f"exit status {status} although every test passed"
    elif status == 0 and failed:
        problem = "exit status 0 although tests failed"
    elif passed + failed == 0 and not skipped:
        problem = "ran no tests"
    if problem:
        failed += 1
        bad.append(f"({problem})")

    tally.passed += passed
    tally.failed += failed
    tally.failures += [f"unit/{name}: {b}" for b in bad]
    tally.skips += [f"unit/{name}: {s}" for s in skipped]
    print(f"unit/{name}: {passed} passed, {failed} failed"
          + (f", {len(skipped)} skipped" if skipped else "") + f" ({elapsed:.1f} s)")
    if bad or verbose:
        for line in out.splitlines():
            if verbose or not line.startswith("ok - "):
                print(f"    {line}")
    sys.stdout.flush()


def count_junit(path):
    """(passed, failed, skipped ids with reasons, failed test ids) from pytest's JUnit XML."""
    passed = failed = 0
    names, skipped = [], []
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        if tags & {"failure", "error"}:
            failed += 1
            names.append(test_id)
        elif "skipped" in tags:
            sk = case.find("skipped")
            reason = sk.get("message", "")
            # an expected failure (pytest.mark.xfail) is a skip of its own type in the XML
            prefix = "xfail: " if sk.get("type") == "pytest.xfail" else ""
            skipped.append(f"{prefix}{test_id}: {reason}")
        else:
            passed += 1
    return passed, failed, skipped, names


def pytest_jobs():
    """pytest-xdist's options: one worker per CPU ($PYTEST_JOBS), each test file whole on one
    worker (--dist loadfile: a file's module fixtures, such as its booted guest, stay shared).
    The tests are independent (each makes its own namespaces, QEMUs and temporary files) and
    mostly wait on their guests, so two workers on two CPUs take about 60% of the serial time.
    Without python3-pytest-xdist (tools/deps.sh test installs it) they run one after another."""
    jobs = int(os.environ.get("PYTEST_JOBS") or os.cpu_count() or 1)
    if jobs <= 1:
        return []
    try:
        import xdist  # noqa: F401  (only to know that pytest has it)
    except ImportError:
        print("pytest: python3-pytest-xdist is not installed: the QEMU tests run one at a time", flush=True)
        return []
    return ["-n", str(jobs), "--dist", "loadfile"]


def run_pytest(tally):
    JUNIT.parent.mkdir(parents=True, exist_ok=True)
    try:
        JUNIT.unlink()
    except FileNotFoundError:
        pass
    # xfail_strict: a test marked as expected to fail that passes is a failure, not a pass
    argv = [PYTHON, "-m", "pytest", "tests/qemu", "-q", "-p", "no:cacheprovider", "-o", "xfail_strict=true",
            f"--junitxml={JUNIT}"] + pytest_jobs() + shlex.split(os.environ.get("PYTEST_ARGS", ""))
    print("pytest: " + " ".join(shlex.quote(a) for a in argv), flush=True)
    print("pytest: network tests on " + describe_wire(), flush=True)
    start = time.monotonic()
    status = subprocess.call(argv, cwd=ROOT)
    elapsed = time.monotonic() - start

    if JUNIT.exists():
        passed, failed, skipped, names = count_junit(JUNIT)
    else:
        passed = failed = 0
        names, skipped = [], []
    if status == 5:
        failed += 1
        names.append("(pytest collected no tests)")
    elif status != 0 and failed == 0:
        # interrupted, a usage or internal error, or failures the XML does not show
        failed += 1
        names.append(f"(pytest exited with status {status})")
    tally.passed += passed
    tally.failed += failed
    tally.skips += [f"pytest: {n}" for n in skipped]
    tally.failures += [f"pytest: {n}" for n in names]
    print(f"pytest: {passed} passed, {failed} failed, {len(skipped)} skipped ({elapsed:.1f} s)",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip())
    ap.add_argument("--unit-only", action="store_true", help="skip the QEMU tests")
    ap.add_argument("-v", "--verbose", action="store_true", help="show every unit test line")
    ap.add_argument("--extra", action="append", default=[],
                    help='"NAME: COMMAND", a shell command that reports like a unit binary (the fuzz run)')
    ap.add_argument("unit_bins", nargs="*", help="unit-test binaries (build/unit/NAME)")
    args = ap.parse_args()

    tally = Tally()
    # The binaries and commands are independent (each unit test simulates its own device and
    # clock; the fuzz runs are bounded in time, not in count), so they run side by side, one per
    # CPU; their reports come out in the order given. The QEMU tests come after, alone.
    jobs = int(os.environ.get("RUNTESTS_JOBS") or os.cpu_count() or 1)
    specs = [(c, True) for c in args.extra] + [(p, False) for p in args.unit_bins]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = list(pool.map(lambda spec: execute(*spec), specs))
    for shell in (False, True):  # unit binaries first, as listed, then the extra commands
        for (_, is_shell), result in zip(specs, done):
            if is_shell == shell:
                account(*result, tally, args.verbose)
    if not args.unit_only:
        run_pytest(tally)

    if tally.failures:
        print("failed:")
        for f in tally.failures:
            print(f"    {f}")
    if tally.skips:
        print("skipped:")
        for s in tally.skips:
            print(f"    {s}")
    if tally.passed + tally.failed == 0:
        print("runtests: no test ran", file=sys.stderr)
    xfails = sum(1 for s in tally.skips if s.startswith("pytest: xfail: "))
    print(f"{tally.passed} passed, {tally.failed} failed, {len(tally.skips)} skipped"
          + (f" ({xfails} of them expected failures)" if xfails else ""), flush=True)
    return 1 if tally.failed or tally.passed + tally.failed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
