"""
tests/qemu/test_privnet.py - tools/privnet.sh, the way into a private network without root.

  - with a user namespace (VNET_USERNS=1 asks for one even as root): the command is uid 0 of
    a namespace whose only network device is a loopback, may add network namespaces and TAPs
    there, and learns VNET_NET=tap, VNET_PRIVNET=userns and its own PID as VNET_USERNS_PID;
    nothing it made outlives it;
  - where a user namespace cannot be had: one message naming the setting that allows it (for
    each of the three switches distributions use), VNET_NET=socket with that reason, and the
    command still runs. The switches are read from a stand-in for /proc/sys
    (VNET_SYSCTL_DIR) and `unshare` is a stand-in that fails as a restricted kernel does; the
    non-root path is reached by running privnet as an unmapped user (`unshare --user`).
No QEMU here: these are checks of the launcher that the network tests stand on.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from wire import need_tap

ROOT = Path(__file__).resolve().parents[2]
PRIVNET = str(ROOT / "tools" / "privnet.sh")
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VNET_")}
    env.update(extra)
    return env


def test_user_namespace_is_private_and_may_make_taps():
    need_tap("making a TAP inside a user namespace")
    script = ('echo "uid=$(id -u) net=$VNET_NET how=$VNET_PRIVNET pid=$VNET_USERNS_PID self=$$"; '
              'ip -o link | cut -d: -f2 | tr -d " " | tr "\\n" " "; echo; '
              'ip netns add pn-check && ip netns exec pn-check ip tuntap add dev tap0 mode tap && '
              'ip netns exec pn-check ip -o link show tap0 >/dev/null && echo made')
    r = subprocess.run([PRIVNET, "sh", "-c", script], env=clean_env(VNET_USERNS="1"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    first, links, made = r.stdout.splitlines()
    fields = dict(kv.split("=") for kv in first.split())
    assert fields["uid"] == "0" and fields["net"] == "tap" and fields["how"] == "userns", first
    assert fields["pid"] == fields["self"], "VNET_USERNS_PID is not the command's PID: " + first
    assert links.split() == ["lo"], "the user namespace's network has more than a loopback: " + links
    assert made == "made"
    # Everything made in there went with it.
    assert "pn-check" not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                            text=True).stdout


SWITCHES = [
    ("apparmor", "kernel/apparmor_restrict_unprivileged_userns", "1",
     "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
    ("debian-clone", "kernel/unprivileged_userns_clone", "0",
     "sudo sysctl -w kernel.unprivileged_userns_clone=1"),
    ("max-zero", "user/max_user_namespaces", "0", "sudo sysctl -w user.max_user_namespaces=16384"),
    ("unknown", None, None, "could not be set up here: unshare: write failed /proc/self/uid_map"),
]


@pytest.mark.parametrize("switch,value,advice", [c[1:] for c in SWITCHES], ids=[c[0] for c in SWITCHES])
def test_no_user_namespace_says_why_and_runs_on_the_socket_wire(tmp_path, switch, value, advice):
    sysctl = tmp_path / "sys"
    sysctl.mkdir()
    if switch:
        (sysctl / switch).parent.mkdir(parents=True, exist_ok=True)
        (sysctl / switch).write_text(value + "\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "unshare").write_text("#!/bin/sh\n"
                                  "echo 'unshare: write failed /proc/self/uid_map: Operation not permitted' >&2\n"
                                  "exit 1\n")
    (fake / "unshare").chmod(0o755)
    env = clean_env(VNET_SYSCTL_DIR=str(sysctl), PATH=f"{fake}:{os.environ['PATH']}")
    # An unmapped user namespace: privnet runs as uid 65534, an ordinary user, even under root.
    r = subprocess.run([UNSHARE, "--user", PRIVNET, "sh", "-c",
                        'echo "id=$(id -u) net=$VNET_NET how=$VNET_PRIVNET"; echo "why=$VNET_NET_WHY"'],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "id=65534 net=socket how=none", r.stdout
    assert advice in lines[1], r.stdout
    msgs = [line for line in r.stderr.splitlines() if line.startswith("privnet:")]
    assert len(msgs) == 1 and "no TAP device can be made here" in msgs[0] and advice in msgs[0], r.stderr


def test_socket_wire_on_request_says_nothing_and_runs():
    r = subprocess.run([PRIVNET, "sh", "-c", 'echo "$VNET_NET|$VNET_NET_WHY"'],
                       env=clean_env(VNET_NET="socket"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "socket|VNET_NET=socket was asked for", \
        r.stdout + r.stderr
    assert "privnet:" not in r.stderr
