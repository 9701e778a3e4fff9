"""tools/bench/dpdk.py - make bench's vhost-user rows: our guest on DPDK's testpmd.

QEMU's TAP back-end moves a frame with a system call and a copy in QEMU's main loop; testpmd's
net_vhost port (tests/qemu/testpmd.py) reads and fills the guest's rings itself, polling, from
another process, so the back-end costs the guest far less. For each ring (split, packed) and
checksum offload on or off (vnet_csum= and vnet_guest_csum= on our command line), one guest:
  rx  testpmd's txonly engine sends 64-byte UDP datagrams (106-byte frames) to the guest's
      discard port as fast as it can, asking for UDP checksum offload (--tx-offloads=0x4): to a
      guest with GUEST_CSUM DPDK hands them with NEEDS_CSUM, to one without it completes the
      sum in software and the guest checks it; the guest counts what it received (udp
      discard_packets) and its `perf` gives cycles, kicks and interrupts per packet.
  tx  testpmd's rxonly engine counts what arrives; the guest's `blast` sends 64-byte datagrams
      to the limited broadcast (nothing here answers ARP) for the measurement's seconds.
The Linux guest (tools/bench/mklinux.py) runs the same two measurements on each ring, with
checksum offload on (its default) and off (the device offers neither CSUM nor GUEST_CSUM:
csum=off,guest_csum=off): `udpsrv stats` counts what it received, and `udpsrv blast`
sends to 10.0.2.2 after a permanent neighbour entry for testpmd's side (nothing answers ARP).
It has no `perf`, so its rows have rates only.
Everything is stopped by PID when a row ends (testpmd: quit, then SIGKILL; QEMU: SIGTERM,
then SIGKILL). testpmd keeps one host CPU busy while it runs.
"""
import re
import time
from pathlib import Path

import testpmd
from counters import parse_counters, parse_perf
from guest import GUEST_MAC, Guest, GuestError, nic, qemu_argv

GUEST_IP, HOST_IP = "10.0.2.15", "10.0.2.2"
HOST_MAC = "02:00:00:00:00:02"  # testpmd's side, for the Linux guest's neighbour entry
PAYLOAD = 64
FRAME = 14 + 20 + 8 + PAYLOAD
# (guest, ring, packed, checksum offload): one line per variant
VARIANTS = [("ours", "split", False, True), ("ours", "split", False, False),
            ("ours", "packed", True, True), ("ours", "packed", True, False),
            ("linux", "split", False, True), ("linux", "split", False, False),
            ("linux", "packed", True, True), ("linux", "packed", True, False)]
# Checksum offload off: our guest by its own switches (the feature under test); Linux, which
# has no switch in its initramfs (busybox has no ethtool), by a device that does not offer them.
CSUM_OFF = "vnet_csum=off vnet_guest_csum=off"
CSUM_OFF_PROPS = ("csum=off", "guest_csum=off")
GUESTS = {  # what differs: kernel, command line, readiness, prompt, and how to ask things
    "ours": {"label": "vnet-kernel", "prompt": "vnet> ", "ready": r"(?:^|vnet> )net: ready ip=10\.0\.2\.15 ",
             "stats": "inetstat", "blast": [f"blast 255.255.255.255 5001 {PAYLOAD} {{secs}}"]},
    "linux": {"label": "Linux", "prompt": "linux> ", "ready": r"bench-linux: ready", "stats": "udpsrv stats",
              "blast": [f"arp -s {HOST_IP} {HOST_MAC}",  # busybox: its ip has no neigh replace
                        f"udpsrv blast {HOST_IP} 5001 {PAYLOAD} {{secs}}"]},
}


def cmd(g, kind, line, timeout=30):
    """A line typed on the guest's console; its output up to the next prompt."""
    g.send(line)
    echo = g.wait_for(re.escape(line) + r"\n", timeout)
    end = g.wait_for(re.escape(GUESTS[kind]["prompt"]), timeout)
    return g.log[echo.end():end.start()]


def boot(args, work, sock, kind, packed, csum, name):
    append = f"ip={GUEST_IP}/24 gw={HOST_IP}"
    extra = testpmd.qemu_args(sock, packed=packed)
    props = () if csum or kind == "ours" else CSUM_OFF_PROPS
    if kind == "ours":
        kernel = args.kernel
        append += "" if csum else " " + CSUM_OFF
    else:
        d = Path(args.linux_dir)
        kernel = d / ("vmlinux" if (d / "vmlinux").exists() else "vmlinuz")
        append = "console=ttyS0 quiet panic=-1 " + append
        extra += ["-initrd", str(d / "initramfs.cpio")]
    argv = qemu_argv(kernel=kernel, append=append, machine="pc", memory=testpmd.MEMORY_MB, accel=args.accel,
                     devices=[nic(*props, mac=GUEST_MAC)], netdev=[testpmd.netdev()], extra=extra)
    g = Guest(argv, work, name=name)
    g.wait_for(GUESTS[kind]["ready"], timeout=180)
    g.wait_for(re.escape(GUESTS[kind]["prompt"]), timeout=30)
    return g


