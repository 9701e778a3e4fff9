"""
tests/qemu/test_run.py - `make run`'s launcher (tools/run.sh) with its default network.

As root, run.sh puts the guest on a TAP inside a network namespace it makes for the run, prints
how to reach the guest, and deletes the namespace when QEMU ends. The test pings the guest and
talks to its UDP echo service from inside that namespace (the only place the traffic can go),
then checks the namespace is gone. Without root, run.sh falls back to user networking + DHCP.
"""
import contextlib
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from guest import Guest

ROOT = Path(__file__).resolve().parents[2]


def netns_exists(name):
    return name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="NET=tap needs root")
def test_run_sh_default_tap_in_a_namespace(tmp_path):
    g = Guest(["env", "-u", "NET", str(ROOT / "tools" / "run.sh")], tmp_path, name="run")
    ns = None
    try:
        m = g.wait_for(r"on tap0 in network namespace (vnet-run-\d+) \(host side 10\.0\.2\.2\)", timeout=30)
        ns = m.group(1)
        g.wait_for(r"net: ready ip=10\.0\.2\.15 ", timeout=30)
        assert f"ip netns exec {ns} ping 10.0.2.15" in g.log
        ping = subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "2",
                               "10.0.2.15"], capture_output=True, text=True, timeout=30)
        assert ping.returncode == 0 and "3 received" in ping.stdout, ping.stdout + ping.stderr
        echo = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
                               "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                               "s.settimeout(5); s.sendto(b'hello run', ('10.0.2.15', 7)); "
                               "print(s.recv(100).decode())"],
                              capture_output=True, text=True, timeout=30)
        assert echo.stdout.strip() == "hello run", echo.stdout + echo.stderr
        g.cmd("uptime")
        g.send("exit 0")
        assert g.wait_exit(30) == 0
        assert "run: guest exit code 0 (QEMU status 1)" in g.log
        assert not netns_exists(ns), f"{ns} outlived the run"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(g.pid, signal.SIGTERM)
        g.kill()
        if ns and netns_exists(ns):
            subprocess.run(["ip", "netns", "delete", ns])


def test_run_sh_user_network_takes_dhcp(tmp_path):
    g = Guest(["env", "NET=user", str(ROOT / "tools" / "run.sh")], tmp_path, name="run-user")
    try:
        g.wait_for(r"net user, cmdline \"ip=dhcp\"", timeout=30)
        g.wait_for(r"dhcp: bound to 10\.0\.2\.15/24 gw 10\.0\.2\.2", timeout=60)
        g.send("exit")  # the prompt came before the dhcp lines: the shell is listening
        assert g.wait_exit(30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(g.pid, signal.SIGTERM)
        g.kill()
