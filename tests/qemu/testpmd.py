"""
tests/qemu/testpmd.py - DPDK's testpmd as the guest's vhost-user back-end, for
tests/qemu/test_dpdk.py and tools/bench/bench.py.

testpmd's net_vhost driver serves a vhost-user socket; QEMU connects to it with -chardev socket
and -netdev vhost-user, and from then on testpmd reads the guest's transmit ring and fills its
receive ring itself, in guest memory QEMU shares with it (a memfd, share=on). What it does with
the frames is its forwarding mode:
    macswap   every frame back to the guest, the MAC addresses swapped
    io        port 0 <-> port 1 unchanged: with a net_pcap port as port 1, the guest's frames
              go to a pcap file and a pcap file's frames go to the guest (byte-exact both ways)
    txonly    generates UDP frames to the guest; rxonly counts and drops what the guest sends

It runs as an ordinary user: --no-huge (plain memory, no /dev/hugepages), --no-shconf (no
shared runtime files) and its runtime directory (XDG_RUNTIME_DIR) in a temporary directory of
its own, --no-pci (no device of the machine is touched). Interactive mode (-i) on a pipe, so
the caller starts and stops forwarding when the guest is ready and reads the port counters.
Stopped by its PID ("quit" first: the pcap port writes its file as it closes).

Interrupts: QEMU 7.2 under TCG segfaults in vhost_net_start when the guest has enabled MSI-X
on a vhost-user NIC, so the NIC gets vectors=0 (INTx) - docs/backends.md.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

from guest import stop_process

PROMPT = "testpmd> "
MEMORY_MB = 128  # the guest's RAM: the memfd QEMU shares with testpmd


def find_testpmd():
    return shutil.which("dpdk-testpmd")


def unavailable():
    """Why testpmd cannot be the back-end here, or None."""
    if not find_testpmd():
        return ("dpdk-testpmd is not installed (Debian package dpdk-dev; `make test-full` and "
                "`make bench` install it, or: tools/deps.sh dpdk)")
    if not hasattr(os, "memfd_create"):
        return "this Python has no os.memfd_create (QEMU's guest RAM must be a shared memfd)"
    return None


def qemu_args(sock, nid="n0", packed=False):
    """QEMU options that put NIC netdev nid on testpmd's socket: the chardev, guest RAM it can
    map, INTx (see above), and packed=on for the packed-ring variant."""
    return (["-chardev", f"socket,id=vu_{nid},path={sock}",
             "-object", f"memory-backend-memfd,id=vumem,size={MEMORY_MB}M,share=on",
             "-machine", "memory-backend=vumem",
             "-global", "virtio-net-pci.vectors=0"] +
            (["-global", "virtio-net-pci.packed=on"] if packed else []))


def netdev(nid="n0"):
    return f"vhost-user,id={nid},chardev=vu_{nid}"


def _quit(proc):
    proc.stdin.write("quit\n")
    proc.stdin.flush()


class TestPmd:
    """testpmd with a vhost-user port 0 (the guest) and, optionally, a pcap port 1.

        pmd = TestPmd("macswap")                      # or "io" with pcap_in=/pcap_out=
        g = start_guest(..., netdev(), extra=qemu_args(pmd.sock))
        pmd.cmd("start"); ...; pmd.cmd("stop"); pmd.close()
    """

    def __init__(self, mode, pcap_in=None, pcap_out=None, extra=(), workdir=None):
        exe = find_testpmd()
        if not exe:
            raise RuntimeError(unavailable())
        # unix socket paths are limited to 107 bytes: a short directory of our own
        self.dir = tempfile.mkdtemp(prefix="vnet-dpdk-")
        self.sock = os.path.join(self.dir, "vu.sock")
        self.log_path = os.path.join(workdir or self.dir, f"testpmd-{mode}.log")
        vdevs = ["--vdev", f"net_vhost0,iface={self.sock},queues=1"]
        if pcap_in or pcap_out:
            spec = ",".join(([f"rx_pcap={pcap_in}"] if pcap_in else []) +
                            ([f"tx_pcap={pcap_out}"] if pcap_out else []))
            vdevs += ["--vdev", f"net_pcap0,{spec}"]
        # stdbuf: testpmd's printf output line by line, in step with its prompt (else a pipe
        # holds it back until exit); it execs testpmd, so the PID is testpmd's
        argv = ["stdbuf", "-oL", exe, "-l", "0,1", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                f"--file-prefix=vnet{os.getpid()}", "--log-level=lib.eal:error", *vdevs, "--",
                "-i", "--total-num-mbufs=4096", f"--forward-mode={mode}", *extra]
        env = dict(os.environ, XDG_RUNTIME_DIR=self.dir)
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT,
                                     text=True, env=env, cwd=self.dir, start_new_session=True)
        self.seen = 0
        try:
            self._wait_prompt(60)
            if not os.path.exists(self.sock):
                raise RuntimeError(f"testpmd made no socket {self.sock}:\n{self.text()}")
        except Exception:
            self.close()
            raise

    def text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def _wait_prompt(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.text()
            i = t.find(PROMPT, self.seen)
            if i >= 0:
                out = t[self.seen:i]
                self.seen = i + len(PROMPT)
                return out
            if self.proc.poll() is not None:
                raise RuntimeError(f"testpmd exited with status {self.proc.returncode}:\n{t[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"testpmd gave no prompt in {timeout} s:\n{self.text()[-3000:]}")

    def cmd(self, line, timeout=30):
        """One interactive command; its output up to the next prompt."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._wait_prompt(timeout)

    def port_stats(self, port=0):
        """{"rx": packets, "tx": packets, "rx_missed": ..., "rx_errors": ..., "tx_errors": ...}."""
        out = self.cmd(f"show port stats {port}")
        v = {}
        for key, pat in (("rx", r"RX-packets:\s+(\d+)"), ("rx_missed", r"RX-missed:\s+(\d+)"),
                         ("rx_errors", r"RX-errors:\s+(\d+)"), ("tx", r"TX-packets:\s+(\d+)"),
                         ("tx_errors", r"TX-errors:\s+(\d+)")):
            m = re.search(pat, out)
            v[key] = int(m.group(1)) if m else None
        return v

    def close(self):
        """quit (the pcap port writes out its file), then SIGKILL by PID if it lingers."""
        stop_process(self.proc, _quit, 15)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
