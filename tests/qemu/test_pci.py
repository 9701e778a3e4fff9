"""
tests/qemu/test_pci.py - PCI enumeration, BAR decoding, capabilities and MSI-X, checked in a
real guest (drivers/pci.c) through its boot log and the shell commands lspci, msix and pcimem.

Uses the `boot` fixture from tests/qemu/conftest.py:
    g = boot(machine="q35", devices=["virtio-net-pci,netdev=n0"], netdev=["user,id=n0"])
    g.wait_for(regex, timeout=30) -> re.Match      g.cmd("lspci", timeout=10) -> output text
    g.send(line)   g.wait_exit(timeout) -> QEMU's exit status   g.log -> serial text so far

Facts about QEMU's devices that the expectations rely on (QEMU 7.2, SeaBIOS):
  - virtio-net-pci transitional is 1af4:1000 (I/O BAR0 of 32 bytes, MSI-X table in BAR1,
    modern registers in a 16K 64-bit prefetchable BAR4); disable-legacy=on makes it
    1af4:1041, revision 01, without the I/O BAR.
  - its MSI-X table has `vectors` entries; the default for one queue pair is
    2 * queue pairs + 1 (config) + 1 (control queue) = 4.
  - behind a pcie-root-port (q35), disable-legacy=auto turns legacy off: 1af4:1041.
  - the pc machine has its host bridge at 00:00 and PIIX3 (ISA, IDE, ACPI) at 00:01; q35 has
    its host bridge at 00:00 and ICH9 (LPC, SATA, SMBus) at 00:1f. Those are part of the board.
    Everything else (VGA, a default NIC) depends on -nodefaults and QEMU's own choices, so every
    device a test adds gets an explicit addr= and the tests look only for those.
  - pci-testdev (1b36:0005) is a device no driver binds; membar=8G adds a 64-bit BAR too large
    for the 32-bit PCI window, which makes SeaBIOS place every 64-bit BAR above 4 GiB.
  - the modern virtio-net device config (the MAC first) sits at BAR4 + 0x2000.
"""
import re

from guest import nic

BDF = r"[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]"
# The serial console ends lines with \r\n: patterns matched against g.log allow the \r.
SUMMARY = r"pci: (\d+) devices on (\d+) buses"


def booted(g):
    """Wait for the scan summary; return (devices, buses) and check it against the lines."""
    m = g.wait_for(SUMMARY, timeout=30)
    g.wait_for(r"vnet> ", timeout=30)
    found = re.findall(rf"^pci: ({BDF}) [0-9a-f]{{4}}:[0-9a-f]{{4}} class ", g.log, re.M)
    assert len(found) == int(m.group(1)), g.log
    assert len(set(found)) == len(found), f"a function was recorded twice: {found}"
    return int(m.group(1)), int(m.group(2))


def lspci(g, bdf=None):
    out = g.cmd("lspci" if bdf is None else f"lspci {bdf}", timeout=10)
    return out.replace("\r", "")


def block(out, bdf):
    """The lspci lines of one function: its header line and the indented lines under it."""
    m = re.search(rf"^{re.escape(bdf)} .*?(?=^{BDF} |^\d+ devices on|\Z)", out, re.M | re.S)
    assert m, f"{bdf} missing from lspci output:\n{out}"
    return m.group(0)


def bars(blk):
    """{index: (kind, addr, size_text, rest)} from the BAR lines of an lspci block."""
    res = {}
    for m in re.finditer(r"^\tBAR(\d): (I/O ports|memory) at 0x([0-9a-f]+), size (\w+)(.*)$",
                         blk, re.M):
        res[int(m.group(1))] = (m.group(2), int(m.group(3), 16), m.group(4), m.group(5))
    return res


SIZES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size_bytes(text):
    if text[-1] in SIZES:
        return int(text[:-1]) * SIZES[text[-1]]
    return int(text)


def check_aligned(b):
    """Every decoded BAR is a power of two in size and naturally aligned (PCI 3.0 6.2.5.1)."""
    for i, (_, addr, size, _) in b.items():
        n = size_bytes(size)
        assert n & (n - 1) == 0, f"BAR{i} size {size} is not a power of two"
        assert addr % n == 0, f"BAR{i} at {addr:#x} is not aligned to its size {size}"


