"""dnsmasq (Debian's dnsmasq-base) as a test's own server, inside a namespace the test made.

It runs with its command line only (no config file, no /etc/hosts, no upstream servers), in
the foreground, its log in the test's directory, and is stopped by its PID (`ip netns exec`
execs it, so the Popen's PID is dnsmasq's). tests/qemu/test_dhcp.py uses it as a DHCP
server, tests/qemu/test_dns.py as a DHCP and DNS server.
"""
import contextlib
import re
import subprocess
import time
from pathlib import Path

from fakehost import open_host


class Dnsmasq:
    def __init__(self, ns, workdir, args):
        self.log = Path(workdir) / "dnsmasq.log"
        self.logf = open(self.log, "w")
        cmd = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
               "--log-facility=-", "--user=root", "--pid-file=", *args]
        self.proc = ns.popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT)

    def text(self):
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text(), re.M):
                return
            assert self.proc.poll() is None, "dnsmasq died:\n" + self.text()
            time.sleep(0.1)
        raise AssertionError(f"dnsmasq: /{pattern}/ not in its log:\n" + self.text())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.logf.close()


@contextlib.contextmanager
def host_with_dnsmasq(start):
    """A kernel host on a TAP (fakehost.open_host) with the dnsmasq start(ns) makes in its
    namespace. Yields {"host", "dnsmasq"}; a test that puts its guest under "guest" has it
    killed first, then dnsmasq, then the namespace goes."""
    host = open_host()
    made = {"host": host}
    try:
        made["dnsmasq"] = start(host.ns)
        yield made
    finally:
        if "guest" in made:
            made["guest"].kill()
        if "dnsmasq" in made:
            made["dnsmasq"].kill()
        host.close()
