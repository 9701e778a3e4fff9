"""
tests/qemu/test_lab_hostside.py - the host half of the data path, watched (LAB.md, "The host
half"): QEMU's system calls on the TAP device (strace), its monitor (`info network`,
`info virtio-queue-status`, `info virtio-queue-element`) and its virtio trace events next to
our own ring trace, for one small experiment:

  1. the guest boots on a TAP device (tap0, in a network namespace of the test's own) with
     QEMU started under `strace -f -ttt -y`;
  2. the guest sends SENT frames of FRAME bytes (`sendraw SENT FRAME`) and the host reads them
     from tap0;
  3. the host writes RECEIVED frames of FRAME bytes to tap0 and the guest counts them.

What QEMU 7.2 does with them, checked here (net/tap.c, net/tap-linux.c, hw/net/virtio-net.c):
the TAP is opened from /dev/net/tun and attached to tap0 with the TUNSETIFF ioctl, flags
IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, so that every frame crossing it carries a virtio-net
header (TUNSETVNETHDRSZ sets its size to the driver's 12 bytes); each transmitted frame is one
writev() of header + frame (tap_receive_iov -> tap_write_packet); each received frame is one
read() returning header + frame (tap_send -> tap_read_packet), and the read after the last
returns EAGAIN. QEMU 7.2 has no trace events in net/tap.c: strace stands in for them.

`make lab-hostside` runs it and keeps everything in build/hostside/ (LAB_HOSTSIDE_OUT);
`make lab-answers ANSWERS=file` also checks the student's answers to the questions whose
answer this experiment measures (LAB_ANSWERS). Needs a kernel TAP device and strace
(tools/deps.sh hostside); skips, saying which is missing, otherwise.
"""
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from counters import netstat
from guest import GUEST_MAC, Guest, nic, qemu_argv
from qemu_view import Trace, queue_status, set_trace, virtio_net_path
from wire import HOST_MAC, TEST_ETHERTYPE, have_tap, mac_bytes, open_link

ROOT = Path(__file__).resolve().parents[2]
KERNEL = Path(os.environ.get("VNET_KERNEL", ROOT / "build" / "kernel.elf"))
SENT, RECEIVED, FRAME = 20, 10, 60
VNET_HDR = 12  # struct virtio_net_hdr_mrg_rxbuf: VERSION_1 or MRG_RXBUF (virtio 1.2 5.1.6)
QEMU_EVENTS = ("virtio_queue_notify", "virtqueue_pop", "virtqueue_flush", "virtio_notify")
SYSCALLS = "openat,ioctl,writev,readv,read,write"


def _why_not():
    if not have_tap():
        return "needs a kernel TAP device (the socket wire has no TAP for QEMU to open)"
    if not shutil.which("strace"):
        return "needs strace (tools/deps.sh hostside installs it)"
    if not KERNEL.is_file():
        return f"{KERNEL} is not built"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))


# ---- strace's output ------------------------------------------------------------------------

CALL_RE = re.compile(r"^(?P<pid>\d+)\s+(?P<t>\d+\.\d+) (?P<name>\w+)\((?P<args>.*)\) += (?P<ret>-?\d+|\?)(?P<rest>.*)$")


def syscalls(text):
    """[(time, name, args, return value)] of strace -f -ttt output, each call whole: a call
    another thread interrupted ('<unfinished ...>') is joined to its '<... resumed>' line."""
    pending, out = {}, []
    for line in text.splitlines():
        m = re.match(r"^(\d+)\s+(\d+\.\d+) (.*) <unfinished \.\.\.>$", line)
        if m:
            pending[m.group(1)] = (m.group(2), m.group(3))
            continue
        m = re.match(r"^(\d+)\s+\d+\.\d+ <\.\.\. \w+ resumed>(.*)$", line)
        if m and m.group(1) in pending:
            t, head = pending.pop(m.group(1))
            line = f"{m.group(1)} {t} {head}{m.group(2)}"
        c = CALL_RE.match(line)
        if c and c.group("ret") != "?":
            out.append((float(c.group("t")), c.group("name"), c.group("args"), int(c.group("ret"))))
    return out