def check_transitional_nic(blk):
    assert re.match(r"[0-9a-f:.]+ 1af4:1000 class 02/00 network controller", blk), blk
    b = bars(blk)
    kind, addr, size, _ = b[0]
    assert kind == "I/O ports" and size == "32" and 0x1000 <= addr <= 0xffff, blk
    assert b[1][0] == "memory" and b[1][2] == "4K" and "32-bit, non-prefetchable" in b[1][3], blk
    assert b[4][0] == "memory" and b[4][2] == "16K" and "64-bit, prefetchable" in b[4][3], blk
    assert 5 not in b, "the upper half of 64-bit BAR4 must not be listed as a BAR"
    check_aligned(b)
    assert re.search(r"^\tIRQ: line \d+, pin INTA$", blk, re.M), blk
    assert re.search(r"^\tcapability \[[0-9a-f]{2}\] MSI-X \(0x11\)$", blk, re.M), blk
    assert len(re.findall(r"vendor specific \(0x09\)", blk)) == 5, blk  # virtio 1.x caps
    assert re.search(r"^\tMSI-X: table size 4, table BAR1\+0x0, PBA BAR1\+0x800, ", blk, re.M), blk
    assert re.search(r"^\tdriver: \S+", blk, re.M), blk


def check_modern_nic(blk):
    assert re.match(r"[0-9a-f:.]+ 1af4:1041 class 02/00 network controller .*rev 01\)", blk), blk
    b = bars(blk)
    assert all(kind == "memory" for kind, *_ in b.values()), f"modern-only has no I/O BAR:\n{blk}"
    assert b[4][0] == "memory" and b[4][2] == "16K" and "64-bit, prefetchable" in b[4][3], blk
    assert 5 not in b, blk
    check_aligned(b)
    assert re.search(r"^\tMSI-X: table size 4, table BAR1\+0x0, ", blk, re.M), blk


def test_pc_transitional(boot):
    g = boot(machine="pc", devices=[nic(addr="3", mac=None), "pci-testdev,addr=6"], netdev=["user,id=n0"])
    g.wait_for(r"^pci: 00:03\.0 1af4:1000 class 02/00 network controller\r?$")
    ndev, nbus = booted(g)
    assert nbus == 1
    assert ndev >= 6  # host bridge, ISA bridge, IDE, ACPI, the NIC, the test device
    for line in (r"00:00\.0 8086:1237 class 06/00 host bridge",
                 r"00:01\.1 8086:7010 class 01/01 IDE controller",  # function 1: multifunction
                 r"00:01\.3 8086:7113 class 06/80"):
        assert re.search(rf"^pci: {line}", g.log, re.M), line
    out = lspci(g)
    check_transitional_nic(block(out, "00:03.0"))
    assert re.search(rf"^{ndev} devices on 1 buses", out, re.M), out
    # BAR sizing turns decoding off for a moment: the firmware's I/O and memory enables must
    # be back on afterwards (no driver binds the test device, so nothing else sets them).
    cmd = re.search(r"^\tcommand 0x([0-9a-f]{4}), ", block(out, "00:06.0"), re.M)
    assert cmd and int(cmd.group(1), 16) & 0x3 == 0x3, out


def test_q35_transitional(boot):
    g = boot(machine="q35", devices=[nic(addr="2", mac=None)], netdev=["user,id=n0"])
    g.wait_for(r"^pci: 00:02\.0 1af4:1000 class 02/00 network controller\r?$")
    _, nbus = booted(g)
    assert nbus == 1
    # ICH9 at 00:1f is multifunction: functions 2 and 3 must be found too.
    assert re.search(r"^pci: 00:1f\.0 8086:2918 class 06/01 ISA bridge\r?$", g.log, re.M)
    assert re.search(r"^pci: 00:1f\.2 8086:2922 class 01/06 SATA controller\r?$", g.log, re.M)
    assert re.search(r"^pci: 00:1f\.3 8086:2930 class 0c/05 SMBus controller\r?$", g.log, re.M)
    check_transitional_nic(block(lspci(g, "00:02.0"), "00:02.0"))


