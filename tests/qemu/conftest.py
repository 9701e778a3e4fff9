"""
tests/qemu/conftest.py - pytest glue for the QEMU tests: the `boot` fixture.

    def test_something(boot):
        g = boot(append="exit=3", machine="pc", memory=128,
                 devices=["virtio-net-pci,netdev=n0"], netdev=["user,id=n0"])
        g.wait_ready()                 # "ready: boot complete in N ms", then the prompt
        out = g.cmd("mem")             # output between the echoed line and the next prompt
        g.send("exit 3"); assert g.wait_exit() == 7

boot(...) arguments (all optional):
    append    kernel command line (-append); not with iso=True
    machine   "pc" or "q35"                memory   MiB (-m)
    devices   ["-device" values]           netdev   ["-netdev" values]
    iso       True: boot build/kernel.iso through GRUB (-cdrom) instead of -kernel
    extra     more QEMU arguments          accel    default $ACCEL or "tcg"
    kernel    another ELF than build/kernel.elf ($VNET_KERNEL overrides the default)
    netns     run QEMU inside this network namespace (tests/qemu/netns.py NetNS, or any
              object whose cmd_prefix() gives the command that enters it), for TAP netdevs
The Guest API is in tests/qemu/guest.py.

Shared helpers, each defined once: guest.py (Guest, qemu_argv, nic(), GUEST_MAC), wire.py
(open_link, make_frame, Wire, Pump), counters.py (parse_counters, netstat(), inetstat()),
netns.py, fakehost.py, vhost_user_dev.py (a misbehaving device). tests/qemu is a directory of
plain modules, no __init__.py: pytest puts it on sys.path (its rootdir/conftest import mode)
and they import each other by bare name (`from wire import open_link`); a tool outside
(tools/bench/bench.py) puts the same directory on sys.path and imports them the same way.

Tests marked @pytest.mark.full belong to `make test-full` (FULL=1): without it they are not
collected at all (deselected, not skipped: a skip in `make test` means the machine lacks
something, and says what).

Each guest gets a serial log and a QEMU stderr file in the test's tmp_path. When a test fails,
its guests' command lines, serial logs and stderr are added to the report. Teardown kills
every guest the test started, by PID, whatever happened.

For make grade (tools/lab/grade.py), two switches in the environment, off unless set:
    VNET_TEST_TIMEOUT=S    each test's setup and body get S seconds (VNET_TEST_TIMEOUTS, a JSON
                           object {node id: seconds}, overrides it per test). When they run
                           out, CheckTimeout is raised in the test where it stands, so its
                           finally blocks and teardown still kill QEMU and delete namespaces.
    VNET_RESULTS=FILE      one JSON line appended when each test starts and one when it ends,
                           {"event": "end", "nodeid", "status": pass|fail|skip|timeout,
                           "reason", "seconds"}: what ran survives a pytest that is killed.
"""
import json
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest

from guest import Guest, qemu_argv

ROOT = Path(__file__).resolve().parents[2]
KERNEL = Path(os.environ.get("VNET_KERNEL", ROOT / "build" / "kernel.elf"))
ISO = Path(os.environ.get("VNET_ISO", ROOT / "build" / "kernel.iso"))
REPORT_LOG_CHARS = 16384  # per guest, in a failure report; the whole log stays in the file


def pytest_configure(config):
    config.addinivalue_line("markers", "full: part of make test-full (FULL=1) only")
    # A helper thread that dies (the fake host's reader, a pump) fails the test it ran under,
    # instead of a warning at the end while the test fails later for a reason that hides it.
    config.addinivalue_line("filterwarnings", "error::pytest.PytestUnhandledThreadExceptionWarning")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("FULL") == "1":
        return
    full = [item for item in items if item.get_closest_marker("full")]
    if full:
        config.hook.pytest_deselected(items=full)
        items[:] = [item for item in items if not item.get_closest_marker("full")]