def on_tap(calls, name, start=0.0, end=float("inf")):
    """The calls of that name on the TAP's descriptor (strace -y shows it as </dev/net/tun>)
    between two host times."""
    return [c for c in calls if c[1] == name and "</dev/net/tun>" in c[2].split(",", 1)[0]
            and start <= c[0] <= end]


# ---- the experiment -------------------------------------------------------------------------

def frame_to_guest(i):
    return mac_bytes(GUEST_MAC) + HOST_MAC + TEST_ETHERTYPE.to_bytes(2, "big") + bytes([i]) * (FRAME - 14)


def qemu_pid(wrapper_pid):
    """QEMU's PID: the process named qemu* below strace (ip netns exec became strace)."""
    todo = [wrapper_pid]
    while todo:
        pid = todo.pop()
        try:
            if Path(f"/proc/{pid}/comm").read_text().startswith("qemu"):
                return pid
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
    raise AssertionError("no QEMU under strace")


@pytest.fixture(scope="module")
def experiment():
    """Run the experiment once; returns what was seen, and keeps it in LAB_HOSTSIDE_OUT."""
    out = Path(os.environ.get("LAB_HOSTSIDE_OUT") or tempfile.mkdtemp(prefix="vnet-hostside-"))
    out.mkdir(parents=True, exist_ok=True)
    link = open_link(host_addr=None)
    sockdir = tempfile.mkdtemp(prefix="vnet-mon-")
    mon = os.path.join(sockdir, "mon.sock")
    trace = Trace(out, events=("virtio_set_status",))
    strace_log = out / "strace.log"
    argv = qemu_argv(kernel=KERNEL, devices=[nic()], netdev=[link.netdev("n0")], monitor_path=mon,
                     extra=["-msg", "timestamp=on", *trace.args()])
    argv = (link.netns.cmd_prefix() + ["strace", "-f", "-qq", "-ttt", "-y", "--seccomp-bpf", "-s", "0",
                                       "-e", f"trace={SYSCALLS}", "-o", str(strace_log), "--"] + argv)
    g = Guest(argv, out, name="guest", sockdir=sockdir, monitor_path=mon)
    seen = {"out": out}
    try:
        g.wait_ready(timeout=60)
        # the stack's two ARP announcements (RFC 5227 2.3, 2 s apart) go out before we count
        deadline = time.monotonic() + 30
        while netstat(g)[0].get("tx_packets", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        seen["info_network"] = g.monitor("info network")
        # strace 6.1 does not decode TUNSETIFF's struct ifreq; the kernel shows the flags the
        # attach left on the device (drivers/net/tun.c: tun_flags in sysfs)
        seen["tun_flags"] = int(link.netns.run(["cat", "/sys/class/net/tap0/tun_flags"]).stdout, 16)
        path = virtio_net_path(g)
        g.cmd("trace on 200")
        console_from = len(g.log)
        set_trace(g, QEMU_EVENTS, True)
        link.listen()
        g.cmd("netstat -z")
        seen["t_send"] = time.time()
        g.cmd(f"sendraw {SENT} {FRAME}")
        got, deadline = [], time.monotonic() + 20
        while len(got) < SENT and time.monotonic() < deadline:
            link.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                f = link.sock.recv(65536)
            except OSError:
                break
            if f[12:14] == TEST_ETHERTYPE.to_bytes(2, "big"):
                got.append(f)
        seen["t_sent"] = time.time()
        seen["host_got"] = len(got)
        seen["queue_tx"] = g.monitor(f"info virtio-queue-status {path} 1")
        used = queue_status(g, 1, path)["used_idx"]
        # the element QEMU last took from the TX queue, by its place in the ring
        seen["element_tx"] = g.monitor(f"info virtio-queue-element {path} 1 {(used - 1) % 65536}")
        seen["t_recv"] = time.time()
        for i in range(RECEIVED):
            link.send(frame_to_guest(i))
            time.sleep(0.02)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stats, _ = netstat(g)
            if stats.get("rx_frames", 0) >= RECEIVED:
                break
            time.sleep(0.2)
        seen["t_received"] = time.time()
        seen["guest_rx"] = stats.get("rx_frames", 0)
        seen["queue_rx"] = g.monitor(f"info virtio-queue-status {path} 0")
        set_trace(g, QEMU_EVENTS, False)
        g.cmd("trace off")
        seen["ring_trace"] = "\n".join(l for l in g.log[console_from:].splitlines() if l.startswith("trace: tsc"))
        (out / "monitor.txt").write_text("\n".join(
            f"(qemu) {k}\n{seen[k]}" for k in ("info_network", "queue_tx", "element_tx", "queue_rx")))
        (out / "ring-trace.txt").write_text(seen["ring_trace"])
        os.kill(qemu_pid(g.pid), signal.SIGTERM)  # QEMU first: strace then ends with it, its log complete
        g.proc.wait(30)
    finally:
        g.kill()
        link.close()
    seen["calls"] = syscalls(strace_log.read_text(errors="replace"))
    seen["qemu_trace"] = trace.records()
    write_timeline(out / "timeline.txt", seen["calls"], trace)
    return seen


def write_timeline(path, calls, trace):
    """The host half on one clock: QEMU's system calls on the TAP and its virtio trace
    events (both stamped with the host's time), in order."""
    rows = []
    for t, name, args, ret in calls:
        fd, _, rest = args.partition(",")
        if "</dev/net/tun>" in fd:
            what = rest.split(",")[0].strip() if name == "ioctl" else ""
            rows.append((t, f"strace  {name}(tap{', ' + what if what else ''}) = {ret}"))
    text = trace.path.read_text(errors="replace") if trace.path.exists() else ""
    for m in re.finditer(r"^\d+@(\d+\.\d+):(\w+) (.*)$", text, re.M):
        if m.group(2) != "virtio_set_status":
            rows.append((float(m.group(1)), f"qemu    {m.group(2)} {m.group(3)}"))
    path.write_text("".join(f"{t:.6f} {what}\n" for t, what in sorted(rows)))


# ---- what the experiment shows --------------------------------------------------------------

IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000  # linux/if_tun.h


def test_tap_opened_with_vnet_hdr(experiment):
    """/dev/net/tun opened, TUNSETIFF on that descriptor (attach to tap0), then the header
    size set (TUNSETVNETHDRSZ); the device's flags afterwards are IFF_TAP, IFF_NO_PI and
    IFF_VNET_HDR."""
    calls = experiment["calls"]
    opens = [c for c in calls if c[1] == "openat" and '"/dev/net/tun"' in c[2] and c[3] >= 0]
    assert opens, "QEMU never opened /dev/net/tun"
    setiff = [c for c in on_tap(calls, "ioctl") if "TUNSETIFF" in c[2] and c[3] == 0]
    assert setiff and setiff[0][0] >= opens[0][0], "no TUNSETIFF on the descriptor it opened"
    assert any("TUNSETVNETHDRSZ" in c[2] and c[3] == 0 for c in on_tap(calls, "ioctl", setiff[0][0])), \
        "no TUNSETVNETHDRSZ after the attach"
    flags = experiment["tun_flags"]
    assert flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) == IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, hex(flags)