def test_modern_only_pc(boot):
    g = boot(machine="pc", devices=[nic("disable-legacy=on", addr="5", mac=None)], netdev=["user,id=n0"])
    g.wait_for(r"^pci: 00:05\.0 1af4:1041 class 02/00 network controller\r?$")
    booted(g)
    check_modern_nic(block(lspci(g, "00:05.0"), "00:05.0"))


def test_modern_only_q35(boot):
    g = boot(machine="q35", devices=[nic("disable-legacy=on", addr="4", mac=None)], netdev=["user,id=n0"])
    g.wait_for(r"^pci: 00:04\.0 1af4:1041 class 02/00 network controller\r?$")
    booted(g)
    check_modern_nic(block(lspci(g, "00:04.0"), "00:04.0"))


def test_q35_behind_root_port(boot):
    g = boot(machine="q35",
             devices=["pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=3",
                      nic("bus=rp1", addr=None, mac=None)],
             netdev=["user,id=n0"])
    g.wait_for(r"^pci: 00:03\.0 1b36:000c class 06/04 PCI bridge \[bus 01-01\]\r?$")
    g.wait_for(r"^pci: 01:00\.0 1af4:1041 class 02/00 network controller\r?$")
    _, nbus = booted(g)
    assert nbus == 2
    out = lspci(g)
    rp = block(out, "00:03.0")
    assert "\tbridge: secondary bus 01, subordinate bus 01\n" in rp, rp
    assert re.search(r"^\tcapability \[[0-9a-f]{2}\] PCI Express \(0x10\)$", rp, re.M), rp
    assert "\tMSI-X: table size 1, " in rp, rp
    dev = block(out, "01:00.0")
    check_modern_nic(dev)
    assert re.search(r"^\tcapability \[[0-9a-f]{2}\] PCI Express \(0x10\)$", dev, re.M), dev
    assert re.search(r"^\tcapability \[[0-9a-f]{2}\] power management \(0x01\)$", dev, re.M), dev
    assert re.search(r"^\d+ devices on 2 buses$", out, re.M), out


def test_msix_table_size_follows_vectors(boot):
    g = boot(machine="pc",
             devices=[nic("vectors=3", addr="4", mac=None), nic("vectors=9", addr="5", mac=None, netdev="n1")],
             netdev=["user,id=n0", "user,id=n1"])
    booted(g)
    out = lspci(g)
    assert "\tMSI-X: table size 3, " in block(out, "00:04.0")
    # 9 entries: the PBA needs more than the first dword (entries 0-31 fit in one qword).
    assert "\tMSI-X: table size 9, " in block(out, "00:05.0")
    dump = g.cmd("msix 00:05.0", timeout=10).replace("\r", "")
    assert re.search(r"^00:05\.0 MSI-X: 9 entries, table at 0x[0-9a-f]+, PBA at 0x[0-9a-f]+", dump,
                     re.M), dump
    assert len(re.findall(r"^\tentry \d+: addr 0x[0-9a-f]{16} data 0x[0-9a-f]{8} ", dump, re.M)) == 9


def test_nested_bridges_and_multifunction(boot):
    g = boot(machine="pc",
             devices=["pci-bridge,id=br1,chassis_nr=1,addr=5",
                      "pci-bridge,id=br2,chassis_nr=2,bus=br1,addr=2",
                      "pci-testdev,bus=br2,addr=7",
                      "pci-testdev,multifunction=on,addr=6.0",
                      "pci-testdev,addr=6.5"])
    g.wait_for(r"^pci: 00:05\.0 1b36:0001 class 06/04 PCI bridge \[bus 01-02\]\r?$")
    g.wait_for(r"^pci: 01:02\.0 1b36:0001 class 06/04 PCI bridge \[bus 02-02\]\r?$")
    g.wait_for(r"^pci: 02:07\.0 1b36:0005 class ")
    _, nbus = booted(g)
    assert nbus == 3
    assert re.search(r"^pci: 00:06\.0 1b36:0005 ", g.log, re.M)
    assert re.search(r"^pci: 00:06\.5 1b36:0005 ", g.log, re.M)
    # Only 6.0 and 6.5 exist: no phantom functions.
    assert not re.search(r"^pci: 00:06\.[1-46-7] ", g.log, re.M), g.log
    assert not re.search(r"^pci: 00:03\.[1-7] ", g.log, re.M), g.log
    out = lspci(g, "02:07.0")
    b = bars(block(out, "02:07.0"))
    assert b[0][0] == "memory" and b[0][2] == "4K", out
    assert b[1][0] == "I/O ports" and b[1][2] == "256", out
    check_aligned(b)


