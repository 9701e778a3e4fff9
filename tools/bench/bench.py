#!/usr/bin/python3
"""tools/bench/bench.py - `make bench`: our kernel against a Linux guest, same QEMU, same load.

Both guests run, one after the other, with the same QEMU command line (machine, -m, accel,
-device virtio-net-pci, -netdev tap) inside a network namespace this script creates; the
host side of the TAP is 10.0.2.2/24, the guest 10.0.2.15/24, with a permanent neighbour entry
for the guest. tools/bench/loadgen (C) makes the load from inside the namespace; nothing is
sent anywhere else. QEMU and every helper are stopped by PID, and the namespace is deleted,
however the run ends.

Measured for each guest (each `--runs` times; the table shows the median and the range):
  boot      QEMU start to the first UDP echo reply (ms)
  rtt       sequential echo round trips, 64-byte payloads: p50/p99 (us)
  echo      a window of 64 requests in flight at 64/512/1400 bytes: replies/s, Mbit/s, loss
  rx        host floods the discard port as fast as it can: what the guest counted per second
  tx        the guest's `blast` (Linux: `udpsrv blast`) to a host socket: datagrams/s received
Our guest only: image size, the smallest -m it runs in, its boot timeline and, when its shell
has `perf`, cycles/kicks/interrupts per packet and idle time for each measurement.
Then the ring x checksum-offload x back-end table: each guest again on the TAP with the packed
ring and with checksum offload off (RTT, 64-byte flood, 64-byte blast; tap_variants), and on
DPDK's vhost-user back-end (tools/bench/dpdk.py: testpmd's txonly and rxonly engines; each ring,
offload on and off) when testpmd is installed.

Output: a table on stdout; docs/benchmarks.md (tools/bench/intro.md, the results, then
tools/bench/notes.md when it exists) and docs/bench-*.png (gnuplot); raw results as JSON and
every guest's serial log in the work directory (build/bench/run).
--quick: our guest only, one run, short durations, output in the work directory only.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The QEMU tests' helpers are plain modules in tests/qemu, imported the way pytest imports them
# (that directory on sys.path; tests/qemu/conftest.py says so): the counter parser, the serial
# driver and the tests' NIC, the network namespaces.
sys.path.insert(0, str(ROOT / "tests" / "qemu"))
from counters import parse_counters, parse_perf  # noqa: E402
from guest import GUEST_MAC, Guest, GuestError, qemu_argv  # noqa: E402
from netns import NetNS  # noqa: E402
from wire import describe as describe_wire, have_tap  # noqa: E402
import dpdk  # noqa: E402  (tools/bench/dpdk.py: the vhost-user rows)

GUEST_IP = "10.0.2.15"
HOST_IP = "10.0.2.2"
SINK_PORT = 5001
SIZES = (64, 512, 1400)
WINDOW = 64
OUR_PROMPT = "vnet> "
LINUX_PROMPT = "linux> "


def log(msg):
    print("bench: " + msg, flush=True)


# ---- guests ----------------------------------------------------------------------------------
class Console:
    """A booted guest's serial shell: type a line, get the text up to the next prompt."""

    def __init__(self, guest, prompt):
        self.g = guest
        self.prompt = prompt

    def cmd(self, line, timeout=30):
        self.g.send(line)
        echo = self.g.wait_for(re.escape(line) + r"\n", timeout)
        end = self.g.wait_for(re.escape(self.prompt), timeout)
        return self.g.log[echo.end():end.start()]


class GuestKind:
    """What differs between the two guests: how to boot them and how to ask them things."""
    name = label = prompt = None
    stats_cmd = "inetstat"  # prints the udp counters, discard_packets among them
    blast_cmd = "blast"     # blast IP PORT SIZE SECONDS
    diag_cmd = "netstat"    # what to keep from a guest that stopped answering, if it still can

    def discard_packets(self, con):
        return parse_counters(con.cmd(self.stats_cmd)).get("udp.discard_packets")

    def blast(self, con, size, seconds):
        return con.cmd(f"{self.blast_cmd} {HOST_IP} {SINK_PORT} {size} {seconds}", timeout=seconds + 30)

    def __init__(self, args):
        self.args = args

    def argv(self, memory):
        return qemu_argv(kernel=self.kernel(), append=self.append(), machine="pc", memory=memory,
                         accel=self.args.accel, devices=["virtio-net-pci,netdev=n0,mac=" + GUEST_MAC + self.args.nic_props],
                         netdev=["tap,id=n0,ifname=tap0,script=no,downscript=no"], extra=self.extra())

    def extra(self):
        return []

    def append(self):
        return f"ip={GUEST_IP}/24 gw={HOST_IP}"


class Ours(GuestKind):
    name, label, prompt = "ours", "vnet-kernel", OUR_PROMPT

    def kernel(self):
        return self.args.kernel

    def append(self):
        return (super().append() + " " + self.args.cmdline).strip()

    def ready(self, g, timeout):
        g.wait_for(re.escape(OUR_PROMPT), timeout)



class Linux(GuestKind):
    name, label, prompt = "linux", "Linux", LINUX_PROMPT
    stats_cmd, blast_cmd = "udpsrv stats", "udpsrv blast"
    diag_cmd = "cat /proc/net/dev; grep -H . /sys/class/net/eth0/queues/tx-0/tx_timeout 2>/dev/null; dmesg | tail -5"

    def __init__(self, args, compressed=False):
        super().__init__(args)
        self.compressed = compressed
        if compressed:
            self.label = "Linux (bzImage)"

    def kernel(self):
        d = Path(self.args.linux_dir)
        return d / ("vmlinuz" if self.compressed or not (d / "vmlinux").exists() else "vmlinux")

    def extra(self):
        return ["-initrd", str(Path(self.args.linux_dir) / "initramfs.cpio")]

    def append(self):
        return "console=ttyS0 quiet panic=-1 " + super().append()

    def ready(self, g, timeout):
        g.wait_for(r"bench-linux: ready", timeout)
        g.wait_for(re.escape(LINUX_PROMPT), timeout)



