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
"""
import os
import tempfile
from pathlib import Path

import pytest

from guest import Guest, qemu_argv

ROOT = Path(__file__).resolve().parents[2]
KERNEL = Path(os.environ.get("VNET_KERNEL", ROOT / "build" / "kernel.elf"))
ISO = Path(os.environ.get("VNET_ISO", ROOT / "build" / "kernel.iso"))
REPORT_LOG_CHARS = 16384  # per guest, in a failure report; the whole log stays in the file


def pytest_configure(config):
    config.addinivalue_line("markers", "full: part of make test-full (FULL=1) only")


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