def test_64bit_bar_above_4g(boot):
    mac = "52:54:00:12:34:56"
    g = boot(machine="pc",
             devices=["pci-testdev,membar=8G,addr=6",
                      nic("disable-legacy=on", addr="4", mac=mac)],
             netdev=["user,id=n0"])
    booted(g)
    out = lspci(g)
    big = bars(block(out, "00:06.0"))
    # 8G: the size comes from the upper half of the BAR pair alone.
    assert big[2][2] == "8G" and "64-bit, prefetchable" in big[2][3], out
    assert big[2][1] >= 1 << 32, "SeaBIOS should have placed the 8G BAR above 4 GiB"
    assert 3 not in big, "BAR3 is the upper half of BAR2, not a BAR of its own"
    check_aligned(big)
    nb = bars(block(out, "00:04.0"))
    assert nb[4][1] >= 1 << 32 and nb[4][2] == "16K", out
    # Read the MAC through pci_iomap -> ioremap: proves the high mapping reaches the device.
    dump = g.cmd("pcimem 00:04.0 4 0x2000 2", timeout=10).replace("\r", "")
    words = re.findall(r"^BAR4\+0x200[04] \(phys 0x([0-9a-f]+)\): 0x([0-9a-f]{8})$", dump, re.M)
    assert len(words) == 2, dump
    assert int(words[0][0], 16) == nb[4][1] + 0x2000
    raw = int(words[0][1], 16).to_bytes(4, "little") + int(words[1][1], 16).to_bytes(4, "little")[:2]
    assert raw == bytes(int(x, 16) for x in mac.split(":")), dump


def test_pcimem_bounds(boot):
    g = boot(machine="pc", devices=[nic(addr="4", mac=None)], netdev=["user,id=n0"])
    booted(g)
    for args in ("4 0x4000", "4 0x3ffc 2", "0 0", "5 0", "2 0"):
        out = g.cmd(f"pcimem 00:04.0 {args}", timeout=10)
        assert "is not inside a mapped memory BAR" in out, (args, out)
    out = g.cmd("pcimem 00:04.0 4 0x3ffc", timeout=10)  # the last dword of the 16K BAR
    assert re.search(r"BAR4\+0x3ffc \(phys 0x[0-9a-f]+\): 0x[0-9a-f]{8}", out), out


def test_msix_selftest_on_root_port(boot):
    # A root port has MSI-X and no driver will claim it: safe to program and enable.
    g = boot(machine="q35", devices=["pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=3"])
    booted(g)
    before = block(lspci(g, "00:03.0"), "00:03.0")
    out = g.cmd("msix 00:03.0 selftest", timeout=10)
    assert "msix: selftest passed on 00:03.0 entry 0" in out, out
    assert "FAILED" not in out, out
    after = block(lspci(g, "00:03.0"), "00:03.0")
    # MSI-X off again, INTx and the command register as they were.
    assert after == before, (before, after)
    dump = g.cmd("msix 00:03.0", timeout=10)
    assert re.search(r"entry 0: addr 0x[0-9a-f]{16} data 0x[0-9a-f]{8} masked", dump), dump


def test_shell_errors_and_clean_exit(boot):
    g = boot(machine="q35", devices=[nic(addr="2", mac=None)], netdev=["user,id=n0"])
    booted(g)
    assert "lspci: no device at 09:00.0" in g.cmd("lspci 09:00.0", timeout=10)
    assert "usage: lspci" in g.cmd("lspci 0:3.0", timeout=10)
    assert "usage: msix" in g.cmd("msix", timeout=10)
    assert "no such device" in g.cmd("msix 00:1f.0", timeout=10)  # ISA bridge: no MSI-X
    g.send("exit 0")
    assert g.wait_exit(10) == 1
    assert not re.search(r"EXCEPTION|fatal exception|panic", g.log), g.log
