"""
tests/qemu/test_run.py - `make run`'s launcher (tools/run.sh) with its default network.

run.sh puts the guest on a TAP inside a network namespace it makes for the run (without root,
inside the user namespace of tools/privnet.sh), prints how to reach the guest, and deletes the
namespace when QEMU ends. The test runs the printed commands to ping the guest and talk to its
UDP echo service inside that namespace (the only place the traffic can go), then checks the
namespace is gone. Where no TAP can be made, run.sh falls back to user networking + DHCP.
"""
import contextlib
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from guest import Guest
from wire import need_tap

ROOT = Path(__file__).resolve().parents[2]


def netns_exists(name):
    return name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def printed_command(log, what):
    """The command run.sh printed for `what` (e.g. "ping 10.0.2.15"), as an argv."""
    m = re.search(r"^run:   (.*) %s\s" % re.escape(what), log, re.M)
    assert m, f"run.sh printed no command for {what!r}:\n{log}"
    return shlex.split(m.group(1)) + what.split()


@pytest.mark.parametrize("userns", [False, True], ids=["as-is", "own-user-namespace"])
def test_run_sh_default_tap_in_a_namespace(tmp_path, userns):
    """make run's default: a TAP in a namespace of the run's own; the commands it prints reach
    the guest: `ip netns exec` as root, and nsenter into the run's user namespace where
    tools/privnet.sh had to make one (what an ordinary user gets; VNET_USERNS=1 forces it)."""
    need_tap("make run NET=tap")
    env = ["env", "-u", "NET", "-u", "VNET_PRIVNET", "-u", "VNET_NET", f"VNET_USERNS={int(userns)}"]
    g = Guest([*env, str(ROOT / "tools" / "run.sh")], tmp_path, name="run")
    ns = None
    try:
        m = g.wait_for(r"on tap0 in network namespace (vnet-run-\d+) \(host side 10\.0\.2\.2\)", timeout=30)
        ns = m.group(1)
        g.wait_for(r"net: ready ip=10\.0\.2\.15 ", timeout=30)
        ping = printed_command(g.log, "ping 10.0.2.15")
        assert ping[-6:-1] == ["ip", "netns", "exec", ns, "ping"], ping
        assert (ping[0] == "nsenter") == userns, ping
        ping = ping[:-1] + ["-c", "3", "-i", "0.2", "-W", "2", "10.0.2.15"]
        r = subprocess.run(ping, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "3 received" in r.stdout, r.stdout + r.stderr
        nc = printed_command(g.log, "nc -u 10.0.2.15 7")
        nc = nc[:-4] + ["/usr/bin/python3", "-c",
                        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                        "s.settimeout(5); s.sendto(b'hello run', ('10.0.2.15', 7)); "
                        "print(s.recv(100).decode())"]
        echo = subprocess.run(nc, capture_output=True, text=True, timeout=30)
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


def test_run_sh_without_a_tap(tmp_path):
    """Where no TAP can be made (tools/privnet.sh says VNET_NET=socket): the default falls back
    to user networking and says so; NET=tap asked for fails with the reason."""
    env = dict(os.environ, VNET_NET="socket", VNET_NET_WHY="no tun in this test", VNET_PRIVNET="none")
    env.pop("NET", None)
    r = subprocess.run([str(ROOT / "tools" / "run.sh")], env=dict(env, NET="tap"),
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "run: NET=tap: no TAP device can be made here: no tun in this test" in r.stderr
    g = Guest(["env", "-u", "NET", *[f"{k}={env[k]}" for k in ("VNET_NET", "VNET_NET_WHY", "VNET_PRIVNET")],
               str(ROOT / "tools" / "run.sh")], tmp_path, name="run-fallback")
    try:
        g.wait_for(r"net user, cmdline \"ip=dhcp\"", timeout=30)
        assert "run: no TAP device here, so QEMU's user-mode network instead (NET=user)" \
            in g.stderr_text()
        g.wait_for(r"dhcp: bound to 10\.0\.2\.15/24", timeout=60)
        g.send("exit")
        assert g.wait_exit(30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(g.pid, signal.SIGTERM)
        g.kill()


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


@contextlib.contextmanager
def run_sh(tmp_path, name, *env):
    """tools/run.sh with env (NAME=VALUE ...) as a Guest; its process group killed at the end."""
    g = Guest(["env", *env, str(ROOT / "tools" / "run.sh")], tmp_path, name=name)
    try:
        yield g
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(g.pid, signal.SIGTERM)
        g.kill()


def test_run_sh_migrate_to_file_and_incoming(tmp_path):
    """docs/migration.md's recipe with make run: in the monitor (Ctrl-A c), migrate the running
    guest to a file and quit; `INCOMING=file` starts a new QEMU that takes it from there. The
    restored guest is asked by its device to announce itself (GUEST_ANNOUNCE), confirms its DHCP
    lease, and its shell answers."""
    state = tmp_path / "guest.state"
    with run_sh(tmp_path, "run-save", "NET=user") as g:
        g.wait_for(r"dhcp: bound to 10\.0\.2\.15/24", timeout=60)
        g.send_raw("\x01c")  # to the monitor
        g.wait_for(r"\(qemu\) ", timeout=10)
        g.send(f'migrate "exec:cat > {state}"')
        g.wait_for(r"\(qemu\) ", timeout=60)  # the HMP migrate waits for the end
        g.send("info migrate")
        g.wait_for(r"Migration status: completed", timeout=30)
        g.send("quit")
        g.wait_exit(30)
    assert state.stat().st_size > 0
    with run_sh(tmp_path, "run-incoming", "NET=user", f"INCOMING={state}") as g:
        g.wait_for(rf"run: the guest comes from {re.escape(str(state))}", timeout=30)
        g.wait_for(r"eth0: the device asks us to announce ourselves", timeout=30)
        g.wait_for(r"dhcp: moved to another host; confirming 10\.0\.2\.15 \(INIT-REBOOT\)", timeout=30)
        g.send("")
        out = g.cmd("netstat")
        assert re.search(r"ctrl_failed 0 .*announces [1-9]", out), out
        g.send("exit")
        assert g.wait_exit(30) == 0