@pytest.fixture
def boot(request, tmp_path):
    guests = []
    request.node._vnet_guests = guests

    def start(append=None, machine="pc", memory=128, devices=(), netdev=(), iso=False,
              extra=(), accel=None, kernel=None, netns=None):
        image = ISO if iso else Path(kernel or KERNEL)
        if not image.is_file():
            hint = "make iso" if iso else "make"
            if iso:
                pytest.skip(f"{image} is not built (run '{hint}'; make test builds it)")
            pytest.fail(f"{image} is not built: run '{hint}' first", pytrace=False)
        # unix socket paths are limited to 107 bytes, so the monitor lives in a short dir.
        sockdir = tempfile.mkdtemp(prefix="vnet-mon-")
        mon = os.path.join(sockdir, "mon.sock")
        argv = qemu_argv(kernel=None if iso else image, iso=image if iso else None,
                         append=append, machine=machine, memory=memory,
                         accel=accel or os.environ.get("ACCEL", "tcg"), devices=devices,
                         netdev=netdev, extra=extra, monitor_path=mon)
        if netns is not None:
            argv = list(netns.cmd_prefix()) + argv  # "ip netns exec" execs: same PID
        g = Guest(argv, tmp_path, name=f"qemu{len(guests)}", sockdir=sockdir, monitor_path=mon)
        guests.append(g)
        return g

    yield start
    for g in guests:
        g.kill()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    _note_phase(item, call, rep)
    guests = getattr(item, "_vnet_guests", None)
    if not rep.failed or not guests or getattr(item, "_vnet_reported", False):
        return
    item._vnet_reported = True  # a failure in call and again in teardown: report once
    for g in guests:
        status = g.returncode
        state = "still running" if status is None else f"exit status {status}"
        rep.sections.append((f"{g.name} command ({state})", " ".join(g.argv)))
        log = g.log
        if len(log) > REPORT_LOG_CHARS:
            log = f"[... {len(log) - REPORT_LOG_CHARS} characters before this; " \
                  f"whole log in {g.serial_path}]\n" + log[-REPORT_LOG_CHARS:]
        rep.sections.append((f"{g.name} serial console", log))
        err = g.stderr_text()
        if err.strip():
            rep.sections.append((f"{g.name} QEMU stderr", err[-REPORT_LOG_CHARS:]))


# ---- make grade: a time limit per test, and each result written down as it comes ----------

SERIAL_TAIL_LINES = 12  # of each guest's console, in a failure's reason
REASON_CHARS = 1500  # of the exception's text, in a failure's reason


class CheckTimeout(Exception):
    """Raised by SIGALRM in the running test; pytest reports it as the test's failure. An
    Exception, so that the `except Exception: close(); raise` of the helpers (netns.py,
    wire.py, test_stack.py) still tears down what was half made. A test that swallowed it
    would run on until tools/lab/grade.py kills its pytest."""


def _time_limit(item):
    per_test = json.loads(os.environ.get("VNET_TEST_TIMEOUTS") or "{}")
    limit = per_test.get(item.nodeid, os.environ.get("VNET_TEST_TIMEOUT"))
    return float(limit) if limit else None


def _record(event):
    path = os.environ.get("VNET_RESULTS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(event) + "\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    item._vnet_start = time.monotonic()
    item._vnet_phases = []
    _record({"event": "start", "nodeid": item.nodeid})
    limit = _time_limit(item)
    if limit:
        def expired(signum, frame):
            item._vnet_timed_out = True
            raise CheckTimeout(f"timed out after {limit:g} s (in {item.nodeid})")
        signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, limit)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)  # not in pytest's own code between the phases


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    signal.setitimer(signal.ITIMER_REAL, 0)  # a setup that failed has no call phase
    yield


def _guests_of(item):
    """The test's guests: those of the boot fixture, and any a fixture holds (as itself or
    as its .g, like test_stack's module guest)."""
    found = list(getattr(item, "_vnet_guests", []))
    for value in getattr(item, "funcargs", {}).values():
        for g in (value, getattr(value, "g", None)):
            if isinstance(g, Guest) and g not in found:
                found.append(g)
    return found


def _shorten(text, limit=REASON_CHARS):
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters ...]\n{text[-half:]}"


def _failure_reason(item, call):
    """The exception in a few lines, then the last lines of each guest's console."""
    if call.excinfo is None:
        text = "failed"
    elif isinstance(call.excinfo.value, CheckTimeout):
        text = str(call.excinfo.value)
    else:
        text = call.excinfo.exconly()
    parts = [_shorten(text.strip())]
    for g in _guests_of(item):
        lines = g.log.rstrip("\n").split("\n")[-SERIAL_TAIL_LINES:]
        parts.append(f"--- {g.name} serial console, last {len(lines)} lines ---\n" + "\n".join(lines))
    return "\n".join(parts)


def _note_phase(item, call, rep):
    """Note each phase's outcome; after teardown, write the test's result (VNET_RESULTS)."""
    phases = getattr(item, "_vnet_phases", None)
    if phases is None:
        return
    if rep.skipped:
        why = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        phases.append(("skip", why.removeprefix("Skipped: ")))
    elif rep.failed:
        timed_out = call.excinfo is not None and isinstance(call.excinfo.value, CheckTimeout) \
            and getattr(item, "_vnet_timed_out", False)
        phases.append(("timeout" if timed_out else "fail", _failure_reason(item, call)))
    if call.when != "teardown":
        return
    status, reason = "pass", ""
    for kind in ("timeout", "fail", "skip"):  # the worst phase decides
        found = [why for k, why in phases if k == kind]
        if found:
            status, reason = kind, "\n".join(found)
            break
    _record({"event": "end", "nodeid": item.nodeid, "status": status, "reason": reason,
             "seconds": round(time.monotonic() - item._vnet_start, 2)})