def test_one_writev_per_transmitted_frame(experiment):
    """Each frame the guest sent is one writev() on the TAP of header + frame."""
    e = experiment
    assert e["host_got"] == SENT, e
    writes = on_tap(e["calls"], "writev", e["t_send"], e["t_sent"])
    assert len(writes) == SENT, writes[:5]
    assert {c[3] for c in writes} == {VNET_HDR + FRAME}, writes[:5]
    assert not on_tap(e["calls"], "write", e["t_send"], e["t_sent"]), "a write() besides the writev()s"


def test_one_read_per_received_frame(experiment):
    """Each frame the host wrote to tap0 is one read() by QEMU of header + frame; a read that
    finds nothing more returns EAGAIN (-1) and QEMU waits in ppoll again."""
    e = experiment
    assert e["guest_rx"] >= RECEIVED, e["guest_rx"]
    reads = on_tap(e["calls"], "read", e["t_recv"], e["t_received"])
    full = [c for c in reads if c[3] > 0]
    assert len(full) == RECEIVED and {c[3] for c in full} == {VNET_HDR + FRAME}, full[:5]
    assert any(c[3] == -1 for c in reads), "no read came back empty (EAGAIN)"


def test_monitor_and_trace_events(experiment):
    """The monitor shows the NIC with its TAP peer and the queues' indices; QEMU's virtio
    trace events saw the transmit queue notified and SENT elements popped and flushed."""
    e = experiment
    assert re.search(r"model=virtio-net-pci", e["info_network"]), e["info_network"]
    assert re.search(r"\\ n0: index=\d+,type=tap,ifname=tap0", e["info_network"]), e["info_network"]
    assert re.search(r"^\s+used_idx:\s+\d+", e["queue_tx"], re.M), e["queue_tx"]
    assert re.search(rf"^\s+addr 0x[0-9a-f]+ len {VNET_HDR + FRAME}$", e["element_tx"], re.M), e["element_tx"]
    pops = [f for name, f in e["qemu_trace"] if name == "virtqueue_pop"]
    tx = [f for f in pops if f["out_num"] != "0"]  # the device reads a transmit chain
    rx = [f for f in pops if f["in_num"] != "0"]   # and writes a receive buffer
    assert len(tx) == SENT and len(rx) == RECEIVED, (len(tx), len(rx))
    adds = re.findall(r"^trace: .* tx0  virtqueue_add_sgs ", e["ring_trace"], re.M)
    assert len(adds) == SENT, e["ring_trace"][:1500]


