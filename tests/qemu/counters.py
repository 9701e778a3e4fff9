"""tests/qemu/counters.py - the one parser of the guest's counter lines.

netstat, inetstat and the driver print their counters as lines "<prefix>: name N name N ..."
(docs/serial.md), the prefix a layer ("udp", "netbuf") or a device ("eth0"); a few words
between the prefix and the first counter ("eth0: virtio ...") are skipped, and a gauge printed
"name N/M" (rx_posted 256/256: N of M) counts as N. Every QEMU test and tools/bench/bench.py
reads counters through parse_counters; the Linux guest's udpsrv prints the same format. A test
asks a guest with netstat(g) or inetstat(g).
"""
import re

_LINE = re.compile(r"^(\w+): (.*)$", re.M)
_PAIR = re.compile(r"(\w+) (\d+)(?:/\d+)?")


def parse_counters(out):
    """Counter lines -> {"prefix.name": N, "name": N}. Every counter is there under its line's
    prefix ("eth0.rx_frames", "udp.rx_no_port", "netbuf.in_use") and also under its bare name
    ("rx_frames"); where a name repeats, the first line (first pair) that has it wins: netstat
    prints the device first, so "rx_packets" is eth0's."""
    vals = {}
    for m in _LINE.finditer(out.replace("\r", "")):
        for name, val in _PAIR.findall(m.group(2)):
            vals.setdefault(m.group(1) + "." + name, int(val))
            vals.setdefault(name, int(val))
    return vals


def read_counters(g, cmd="netstat", timeout=15):
    """Run cmd (netstat, inetstat) on guest g's console -> (parse_counters of it, its output)."""
    out = g.cmd(cmd, timeout=timeout)
    return parse_counters(out), out


def netstat(g, timeout=15):
    """`netstat` on guest g -> (counters, output): the device, its queues and the buffer pool."""
    return read_counters(g, "netstat", timeout=timeout)


def inetstat(g, timeout=15):
    """`inetstat` on guest g -> {"layer.name": N, "name": N}: the protocol layers' counters."""
    return read_counters(g, "inetstat", timeout=timeout)[0]


_PERF = re.compile(r"^perf: ((?:\w+ -?[\d.]+ ?)+)$", re.M)


def parse_perf(text):
    """The `perf` command's line "perf: name value ..." -> {name: float}, or None without one
    (tools/bench reads cycles, kicks and interrupts per packet from it)."""
    m = _PERF.search(text)
    if not m:
        return None
    toks = m.group(1).split()
    return {k: float(v) for k, v in zip(toks[::2], toks[1::2])}