def discard(g, kind):
    return parse_counters(cmd(g, kind, GUESTS[kind]["stats"])).get("udp.discard_packets", 0)


def perf(g, kind, zero=False):
    if kind != "ours":
        return None
    out = cmd(g, kind, "perf -z" if zero else "perf")
    return None if zero else parse_perf(out)


def measure_rx(g, kind, pmd, seconds):
    before = discard(g, kind)
    perf(g, kind, zero=True)
    pmd.cmd("set fwd txonly")
    t0 = time.monotonic()
    pmd.cmd("start")
    time.sleep(seconds)
    pmd.cmd("stop")
    elapsed = time.monotonic() - t0
    p = perf(g, kind)
    time.sleep(0.2)
    got = discard(g, kind) - before
    return {"guest_received": got, "seconds": elapsed, "guest_per_s": got / elapsed, "perf": p}


def measure_tx(g, kind, pmd, seconds):
    secs = max(1, round(seconds))
    pmd.cmd("set fwd rxonly")
    before = pmd.port_stats(0)["rx"]
    pmd.cmd("start")
    perf(g, kind, zero=True)
    out = ""
    for line in GUESTS[kind]["blast"]:
        out = cmd(g, kind, line.format(secs=secs), timeout=secs + 60)
    p = perf(g, kind)
    time.sleep(0.2)
    pmd.cmd("stop")
    got = pmd.port_stats(0)["rx"] - before
    m = re.search(r"blast: (\d+) datagrams", out)
    if not m:
        raise RuntimeError(f"blast said: {out.strip()}")
    return {"guest_sent": int(m.group(1)), "backend_received": got, "seconds": secs,
            "backend_per_s": got / secs, "guest_line": out.strip(), "perf": p}


def run(args, work, log):
    """Every variant once per --runs; returns {key: {"label", "rx": [...], "tx": [...]}} or
    {"skipped": why}. tools/bench/bench.py's variant_table shows them beside the TAP rows."""
    why = testpmd.unavailable()
    if why:
        log(f"vhost-user (DPDK) rows skipped: {why}")
        return {"skipped": why}
    res = {}
    txonly = ["--tx-offloads=0x4", f"--tx-ip={HOST_IP},{GUEST_IP}", "--tx-udp=9,9",
              f"--eth-peer=0,{GUEST_MAC}", f"--txpkts={FRAME}"]
    for kind, ring, packed, csum in VARIANTS:
        if kind == "linux" and (args.no_linux or not (Path(args.linux_dir) / "initramfs.cpio").exists()):
            continue
        key = f"{kind}-{ring}-csum-{'on' if csum else 'off'}"
        label = f"{GUESTS[kind]['label']}, {ring} ring, checksum offload {'on' if csum else 'off'}"
        row = res.setdefault(key, {"label": label, "guest": GUESTS[kind]["label"], "ring": ring, "csum": csum,
                                   "rx": [], "tx": []})
        for i in range(args.runs):
            pmd = testpmd.TestPmd("txonly", extra=txonly, workdir=work)
            g = None
            try:
                g = boot(args, work, pmd.sock, kind, packed, csum, f"dpdk-{key}-{i}")
                rx = measure_rx(g, kind, pmd, args.seconds)
                row["rx"].append(rx)
                tx = measure_tx(g, kind, pmd, args.seconds)
                row["tx"].append(tx)
                log(f"vhost-user {label}: run {i + 1}/{args.runs}: guest received "
                    f"{rx['guest_per_s']:.0f}/s ({(rx['perf'] or {}).get('rx_cycles_per_pkt', 0):.0f} cycles/pkt), "
                    f"testpmd received {tx['backend_per_s']:.0f}/s "
                    f"({(tx['perf'] or {}).get('tx_cycles_per_pkt', 0):.0f} cycles/pkt)")
            except (GuestError, RuntimeError, OSError) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                log(f"vhost-user {label}: run {i + 1} FAILED: {first}")
                row.setdefault("errors", []).append(first)
            finally:
                if g:
                    g.kill()
                pmd.close()
    return res
