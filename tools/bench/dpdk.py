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
The Linux guest is not run here: see docs/benchmarks.md ("vhost-user back-end") for why.
Everything is stopped by PID when a row ends (testpmd: quit, then SIGKILL; QEMU: SIGTERM,
then SIGKILL). testpmd keeps one host CPU busy while it runs.
"""
import re
import time

import testpmd
from counters import parse_counters, parse_perf
from guest import GUEST_MAC, Guest, GuestError, nic, qemu_argv

GUEST_IP, HOST_IP = "10.0.2.15", "10.0.2.2"
PAYLOAD = 64
FRAME = 14 + 20 + 8 + PAYLOAD
# (ring, packed, checksum offload): one line per variant
VARIANTS = [("split", False, True), ("split", False, False), ("packed", True, True), ("packed", True, False)]
CSUM_OFF = "vnet_csum=off vnet_guest_csum=off"


def boot(args, work, sock, packed, csum, name):
    append = f"ip={GUEST_IP}/24 gw={HOST_IP}" + ("" if csum else " " + CSUM_OFF)
    argv = qemu_argv(kernel=args.kernel, append=append, machine="pc", memory=testpmd.MEMORY_MB,
                     accel=args.accel, devices=[nic(mac=GUEST_MAC)], netdev=[testpmd.netdev()],
                     extra=testpmd.qemu_args(sock, packed=packed))
    g = Guest(argv, work, name=name)
    g.wait_for(r"(?:^|vnet> )net: ready ip=10\.0\.2\.15 ", timeout=120)
    g.wait_for(r"vnet> ", timeout=30)
    return g


def discard(g):
    return parse_counters(g.cmd("inetstat", timeout=30)).get("udp.discard_packets", 0)


def measure_rx(g, pmd, seconds):
    before = discard(g)
    g.cmd("perf -z")
    pmd.cmd("set fwd txonly")
    t0 = time.monotonic()
    pmd.cmd("start")
    time.sleep(seconds)
    pmd.cmd("stop")
    elapsed = time.monotonic() - t0
    perf = parse_perf(g.cmd("perf", timeout=30))
    time.sleep(0.2)
    got = discard(g) - before
    return {"guest_received": got, "seconds": elapsed, "guest_per_s": got / elapsed, "perf": perf}


def measure_tx(g, pmd, seconds):
    secs = max(1, round(seconds))
    pmd.cmd("set fwd rxonly")
    before = pmd.port_stats(0)["rx"]
    pmd.cmd("start")
    g.cmd("perf -z")
    out = g.cmd(f"blast 255.255.255.255 5001 {PAYLOAD} {secs}", timeout=secs + 60)
    perf = parse_perf(g.cmd("perf", timeout=30))
    time.sleep(0.2)
    pmd.cmd("stop")
    got = pmd.port_stats(0)["rx"] - before
    m = re.search(r"blast: (\d+) datagrams .* in (\d+) ms", out)
    if not m:
        raise RuntimeError(f"blast said: {out.strip()}")
    return {"guest_sent": int(m.group(1)), "backend_received": got, "seconds": secs,
            "backend_per_s": got / secs, "guest_line": out.strip(), "perf": perf}


def run(args, work, log):
    """Every variant once per --runs; returns {key: {"label", "rx": [...], "tx": [...]}} or
    {"skipped": why}."""
    why = testpmd.unavailable()
    if why:
        log(f"vhost-user (DPDK) rows skipped: {why}")
        return {"skipped": why}
    res = {}
    txonly = ["--tx-offloads=0x4", f"--tx-ip={HOST_IP},{GUEST_IP}", "--tx-udp=9,9",
              f"--eth-peer=0,{GUEST_MAC}", f"--txpkts={FRAME}"]
    for ring, packed, csum in VARIANTS:
        key = f"{ring}-csum-{'on' if csum else 'off'}"
        row = res.setdefault(key, {"label": f"{ring} ring, checksum offload {'on' if csum else 'off'}",
                                   "ring": ring, "csum": csum, "rx": [], "tx": []})
        for i in range(args.runs):
            pmd = testpmd.TestPmd("txonly", extra=txonly, workdir=work)
            g = None
            try:
                g = boot(args, work, pmd.sock, packed, csum, f"dpdk-{key}-{i}")
                rx = measure_rx(g, pmd, args.seconds)
                row["rx"].append(rx)
                tx = measure_tx(g, pmd, args.seconds)
                row["tx"].append(tx)
                log(f"vhost-user {row['label']}: run {i + 1}/{args.runs}: guest received "
                    f"{rx['guest_per_s']:.0f}/s ({(rx['perf'] or {}).get('rx_cycles_per_pkt', 0):.0f} cycles/pkt), "
                    f"testpmd received {tx['backend_per_s']:.0f}/s "
                    f"({(tx['perf'] or {}).get('tx_cycles_per_pkt', 0):.0f} cycles/pkt)")
            except (GuestError, RuntimeError, OSError) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                log(f"vhost-user {row['label']}: run {i + 1} FAILED: {first}")
                row.setdefault("errors", []).append(first)
            finally:
                if g:
                    g.kill()
                pmd.close()
    return res


def _median(vals):
    vals = sorted(v for v in vals if v is not None)
    return vals[len(vals) // 2] if vals else None


def _fmt(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def table(res):
    """The markdown table of the vhost-user rows (medians over runs)."""
    if not res or "skipped" in res:
        return None
    lines = ["| ring | checksum offload | guest receives 64 B (/s) | rx cycles/pkt | rx interrupts/pkt "
             "| guest sends 64 B (testpmd counted /s) | tx cycles/pkt | tx kicks/pkt |",
             "|---|---|---|---|---|---|---|---|"]
    for row in res.values():
        rxp = [r.get("perf") or {} for r in row["rx"]]
        txp = [r.get("perf") or {} for r in row["tx"]]
        lines.append(" | ".join([
            f"| {row['ring']}", "on" if row["csum"] else "off",
            _fmt(_median([r["guest_per_s"] for r in row["rx"]])),
            _fmt(_median([p.get("rx_cycles_per_pkt") for p in rxp])),
            _fmt(_median([p.get("interrupts_per_pkt") for p in rxp]), 3),
            _fmt(_median([r["backend_per_s"] for r in row["tx"]])),
            _fmt(_median([p.get("tx_cycles_per_pkt") for p in txp])),
            _fmt(_median([p.get("kicks_per_pkt") for p in txp]), 3)]) + " |")
    return "\n".join(lines)