# ---- the students' answers --------------------------------------------------------------------

def measured(e):
    """The answers this experiment measured, by question number (LAB.md, "The host half")."""
    setiff = [c for c in on_tap(e["calls"], "ioctl") if "TUNSETIFF" in c[2] and c[3] == 0]
    writes = on_tap(e["calls"], "writev", e["t_send"], e["t_sent"])
    reads = [c for c in on_tap(e["calls"], "read", e["t_recv"], e["t_received"]) if c[3] > 0]
    peer = re.search(r"\\ n0: index=\d+,type=(\w+)", e["info_network"])
    return {
        1: ({"TUNSETIFF"} if setiff else set()) | ({"IFF_VNET_HDR"} if e["tun_flags"] & IFF_VNET_HDR else set()),
        2: len(writes),
        3: sorted({c[3] for c in writes}),
        4: len(reads),
        5: sorted({c[3] for c in reads}),
        6: peer.group(1) if peer else None,
    }


def parse_answers(text):
    """'Q2: 20' lines -> {2: '20'}; other lines (the written answers) are left alone."""
    return {int(m.group(1)): m.group(2).strip() for m in re.finditer(r"^Q(\d+):[ \t]*(.*)$", text, re.M)}


def check_answer(n, given, want):
    words = set(re.findall(r"[A-Za-z_]+", given))
    if n == 1:
        return want <= {w.upper() for w in words}
    if n in (2, 4):
        return given.strip().isdigit() and int(given) == want
    if n in (3, 5):
        return [int(x) for x in re.findall(r"\d+", given)] == want
    if n == 6:
        return given.strip().lower() == str(want)
    return True


@pytest.mark.skipif(not os.environ.get("LAB_ANSWERS"), reason="no answers to check (make lab-answers ANSWERS=file)")
def test_answers(experiment):
    text = Path(os.environ["LAB_ANSWERS"]).read_text()
    given = parse_answers(text)
    want = measured(experiment)
    wrong = [f"Q{n}: you wrote {given.get(n, '(nothing)')!r}; the experiment shows {want[n]!r}"
             for n in sorted(want) if n not in given or not check_answer(n, given[n], want[n])]
    assert not wrong, "\n".join(wrong)


def test_answer_checker_refuses_wrong_answers(experiment):
    """The checker accepts what the experiment measured and refuses anything else."""
    want = measured(experiment)
    right = {1: "TUNSETIFF with IFF_VNET_HDR", 2: str(want[2]), 3: " ".join(map(str, want[3])),
             4: str(want[4]), 5: " ".join(map(str, want[5])), 6: str(want[6])}
    assert all(check_answer(n, right[n], want[n]) for n in want), (right, want)
    wrong = {1: "TUNSETOFFLOAD IFF_TAP", 2: str(want[2] + 1), 3: "60", 4: str(want[4] * 2), 5: "60",
             6: "user"}
    assert not any(check_answer(n, wrong[n], want[n]) for n in want), (wrong, want)