class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.workdir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.ns = None
        self.guest = None
        self.procs = []

    # -- processes --
    def loadgen(self, *argv, timeout=150):
        r = self.ns.run([self.args.loadgen, *map(str, argv)], check=False, timeout=timeout)
        line = (r.stdout.strip().splitlines() or [""])[-1]
        try:
            return json.loads(line)
        except ValueError:
            raise RuntimeError(f"loadgen {' '.join(map(str, argv))}: {r.stdout}{r.stderr}") from None

    def popen_loadgen(self, *argv):
        p = self.ns.popen([self.args.loadgen, *map(str, argv)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.kill()
        try:
            p.communicate(timeout=10)
        except (subprocess.TimeoutExpired, ValueError):
            pass
        if p in self.procs:
            self.procs.remove(p)

    def tap_tx_dropped(self):
        """Frames the host's TAP queue dropped on their way to QEMU (it was not reading fast
        enough): host-side loss, as opposed to loss inside QEMU or the guest."""
        r = self.ns.run(["cat", f"/sys/class/net/{self.ns.tap}/statistics/tx_dropped"], check=False)
        return int(r.stdout) if r.returncode == 0 and r.stdout.strip().isdigit() else None

    def kill_guest(self):
        if self.guest:
            self.guest.kill()
            self.guest = None

    def close(self):
        self.kill_guest()
        for p in list(self.procs):
            self.stop(p)
        if self.ns:
            self.ns.close()
            self.ns = None

    def open_ns(self):
        self.ns = NetNS(host_addr=HOST_IP + "/24")
        self.ns.neigh_permanent(GUEST_IP, GUEST_MAC)

    # -- boot --
    def boot(self, kind, memory=None, timeout=120, tag=""):
        """Start kind's guest with an echo probe already running; return (Console, boot ms).
        Boot ms: QEMU's start to the probe's first echo reply. (None, None) if it never came."""
        self.kill_guest()
        memory = memory or self.args.memory
        probe = self.popen_loadgen("probe", "--dst", GUEST_IP, "--seconds", timeout, "--interval-us", 1000)
        time.sleep(0.05)  # the probe is sending before QEMU starts
        name = f"{kind.name}{tag}"
        self.guest = Guest(self.ns.cmd_prefix() + kind.argv(memory), self.work, name=name)
        started = self.guest.started
        try:
            out, _ = probe.communicate(timeout=timeout + 10)
        except subprocess.TimeoutExpired:
            out = ""
        self.stop(probe)
        try:
            reply = json.loads(out.strip().splitlines()[-1]).get("reply_mono_ns")
        except (ValueError, IndexError):
            reply = None
        if reply is None:
            return None, None
        boot_ms = (reply / 1e9 - started) * 1000
        kind.ready(self.guest, 60)
        return Console(self.guest, kind.prompt), boot_ms


# ---- measurements ----------------------------------------------------------------------------
class Measure:
    """One guest's measurements on a booted guest. Results: {metric: [per-run dicts]}."""

    def __init__(self, bench, kind, con):
        self.b, self.kind, self.con = bench, kind, con
        self.a = bench.args
        self.has_perf = False
        if kind.name == "ours":
            self.has_perf = re.search(r"^  perf ", con.cmd("help"), re.M) is not None

    def perf_zero(self):
        if self.has_perf:
            self.con.cmd("perf -z")

    def perf_read(self):
        return parse_perf(self.con.cmd("perf")) if self.has_perf else None

    def rtt(self, run):
        samples = self.b.work / f"rtt-{self.kind.name}-{run}.txt"
        self.perf_zero()
        r = self.b.loadgen("rtt", "--dst", GUEST_IP, "--size", 64, "--count", self.a.rtt_count,
                           "--warmup", 50, "--seconds", 60, "--samples", samples, "--spin")
        if r["received"] * 100 < r["sent"]:
            raise RuntimeError(f"rtt: {r['received']} replies to {r['sent']} requests: the guest stalled")
        r["perf"] = self.perf_read()
        r["samples_file"] = str(samples)
        return r

    def echo(self, size, spin=False):
        self.perf_zero()
        r = self.b.loadgen("echo", "--dst", GUEST_IP, "--size", size, "--window", WINDOW,
                           "--seconds", self.a.seconds, *(["--spin"] if spin else []))
        if r["received"] * 100 < r["sent"]:
            raise RuntimeError(f"echo {size} B: {r['received']} replies to {r['sent']} requests: the guest stalled")
        r["perf"] = self.perf_read()
        return r

    def rx(self, size, rate=None, seconds=None):
        before = self.kind.discard_packets(self.con)
        tap_before = self.b.tap_tx_dropped()
        self.perf_zero()
        r = self.b.loadgen("flood", "--dst", GUEST_IP, "--port", 9, "--size", size,
                           "--seconds", seconds or self.a.seconds,
                           "--rate", self.a.flood_rate if rate is None else rate)
        time.sleep(0.3)  # what QEMU still holds reaches the guest before the count
        r["perf"] = self.perf_read()
        after = self.kind.discard_packets(self.con)
        tap_after = self.b.tap_tx_dropped()
        if tap_before is not None and tap_after is not None:
            r["tap_dropped"] = tap_after - tap_before
        if before is not None and after is not None:
            r["guest_received"] = after - before
            r["guest_per_s"] = (after - before) / r["seconds"]
            r["guest_mbit_payload"] = r["guest_per_s"] * size * 8 / 1e6
            r["delivered_pct"] = 100.0 * (after - before) / r["sent"] if r["sent"] else 0
        if r.get("tap_dropped") is not None and r["sent"]:
            r["tap_dropped_pct"] = 100.0 * r["tap_dropped"] / r["sent"]
        return r

    def tx(self, size):
        secs = max(1, round(self.a.seconds))
        sink = self.b.popen_loadgen("sink", "--port", SINK_PORT, "--seconds", secs + 20, "--idle-ms", 1000)
        try:
            if "listening" not in sink.stderr.readline():
                raise RuntimeError("loadgen sink did not start")
            self.perf_zero()
            out = self.kind.blast(self.con, size, secs)
            r = {"guest_line": out.strip()}
            r["perf"] = self.perf_read()
            so, _ = sink.communicate(timeout=secs + 30)
            r.update(json.loads(so.strip().splitlines()[-1]))
        finally:
            self.b.stop(sink)
        m = re.search(r"blast: (\d+) datagrams .* (\d+) per s", out)
        if m:
            r["guest_sent"] = int(m.group(1))
            r["guest_claimed_per_s"] = int(m.group(2))
        if r.get("timed_packets", 0) * 100 < r.get("guest_sent", 1):
            raise RuntimeError(f"tx {size} B: the host received {r.get('packets', 0)} datagrams, the guest "
                               f"says it sent {r.get('guest_sent', '?')}: its transmit path stalled")
        return r


def run_guest(bench, kind, results):
    """Boot kind --runs times (boot time each), then measure on the last boot."""
    a = bench.args
    res = results.setdefault(kind.name, {"label": kind.label})
    boots = []
    con = None
    for i in range(a.runs):
        con, ms = bench.boot(kind, tag=f"-boot{i}")
        if con is None:
            raise RuntimeError(f"{kind.label}: no echo reply after boot {i + 1}; see {bench.work}/{kind.name}-boot{i}.serial.log")
        boots.append({"boot_ms": ms})
        log(f"{kind.label}: boot {i + 1}/{a.runs}: first echo reply {ms:.0f} ms after QEMU start")
    res["boot"] = boots
    if kind.name == "ours":
        res["timeline"] = boot_timeline(bench.guest, con)
    m = Measure(bench, kind, con)
    res["has_perf"] = m.has_perf
    # (result key, how to measure one run, what to log about it)
    plan = [("rtt", lambda i: m.rtt(i),
             lambda r: f"p50 {r['p50_us']:.1f} us, p99 {r['p99_us']:.1f} us, lost {r['lost']}")]
    for size in SIZES:
        for spin in (False, True):
            plan.append((f"echo{'spin' if spin else 'sleep'}{size}", lambda i, s=size, sp=spin: m.echo(s, sp),
                         lambda r: f"{r['replies_per_s']:.0f} replies/s, {r['mbit_payload']:.1f} Mbit/s, "
                                   f"loss {r['loss_pct']:.2f}%"))
    for size in a.flood_sizes:
        plan.append((f"rx{size}", lambda i, s=size: m.rx(s),
                     lambda r: f"host sent {r['sent_per_s']:.0f}/s, guest counted {r.get('guest_per_s', 0):.0f}/s"))
    for size in a.flood_sizes:
        plan.append((f"tx{size}", lambda i, s=size: m.tx(s),
                     lambda r: f"host received {r.get('packets_per_s', 0):.0f}/s ({r.get('guest_line', '')})"))
    reboots = 0

    def one_run(key, i, measure):
        """A run that fails (a guest that stops answering, a timeout) is recorded as an error;
        the guest is booted again for the next one."""
        nonlocal m, reboots
        try:
            return measure(i)
        except (GuestError, RuntimeError, subprocess.TimeoutExpired, ValueError, IndexError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            log(f"{kind.label}: {key} run {i + 1} FAILED: {first}; booting the guest again")
            res.setdefault("errors", []).append(f"{key} run {i + 1}: {first}")
            try:  # what the guest says about itself, when its console still answers
                diag = m.con.cmd(kind.diag_cmd, timeout=10)
            except (GuestError, OSError):
                diag = "(the console did not answer)"
            with open(bench.work / f"{kind.name}-failure-{reboots + 1}.txt", "w") as f:
                f.write(f"{key} run {i + 1}: {e}\n\n{kind.diag_cmd}:\n{diag}\n")
            reboots += 1
            con2, _ = bench.boot(kind, tag=f"-reboot{reboots}")
            if con2 is None:
                raise RuntimeError(f"{kind.label}: no echo reply after a reboot") from e
            m = Measure(bench, kind, con2)
            return {"error": first}

    for key, measure, describe in plan:
        res[key] = []
        for i in range(a.runs):
            r = one_run(key, i, measure)
            res[key].append(r)
            if "error" not in r:
                log(f"{kind.label}: {key} run {i + 1}/{a.runs}: {describe(r)}")
    # The receive ceiling: 64-byte datagrams to the discard port (the least work a guest can do
    # per packet) at rising offered rates, one short run each.
    res["sweep"] = []
    for rate in a.sweep_rates:
        r = one_run(f"sweep{rate}", 0, lambda i, rt=rate: m.rx(64, rate=rt, seconds=min(2.0, a.seconds)))
        if "error" in r:
            continue
        res["sweep"].append(r)
        log(f"{kind.label}: sweep {rate}/s offered: host sent {r['sent_per_s']:.0f}/s, "
            f"guest counted {r.get('guest_per_s', 0):.0f}/s")
    bench.kill_guest()


# ---- ring and checksum-offload variants ------------------------------------------------------
# Each guest again on the TAP with the other ring and with checksum offload off: (guest, ring,
# offload). Split with offload on is QEMU's default, measured by run_guest above, so it is not
# repeated. Offload off: our guest by its own switches (dpdk.CSUM_OFF, the feature under test),
# Linux by a device that offers neither feature (dpdk.CSUM_OFF_PROPS). The same variants on
# DPDK's vhost-user back-end are dpdk.run's.
TAP_VARIANTS = [("ours", "split", False), ("ours", "packed", True), ("ours", "packed", False),
                ("linux", "split", False), ("linux", "packed", True), ("linux", "packed", False)]
VARIANT_METRICS = ("rtt", "rx64", "tx64")


def variant_kind(args, guest, ring, csum):
    """The GuestKind of one variant: the same guest with its device properties and command line
    changed."""
    a = argparse.Namespace(**vars(args))
    if ring == "packed":
        a.nic_props += ",packed=on"
    if not csum:
        if guest == "ours":
            a.cmdline = (a.cmdline + " " + dpdk.CSUM_OFF).strip()
        else:
            a.nic_props += "," + ",".join(dpdk.CSUM_OFF_PROPS)
    return Ours(a) if guest == "ours" else Linux(a)


def tap_variants(bench, results):
    """The TAP rows of the variant table: each variant booted afresh for each of --runs runs,
    then a sequential RTT run, a 64-byte flood to its discard port and a 64-byte blast."""
    out = {}
    for guest, ring, csum in TAP_VARIANTS:
        if guest not in results:
            continue
        kind = variant_kind(bench.args, guest, ring, csum)
        key = f"{guest}-{ring}-csum-{'on' if csum else 'off'}"
        row = out[key] = {"guest": kind.label, "ring": ring, "csum": csum, **{k: [] for k in VARIANT_METRICS}}
        for i in range(bench.args.runs):
            con, _ = bench.boot(kind, tag=f"-{key}-{i}")
            try:
                if con is None:
                    raise RuntimeError(f"no echo reply after boot; see {bench.work}/{kind.name}-{key}-{i}.serial.log")
                m = Measure(bench, kind, con)
                got = {"rtt": m.rtt(f"{key}-{i}"), "rx64": m.rx(64), "tx64": m.tx(64)}
                for k in VARIANT_METRICS:
                    row[k].append(got[k])
                log(f"TAP {kind.label}, {ring} ring, offload {'on' if csum else 'off'}: run {i + 1}/{bench.args.runs}: "
                    f"RTT p50 {got['rtt']['p50_us']:.1f} us, guest counted {got['rx64'].get('guest_per_s', 0):.0f}/s, "
                    f"host received {got['tx64'].get('packets_per_s', 0):.0f}/s")
            except (GuestError, RuntimeError, subprocess.TimeoutExpired, ValueError, IndexError) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                log(f"TAP {kind.label}, {ring} ring, offload {'on' if csum else 'off'}: run {i + 1} FAILED: {first}")
                row.setdefault("errors", []).append(f"run {i + 1}: {first}")
            finally:
                bench.kill_guest()
    return out


def variant_rows(results):
    """One dict per (back-end, guest, ring, offload) with the median of each figure, from the
    main runs (TAP, split, offload on), the TAP variants and the vhost-user rows."""
    def med(runs, get):
        vals = sorted(v for v in (get(r) for r in runs) if v is not None)
        return statistics.median(vals) if vals else None

    def perf(field):
        return lambda r: (r.get("perf") or {}).get(field)

    rows = []
    tap = dict(results.get("tap_variants") or {})
    for g in ("ours", "linux"):
        if g in results and tap:
            tap[f"{g}-split-csum-on"] = {"guest": results[g]["label"], "ring": "split", "csum": True,
                                         **{k: results[g].get(k, []) for k in VARIANT_METRICS}}
    for key, r in tap.items():
        rows.append({"backend": "TAP", "guest": r["guest"], "ring": r["ring"], "csum": r["csum"],
                     "rx": med(r["rx64"], lambda x: x.get("guest_per_s")),
                     "rx_cycles": med(r["rx64"], perf("rx_cycles_per_pkt")),
                     "rx_irqs": med(r["rx64"], perf("interrupts_per_pkt")),
                     "tx": med(r["tx64"], lambda x: x.get("packets_per_s")),
                     "tx_cycles": med(r["tx64"], perf("tx_cycles_per_pkt")),
                     "tx_kicks": med(r["tx64"], perf("kicks_per_pkt")),
                     "rtt_p50": med(r["rtt"], lambda x: x.get("p50_us")),
                     "runs": len(r["rx64"]), "errors": r.get("errors", [])})
    dp = results.get("dpdk") or {}
    if "skipped" not in dp:
        for key, r in dp.items():
            rows.append({"backend": "vhost-user", "guest": r.get("guest", "vnet-kernel"), "ring": r["ring"],
                         "csum": r["csum"], "rx": med(r["rx"], lambda x: x.get("guest_per_s")),
                         "rx_cycles": med(r["rx"], perf("rx_cycles_per_pkt")),
                         "rx_irqs": med(r["rx"], perf("interrupts_per_pkt")),
                         "tx": med(r["tx"], lambda x: x.get("backend_per_s")),
                         "tx_cycles": med(r["tx"], perf("tx_cycles_per_pkt")),
                         "tx_kicks": med(r["tx"], perf("kicks_per_pkt")),
                         "rtt_p50": None, "runs": len(r["rx"]), "errors": r.get("errors", [])})
    order = {"TAP": 0, "vhost-user": 1, "split": 0, "packed": 1, True: 0, False: 1}
    rows.sort(key=lambda x: (order[x["backend"]], order[x["ring"]], order[x["csum"]], x["guest"] != "vnet-kernel"))
    return rows


def variant_table(results):
    """Markdown: every variant's figures, then ours / Linux for each (back-end, ring, offload)."""
    rows = variant_rows(results)
    if not rows:
        return None

    def f(v, digits=0):
        return fmt_num(v, digits)  # "-" for a figure not measured

    def q(a, b):
        return f"{a / b:.2f}×" if a is not None and b else "-"

    lines = ["| back-end | ring | checksum offload | guest | receives 64 B (/s) | rx cycles/pkt | rx interrupts/pkt "
             "| sends 64 B (/s) | tx cycles/pkt | tx kicks/pkt | RTT p50 (µs) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['ring']} | {'on' if r['csum'] else 'off'} | {r['guest']} | {f(r['rx'])} "
                     f"| {f(r['rx_cycles'])} | {f(r['rx_irqs'], 3)} | {f(r['tx'])} | {f(r['tx_cycles'])} "
                     f"| {f(r['tx_kicks'], 3)} | {f(r['rtt_p50'], 1)} |")
    ratio = ["", "| back-end | ring | checksum offload | receives, ours / Linux | sends, ours / Linux "
             "| RTT p50, ours / Linux |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["guest"] != "vnet-kernel":
            continue
        li = next((x for x in rows if x["guest"] != "vnet-kernel" and
                   (x["backend"], x["ring"], x["csum"]) == (r["backend"], r["ring"], r["csum"])), None)
        if not li:
            continue
        ratio.append(f"| {r['backend']} | {r['ring']} | {'on' if r['csum'] else 'off'} | {q(r['rx'], li['rx'])} "
                     f"| {q(r['tx'], li['tx'])} | {q(r['rtt_p50'], li['rtt_p50'])} |")
    errs = [f"- {r['backend']}, {r['guest']}, {r['ring']}, offload {'on' if r['csum'] else 'off'}: {e}"
            for r in rows for e in r["errors"]]
    return "\n".join(lines + (ratio if len(ratio) > 3 else []) +
                     (["", "Runs that failed (left out of the medians):", ""] + errs if errs else []))


def boot_timeline(guest, con):
    """Our boot timeline, `timeline: <ms> ms <event>` lines: from the `timeline` command when
    the shell has it (it also knows events after the prompt, such as the first ARP reply),
    else from what the boot printed."""
    rx = re.compile(r"^timeline: +([\d.]+) ms (.+)$", re.M)
    if re.search(r"^  timeline ", con.cmd("help"), re.M):
        found = rx.findall(con.cmd("timeline"))
    else:
        found = rx.findall(guest.log)
    seen, out = set(), []
    for ms, what in found:
        if what not in seen:
            seen.add(what)
            out.append({"ms": float(ms), "event": what.strip()})
    return out


def smallest_memory(bench, kind):
    """Bisect -m (MiB) for the smallest size at which our guest boots, answers the echo probe
    and echoes a one-second window of 1400-byte requests with under 1% loss."""
    def works(mb):
        con, ms = bench.boot(kind, memory=mb, timeout=20, tag=f"-m{mb}")
        ok = con is not None
        if ok:
            r = bench.loadgen("echo", "--dst", GUEST_IP, "--size", 1400, "--window", WINDOW, "--seconds", 1)
            ok = r["received"] > 0 and r["loss_pct"] < 1.0
        bench.kill_guest()
        log(f"-m {mb}: {'runs' if ok else 'does not run'}")
        return ok

    lo, hi = 1, bench.args.memory  # invariant: hi works; lo is the first size not yet known to
    if not works(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if works(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def kvm_check(args, work):
    """Is KVM worth using here? Our guest under KVM for one short echo run, compared with the
    TCG runs. Only a note for the report: BENCH_ACCEL=kvm runs the whole benchmark under KVM."""
    if args.accel != "tcg" or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return None
    kargs = argparse.Namespace(**dict(vars(args), accel="kvm"))
    bench = Bench(kargs)
    bench.work = work
    try:
        bench.open_ns()
        con, ms = bench.boot(Ours(kargs), timeout=60, tag="-kvm")
        if con is None:
            return {"works": False}
        r = bench.loadgen("echo", "--dst", GUEST_IP, "--size", 64, "--window", WINDOW, "--seconds", 1)
        return {"works": True, "boot_ms": ms, "echo64_replies_per_s": r["replies_per_s"]}
    except (GuestError, RuntimeError, subprocess.TimeoutExpired) as e:
        return {"works": False, "error": str(e)[:200]}
    finally:
        bench.close()


def image_size(path):
    """Bytes the ELF loads: file-backed (text, data) and in memory (with bss)."""
    data = Path(path).read_bytes()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    filesz = memsz = 0
    for i in range(phnum):
        p_type, _, _, _, _, p_filesz, p_memsz, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1:  # PT_LOAD
            filesz += p_filesz
            memsz += p_memsz
    return {"file_bytes": len(data), "load_bytes": filesz, "memory_bytes": memsz}


# ---- summary ---------------------------------------------------------------------------------
def values(res, metric, field):
    out = []
    for r in res.get(metric, []):
        v = r.get(field)
        if v is not None:
            out.append(float(v))
    return out


def summary(vals):
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt_num(v, digits):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def fmt_cell(s, digits=1, absolute=False):
    """Median and spread: half the range as a share of the median, or (absolute, for shares
    that are often near zero) the range itself."""
    if not s:
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt_num(s["median"], digits)
    if absolute:
        return f"{fmt_num(s['median'], digits)} ({fmt_num(s['min'], digits)}–{fmt_num(s['max'], digits)})"
    spread = 100.0 * (s["max"] - s["min"]) / s["median"] if s["median"] else 0
    return f"{fmt_num(s['median'], digits)} (±{spread / 2:.0f}%)"


ROWS = [  # (metric, field, label, digits, better)
    ("boot", "boot_ms", "QEMU start to first echo reply (ms)", 0, "lower"),
    ("rtt", "p50_us", "sequential echo RTT, p50 (µs)", 1, "lower"),
    ("rtt", "p99_us", "sequential echo RTT, p99 (µs)", 1, "lower"),
    ("rtt", "min_us", "sequential echo RTT, min (µs)", 1, "lower"),
] + [(f"echo{s}", "replies_per_s", f"echo {s} B, window {WINDOW}, best client (replies/s)", 0, "higher")
     for s in SIZES] \
  + [(f"echo{s}", "mbit_payload", f"echo {s} B, window {WINDOW}, best client (payload Mbit/s)", 1, "higher")
     for s in SIZES] \
  + [(f"echo{s}", "loss_pct", f"echo {s} B, best client, loss (%)", 2, "lower") for s in SIZES] \
  + [(f"echo{mode}{s}", "replies_per_s", f"echo {s} B, client {mode}s (replies/s)", 0, "higher")
     for s in SIZES for mode in ("sleep", "spin")]


def derive_best(results):
    """echo<size>: for each guest, the runs of the client mode (sleeping in ppoll, or spinning)
    with the higher median rate. A spinning client wakes at once but takes a core from QEMU;
    which suits a guest depends on whether the guest or the host's wake-ups limit it."""
    for g in ("ours", "linux"):
        res = results.get(g)
        if not res:
            continue
        for s in SIZES:
            best, best_rate = [], -1.0
            for mode in ("sleep", "spin"):
                sm = summary(values(res, f"echo{mode}{s}", "replies_per_s"))
                if sm and sm["median"] > best_rate:
                    best, best_rate = [dict(r, client=mode) for r in res[f"echo{mode}{s}"]], sm["median"]
            res[f"echo{s}"] = best


def flood_rows(sizes, rate):
    offered = f"{rate // 1000}k/s offered" if rate else "unpaced"
    rows = []
    for s in sizes:
        rows.append((f"rx{s}", "guest_per_s", f"host→guest {s} B, {offered}: counted by guest (datagrams/s)", 0, "higher"))
        rows.append((f"rx{s}", "delivered_pct", f"host→guest {s} B, {offered}: share delivered (%)", 1, "higher"))
        rows.append((f"rx{s}", "tap_dropped_pct", f"host→guest {s} B, {offered}: dropped at the host's TAP queue (%)", 1, "lower"))
    for s in sizes:
        rows.append((f"tx{s}", "packets_per_s", f"guest→host {s} B blast, counted by host (datagrams/s)", 0, "higher"))
        rows.append((f"tx{s}", "mbit_payload", f"guest→host {s} B blast (payload Mbit/s)", 1, "higher"))
    return rows


def table(results, rows):
    guests = [g for g in ("ours", "linux") if g in results]
    head = ["measurement"] + [results[g]["label"] for g in guests]
    if len(guests) == 2:
        head.append("ours / Linux")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for metric, field, label, digits, better in rows:
        cells = [label]
        sums = [summary(values(results[g], metric, field)) for g in guests]
        if not any(sums):
            continue
        cells += [fmt_cell(s, digits, absolute=field.endswith("_pct")) for s in sums]
        if len(guests) == 2:
            if field != "loss_pct" and sums[0] and sums[1] and sums[1]["median"]:
                ratio = sums[0]["median"] / sums[1]["median"]
                cells.append(f"{ratio:.2f}× ({better} is better)")
            else:
                cells.append("-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep_table(results):
    guests = [g for g in ("ours", "linux") if results.get(g, {}).get("sweep")]
    if not guests:
        return None
    head = ["offered (datagrams/s)"]
    for g in guests:
        head += [f"{results[g]['label']}: host sent", "counted by guest", "dropped at the TAP"]
        if results[g].get("has_perf"):
            head.append("guest idle %")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rates = sorted({r["rate"] for g in guests for r in results[g]["sweep"]})
    for rate in rates:
        cells = [f"{rate:,}"]
        for g in guests:
            r = next((x for x in results[g]["sweep"] if x["rate"] == rate), {})
            drop = r.get("tap_dropped")
            cells += [fmt_num(r.get("sent_per_s"), 0), fmt_num(r.get("guest_per_s"), 0),
                      f"{100.0 * drop / r['sent']:.1f}%" if drop is not None and r.get("sent") else "-"]
            if results[g].get("has_perf"):
                cells.append(fmt_num((r.get("perf") or {}).get("idle_pct"), 1))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def perf_table(res):
    """Our guest's own per-packet figures, one row per measurement (median over runs)."""
    keys = ["rx_pkts", "rx_cycles_per_pkt", "tx_pkts", "tx_cycles_per_pkt", "kicks_per_pkt",
            "interrupts_per_pkt", "idle_pct"]
    metrics = [("rtt", "sequential RTT 64 B")] \
        + [(f"echo{mode}{s}", f"echo {s} B, client {mode}s") for s in SIZES for mode in ("sleep", "spin")] \
        + [(k, lbl) for k, lbl in (("rx64", "host→guest 64 B"), ("rx1400", "host→guest 1400 B"),
                                    ("tx64", "guest→host 64 B"), ("tx1400", "guest→host 1400 B")) if k in res]
    lines = ["| measurement | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 1)]
    any_row = False
    for metric, label in metrics:
        perfs = [r["perf"] for r in res.get(metric, []) if r.get("perf")]
        if not perfs:
            continue
        any_row = True
        cells = []
        for k in keys:
            vs = [p[k] for p in perfs if k in p]
            digits = 0 if k.endswith("_pkts") or "cycles" in k else 1 if k.endswith("_pct") else 3
            cells.append(fmt_num(statistics.median(vs), digits) if vs else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if any_row else None


# ---- plots -----------------------------------------------------------------------------------
def plots(results, work, outdir, prefix):
    """docs/bench-throughput.png (echo replies/s and Mbit/s by payload size, with the range of
    runs as error bars) and docs/bench-rtt.png (distribution of sequential RTTs)."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plots (apt-get install gnuplot-nox)")
        return []
    guests = [g for g in ("ours", "linux") if g in results]
    dat = work / "throughput.dat"
    with open(dat, "w") as f:
        f.write("# size " + " ".join(f"{g}_rps {g}_rps_min {g}_rps_max {g}_mbit {g}_mbit_min {g}_mbit_max"
                                     for g in guests) + "\n")
        for s in SIZES:
            row = [str(s)]
            for g in guests:
                for field in ("replies_per_s", "mbit_payload"):
                    sm = summary(values(results[g], f"echo{s}", field)) or {"median": 0, "min": 0, "max": 0}
                    row += [f"{sm['median']:.3f}", f"{sm['min']:.3f}", f"{sm['max']:.3f}"]
            f.write(" ".join(row) + "\n")
    cdfs = []
    for g in guests:
        samples = []
        for r in results[g].get("rtt", []):
            try:
                samples += [float(x) for x in Path(r["samples_file"]).read_text().split()]
            except (OSError, KeyError, ValueError):
                pass
        samples.sort()
        p = work / f"rtt-cdf-{g}.dat"
        with open(p, "w") as f:
            for i, v in enumerate(samples):
                f.write(f"{v:.3f} {(i + 1) / len(samples):.5f}\n")
        if samples:
            cdfs.append((g, p))
    sweeps = []
    for g in guests:
        pts = [(r["sent_per_s"], r.get("guest_per_s")) for r in results[g].get("sweep", []) if r.get("guest_per_s")]
        if pts:
            p = work / f"sweep-{g}.dat"
            p.write_text("".join(f"{x / 1000:.3f} {y / 1000:.3f}\n" for x, y in pts))
            sweeps.append((g, p))
    colors = {"ours": "#1f77b4", "linux": "#d62728"}
    tp = outdir / f"{prefix}-throughput.png"
    rp = outdir / f"{prefix}-rtt.png"
    n = len(guests)
    width = 0.8 / n
    bars_rps, bars_mbit = [], []
    for i, g in enumerate(guests):
        c = 2 + i * 6
        off = (i - (n - 1) / 2) * width
        t = results[g]["label"]
        bars_rps.append(f"'{dat}' using ($0+{off}):{c}:({width}) with boxes fs solid 0.7 lc rgb '{colors[g]}' title '{t}', "
                        f"'' using ($0+{off}):{c}:{c + 1}:{c + 2} with yerrorbars lc rgb 'black' pt 7 ps 0.3 notitle, "
                        f"'' using ($0+{off}):{c + 2}:(sprintf('%.0f', ${c})) with labels offset 0,0.8 font 'sans,8' notitle")
        bars_mbit.append(f"'{dat}' using ($0+{off}):{c + 3}:({width}) with boxes fs solid 0.7 lc rgb '{colors[g]}' title '{t}', "
                         f"'' using ($0+{off}):{c + 3}:{c + 4}:{c + 5} with yerrorbars lc rgb 'black' pt 7 ps 0.3 notitle, "
                         f"'' using ($0+{off}):{c + 5}:(sprintf('%.0f', ${c + 3})) with labels offset 0,0.8 font 'sans,8' notitle")
    accel = results.get("meta", {}).get("accel", "tcg").upper()
    script = f"""
set terminal pngcairo size 1100,450 font 'sans,10'
set output '{tp}'
set multiplot layout 1,2 title 'UDP echo throughput, window {WINDOW}, better client mode per guest, QEMU {accel} (median; whiskers: range of runs)'
set style fill solid 0.7 border -1
set boxwidth {width}
set xtics ('64 B' 0, '512 B' 1, '1400 B' 2)
set xrange [-0.6:2.6]
set yrange [0:*]
set grid ytics
set key top center horizontal
set offsets 0, 0, graph 0.15, 0
set xlabel 'UDP payload'
set ylabel 'echo replies per second'
plot {', '.join(bars_rps)}
set ylabel 'payload Mbit/s (replies)'
plot {', '.join(bars_mbit)}
unset multiplot
"""
    def curves(series, style, settings, output):
        """A gnuplot block: one curve per guest from its data file, after the given settings."""
        plotted = ", ".join(f"'{p}' using 1:2 with {style} lc rgb '{colors[g]}' title '{results[g]['label']}'"
                            for g, p in series)
        return (f"\nreset\nset terminal pngcairo size 800,450 font 'sans,10'\nset output '{output}'\n"
                f"set grid\n{settings.strip()}\nplot {plotted}\n")

    if cdfs:
        script += curves(cdfs, "steps lw 2", f"""
set title 'Sequential UDP echo round trips, 64-byte payloads, QEMU {accel} (all runs)'
set logscale x
set xlabel 'round-trip time (µs, log scale)'
set ylabel 'fraction of round trips ≤ x'
set yrange [0:1]
set key bottom right""", rp)
    sp = outdir / f"{prefix}-rx-sweep.png"
    if sweeps:
        script += curves(sweeps, "linespoints lw 2 pt 7", f"""
set title 'Host to guest, 64-byte datagrams to the discard port, QEMU {accel}'
set xlabel 'offered by the host (thousand datagrams/s)'
set ylabel 'counted by the guest (thousand/s)'
set xrange [0:*]
set yrange [0:*]
set key top left""", sp).replace("\nplot ", "\nplot x with lines dt 2 lc rgb 'gray' title 'everything delivered', ")
    gp = work / "plots.gp"
    gp.write_text(script)
    r = subprocess.run(["gnuplot", str(gp)], capture_output=True, text=True)
    if r.returncode:
        log("gnuplot failed: " + r.stderr.strip())
        return []
    return [tp] + ([rp] if cdfs else []) + ([sp] if sweeps else [])


# ---- report ----------------------------------------------------------------------------------
def machine_info():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()
    rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                         text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "qemu": qemu[0] if qemu else "?",
            "host_kernel": os.uname().release, "revision": rev or "?"}


def cpu_ticks():
    """(all CPUs' ticks, busy ticks) from /proc/stat; busy = not idle and not iowait."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f), sum(f) - f[3] - f[4]


def host_busy_pct(seconds=1.0):
    """Share of all CPUs' time busy over a short sample."""
    t0, b0 = cpu_ticks()
    time.sleep(seconds)
    t1, b1 = cpu_ticks()
    return 100.0 * (b1 - b0) / max(1, t1 - t0)


def wait_quiet(limit_s, threshold=10.0):
    """Wait (at most limit_s) for the host to be under threshold% busy; returns the last sample."""
    deadline = time.monotonic() + limit_s
    busy = host_busy_pct()
    if busy > threshold and limit_s > 0:
        log(f"the host is {busy:.0f}% busy; waiting up to {limit_s:.0f} s for it to settle")
        while busy > threshold and time.monotonic() < deadline:
            busy = host_busy_pct(2.0)
    return busy


class CpuAudit:
    """How much of the host's CPU time went to processes that are not this benchmark's: busy
    time from /proc/stat minus this process's and its reaped children's (QEMU, loadgen)."""

    def __init__(self):
        self.hz = os.sysconf("SC_CLK_TCK")
        self.t0, self.b0 = cpu_ticks()
        self.own0 = self.own()

    def own(self):
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def foreign_pct(self):
        t1, b1 = cpu_ticks()
        total_s = (t1 - self.t0) / self.hz
        foreign_s = (b1 - self.b0) / self.hz - (self.own() - self.own0)
        return max(0.0, 100.0 * foreign_s / total_s) if total_s > 0 else 0.0


def report(results, args, plot_files, elapsed):
    meta = results["meta"]
    rows = ROWS + flood_rows(args.flood_sizes, meta.get("flood_rate", args.flood_rate))
    out = []
    intro = Path(args.intro)
    if intro.exists() and not args.quick:
        out.append(intro.read_text().rstrip() + "\n")
    out.append("## Results\n")
    if meta.get("cmdline"):
        out.append(f"Our guest's extra kernel command line on the TAP: `{meta['cmdline']}`.\n")
    out.append(f"Generated by `make bench{' BENCH_QUICK=1' if args.quick else ''}` on {meta['date']} "
               f"from revision `{meta.get('revision', '?')}` "
               f"in {elapsed / 60:.1f} minutes. Host: {meta['cpu']}, {meta['cores']} cores, Linux "
               f"{meta['host_kernel']}, {meta['qemu']}, accelerator **{meta['accel'].upper()}**"
               f"{' (nested KVM: label, not a TCG number)' if meta['accel'] == 'kvm' else ''}; "
               f"other processes used {meta.get('foreign_cpu_pct', 0):.0f}% of the host's CPU time during the run "
               f"(other work skews TCG numbers). Each guest: `-machine pc -m {args.memory}`, one vCPU, "
               f"`-device virtio-net-pci` on `-netdev tap` (QEMU's userspace backend, no vhost). "
               f"{args.runs} run(s) of each measurement, {args.seconds} s each; cells show the median and, in "
               f"brackets, half the range of the runs as a share of the median.\n")
    if "linux" in results:
        li = results.get("linux_build", {})
        out.append(f"Linux guest: Debian `{li.get('kernel_package', '?')}` booted uncompressed (vmlinux, "
                   f"PVH entry), busybox initramfs, modules {', '.join(li.get('modules', []))}; "
                   f"`udpsrv` (recvmmsg/sendmmsg) serves echo and discard.\n")
    out.append(table(results, rows) + "\n")
    modes = []
    for g in ("ours", "linux"):
        if g in results:
            picks = [f"{s} B: {results[g][f'echo{s}'][0]['client']}s" for s in SIZES if results[g].get(f"echo{s}")]
            modes.append(f"{results[g]['label']} ({', '.join(picks)})")
    if modes:
        out.append("Better echo client mode, used in the \"best client\" rows and the plot: " + "; ".join(modes) + ".\n")
    if "linux_bz" in results:
        s = summary(values(results["linux_bz"], "boot", "boot_ms"))
        out.append(f"Linux booted the usual way, from the compressed bzImage (decompression included): "
                   f"first echo reply after {fmt_cell(s, 0)} ms.\n")
    for p in plot_files:
        out.append(f"![{p.stem}]({p.name})\n")
    sweep = sweep_table(results)
    if sweep:
        out.append("Receive ceiling: 64-byte datagrams to the discard port at rising offered rates (one "
                   f"{min(2.0, args.seconds):g}-second run each). Where the counted rate stops rising while "
                   "the guest still idles, QEMU's TAP backend (or the host) is the limit.\n")
        out.append(sweep + "\n")
    for g in ("ours", "linux"):
        errs = results.get(g, {}).get("errors")
        if errs:
            out.append(f"Runs that failed for {results[g]['label']} (left out of the medians; the guest was "
                       f"booted again after each; its own account is in `{g}-failure-N.txt` in the work "
                       "directory):\n\n" + "\n".join(f"- {e}" for e in errs) + "\n")
    kc = results.get("kvm_check")
    if kc is not None:
        tcg = summary(values(results.get("ours", {}), "echo64", "replies_per_s"))
        if not kc.get("works"):
            out.append("KVM: `/dev/kvm` is present but our guest did not answer under it; TCG only.\n")
        else:
            faster = tcg and kc["echo64_replies_per_s"] > tcg["median"]
            out.append(f"KVM: `/dev/kvm` is present; under it our guest answered its first echo "
                       f"{kc['boot_ms']:.0f} ms after QEMU start and echoed {kc['echo64_replies_per_s']:,.0f} "
                       f"64-byte requests/s (TCG: {tcg['median'] if tcg else 0:,.0f}). "
                       + ("KVM is faster here: `make bench BENCH_ACCEL=kvm` measures both guests under it.\n"
                          if faster else "That is slower than TCG (a nested or emulated KVM), so the "
                          "comparison stays on TCG.\n"))
    ours = results.get("ours")
    if ours:
        out.append("## Our guest\n")
        img = ours.get("image", {})
        out.append(f"- Image `build/kernel.elf`: {img.get('load_bytes', 0) / 1024:.1f} KiB loaded from the file "
                   f"(text + data), {img.get('memory_bytes', 0) / 1024:.1f} KiB in memory with bss and stacks, "
                   f"{img.get('file_bytes', 0) / 1024:.1f} KiB on disk with symbols and debug information.")
        mm = ours.get("min_memory_mb")
        if mm:
            out.append(f"- Smallest `-m` that boots, answers echo and echoes a 1-second window of 1400-byte "
                       f"requests with under 1% loss: **{mm} MiB**.")
        elif "min_memory_mb" in ours:
            out.append("- Smallest `-m`: not found (the guest did not run even at the default size).")
        out.append("")
        tl = ours.get("timeline")
        if tl:
            out.append("Boot timeline (guest TSC, from kernel entry; the last boot of the run):\n")
            out.append("| ms | event |\n|---|---|")
            out += [f"| {t['ms']:.3f} | {t['event']} |" for t in tl]
            out.append("")
        pt = perf_table(ours)
        if pt:
            out.append("Per-packet figures from the guest's `perf` (zeroed before each measurement, read "
                       "after; median over runs). Cycles are guest TSC cycles in our driver and stack.\n")
            out.append(pt + "\n")
        elif not ours.get("has_perf"):
            out.append("The guest has no `perf` command yet: no per-packet figures.\n")
        tx_lines = [r.get("guest_line") for k in ("tx64", "tx1400") for r in ours.get(k, []) if r.get("guest_line")]
        if tx_lines:
            out.append("What `blast` printed (its own clock):\n\n```\n" + "\n".join(tx_lines) + "\n```\n")
    vt = variant_table(results)
    if vt:
        out.append("### Ring, checksum offload and back-end\n")
        out.append("Each guest with the split and the packed ring (`packed=on`), checksum offload on and off "
                   "(ours: `vnet_csum=off vnet_guest_csum=off`; Linux: a device with `csum=off,guest_csum=off`), "
                   "on QEMU's TAP back-end (loadgen floods 64-byte datagrams at "
                   f"{meta.get('flood_rate', args.flood_rate):,}/s offered, counts the guest's 64-byte `blast`, "
                   "times sequential echoes) and on DPDK's vhost-user back-end (tools/bench/dpdk.py: testpmd's "
                   "txonly engine floods the guest as fast as it can, its rxonly engine counts the guest's "
                   "`blast`; no echo there, so no RTT). Every variant is booted afresh for each of "
                   f"{args.runs} run(s) of {meta.get('seconds', args.seconds):g} s each way; medians. "
                   "Cycles, interrupts and kicks per packet from our guest's `perf` (Linux has none). "
                   "The TAP's split/offload-on rows are the main runs above.\n")
        out.append(vt + "\n")
    if results.get("dpdk", {}).get("skipped"):
        out.append(f"vhost-user (DPDK) rows not measured: {results['dpdk']['skipped']}.\n")
    notes = Path(args.notes)
    if notes.exists() and not args.quick:
        out.append(notes.read_text().rstrip() + "\n")
    return "\n".join(out) + "\n"


# ---- main ------------------------------------------------------------------------------------
def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", default=str(ROOT / "build" / "kernel.elf"))
    ap.add_argument("--linux-dir", default=str(ROOT / "build" / "bench" / "linux"))
    ap.add_argument("--loadgen", default=str(ROOT / "build" / "bench" / "loadgen"))
    ap.add_argument("--workdir", default=str(ROOT / "build" / "bench" / "run"))
    ap.add_argument("--docs", default=str(ROOT / "docs"))
    ap.add_argument("--intro", default=str(ROOT / "tools" / "bench" / "intro.md"))
    ap.add_argument("--notes", default=str(ROOT / "tools" / "bench" / "notes.md"))
    ap.add_argument("--accel", default=os.environ.get("BENCH_ACCEL", "tcg"), choices=("tcg", "kvm"))
    ap.add_argument("--memory", type=int, default=128)
    ap.add_argument("--nic-props", default="",
                    help="extra virtio-net-pci properties for both guests, e.g. ',event_idx=off' "
                         "(to measure what a feature buys)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rtt-count", type=int, default=2000)
    ap.add_argument("--flood-rate", type=int, default=400000,
                    help="datagrams/s offered to the discard port (0: as fast as the host can)")
    ap.add_argument("--quick", action="store_true", help="our guest only, one run, short measurements")
    ap.add_argument("--no-linux", action="store_true")
    ap.add_argument("--no-dpdk", action="store_true", help="skip the vhost-user (DPDK testpmd) rows")
    ap.add_argument("--no-variants", action="store_true",
                    help="skip the TAP rows of the ring x checksum-offload table (packed ring, offload off)")
    ap.add_argument("--cmdline", default="",
                    help="more kernel command line for our guest on the TAP, e.g. "
                         "'vnet_csum=off vnet_guest_csum=off' (checksum offload off)")
    ap.add_argument("--no-memory", action="store_true", help="skip the -m bisection")
    ap.add_argument("--sweep", default="50000,100000,150000,200000,300000,400000,600000,800000",
                    help="offered rates (datagrams/s, comma-separated) for the 64-byte receive sweep; '' for none")
    ap.add_argument("--wait-quiet", type=float, default=120,
                    help="wait up to this many seconds for the host to be under 10%% busy before starting")
    ap.add_argument("--report-only", action="store_true",
                    help="measure nothing: rewrite the report and plots from the work directory's results.json")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.seconds, a.rtt_count, a.no_linux, a.no_memory, a.wait_quiet = 1, 1.5, 500, True, True, 0
    if a.nic_props or a.cmdline:
        a.no_variants = True  # the variants are QEMU's defaults changed one way at a time
    a.flood_sizes = (64, 1400)
    a.sweep_rates = [] if a.quick or not a.sweep else [int(x) for x in a.sweep.split(",")]
    a.seconds = max(0.5, min(a.seconds, 60))
    return a


def preflight(args):
    if not have_tap():
        raise SystemExit(f"bench: needs TAP devices in network namespaces, and this run has {describe_wire()}")
    for tool in ("ip", "qemu-system-x86_64"):
        if not shutil.which(tool):
            raise SystemExit(f"bench: {tool} not found (tools/deps.sh test)")
    for f in [args.kernel, args.loadgen] + ([] if args.no_linux else [Path(args.linux_dir) / "initramfs.cpio"]):
        if not Path(f).exists():
            raise SystemExit(f"bench: {f} is missing (make bench builds it)")
    if args.accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise SystemExit("bench: BENCH_ACCEL=kvm but /dev/kvm is not usable")


def measure(args, work):
    """Run every measurement; returns (results, ok)."""
    results = {"meta": dict(machine_info(), accel=args.accel, runs=args.runs, seconds=args.seconds,
                            flood_rate=args.flood_rate, date=time.strftime("%Y-%m-%d %H:%M %Z"),
                            host_busy_pct=wait_quiet(args.wait_quiet), quick=args.quick,
                            cmdline=args.cmdline)}
    if results["meta"]["host_busy_pct"] > 10:
        log(f"note: the host is {results['meta']['host_busy_pct']:.0f}% busy: TCG numbers suffer from other work")
    audit = CpuAudit()
    bench = Bench(args)
    try:
        bench.open_ns()
        ours = Ours(args)
        run_guest(bench, ours, results)
        results["ours"]["image"] = image_size(args.kernel)
        if not args.no_memory:
            results["ours"]["min_memory_mb"] = smallest_memory(bench, ours)
        if not args.no_dpdk:
            results["dpdk"] = dpdk.run(args, work, log)
        if not args.quick:
            results["kvm_check"] = kvm_check(args, work)  # its own namespace
            log(f"KVM check: {results['kvm_check']}")
        if not args.no_linux:
            ld = Path(args.linux_dir)
            if (ld / "linux.json").exists():
                results["linux_build"] = json.loads((ld / "linux.json").read_text())
            run_guest(bench, Linux(args), results)
            if (ld / "vmlinux").exists():
                bz = Linux(args, compressed=True)
                con, ms = bench.boot(bz, tag="-bz")
                bench.kill_guest()
                results["linux_bz"] = {"label": bz.label, "boot": [{"boot_ms": ms}] if ms else []}
                log(f"{bz.label}: first echo reply {ms:.0f} ms after QEMU start" if ms else f"{bz.label}: no reply")
        if not args.no_variants:
            results["tap_variants"] = tap_variants(bench, results)
    except (GuestError, RuntimeError, subprocess.TimeoutExpired) as e:
        log(f"FAILED: {e}")
        return results, False
    finally:
        bench.close()
        results["meta"]["foreign_cpu_pct"] = round(audit.foreign_pct(), 1)
    return results, True


def main():
    # SIGTERM (and Ctrl-C) unwind through the finally blocks: guests killed, namespace deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args()
    t0 = time.monotonic()
    work = Path(args.workdir)
    if args.report_only:
        results = json.loads((work / "results.json").read_text())
        elapsed = results["meta"].get("elapsed_s", 0)
    else:
        preflight(args)
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        results, ok = measure(args, work)
        elapsed = time.monotonic() - t0
        results["meta"]["elapsed_s"] = round(elapsed, 1)
        (work / "results.json").write_text(json.dumps(results, indent=1))
        if not ok:
            return 1
    derive_best(results)
    outdir = work if args.quick else Path(args.docs)
    outdir.mkdir(parents=True, exist_ok=True)
    plot_files = plots(results, work, outdir, "bench")
    md = report(results, args, plot_files, elapsed)
    md_path = outdir / ("quick.md" if args.quick else "benchmarks.md")
    md_path.write_text(md)
    rows = ROWS + flood_rows(args.flood_sizes, results["meta"].get("flood_rate", args.flood_rate))
    print()
    print(table(results, rows))
    print()
    pt = perf_table(results["ours"])
    if pt:
        print("our guest's perf:\n" + pt + "\n")
    vt = variant_table(results)
    if vt:
        print("ring, checksum offload and back-end:\n" + vt + "\n")
    log(f"wrote {md_path}" + "".join(f", {p}" for p in plot_files) + f"; raw results {work / 'results.json'}")
    log(f"done in {time.monotonic() - t0:.0f} s; other processes used "
        f"{results['meta'].get('foreign_cpu_pct', 0):.0f}% of the host's CPU time meanwhile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
