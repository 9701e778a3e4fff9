"""
tests/qemu/test_virtio.py - the virtio core and both PCI transports in a real guest.

For each QEMU configuration the issue names (transitional, disable-legacy=on,
disable-modern=on; machines pc and q35; INTx with vectors=0 and MSI-X; rx_queue_size=1024),
the guest must run the status sequence of virtio 1.x 3.1.1 to DRIVER_OK, with its own
self-checks quiet, and the `virtio` shell command must report what was chosen. A forced
transport the device cannot offer fails with a clear message, never a hang.

No traffic here: `-netdev user` gives the NIC a peer; the guest sends nothing.
"""
import re

import pytest

from guest import nic
from qemu_view import virtio_status


def boot_nic(boot, *props, machine="pc", append=""):
    g = boot(machine=machine, devices=[nic(*props, mac=None)], netdev=["user,id=n0"], append=append)
    g.wait_for(r"ready: boot complete", timeout=60)
    g.wait_for(r"vnet> ", timeout=30)
    return g


def ring_kinds(info):
    """Each queue's ring layout as `virtio` lists it: split or packed."""
    return re.findall(r"^  queue \d+ \w+ .* (split|packed) ring", info, re.M)


def status_steps(log):
    return re.findall(r"virtio0: \[ *[\d.]+ ms\] status \+= (\w+) +-> 0x([0-9a-f]{2})", log)


def virtio_info(g):
    return g.cmd("virtio", timeout=10).replace("\r", "")


CONFIGS = [
    # (id, device props, machine, transport, interrupt mode)
    ("transitional-pc-msix", [], "pc", "modern", "MSI-X per-queue"),
    ("transitional-q35-msix", [], "q35", "modern", "MSI-X per-queue"),
    ("modern-only-pc", ["disable-legacy=on"], "pc", "modern", "MSI-X per-queue"),
    ("legacy-only-pc", ["disable-modern=on"], "pc", "legacy", "MSI-X per-queue"),
    ("legacy-only-q35-intx", ["disable-modern=on", "vectors=0"], "q35", "legacy", "INTx"),
    ("modern-intx-pc", ["vectors=0"], "pc", "modern", "INTx"),
    ("modern-q35-intx", ["disable-legacy=on", "vectors=0"], "q35", "modern", "INTx"),
    ("shared-vector", ["vectors=2"], "pc", "modern", "MSI-X shared"),
    # VIRTIO_F_RING_PACKED offered (modern only): negotiated, both queues packed
    ("modern-packed-pc", ["packed=on"], "pc", "modern", "MSI-X per-queue"),
    ("modern-packed-q35-intx", ["packed=on", "disable-legacy=on", "vectors=0"], "q35", "modern", "INTx"),
]


@pytest.mark.parametrize("props,machine,transport,irq", [c[1:] for c in CONFIGS],
                         ids=[c[0] for c in CONFIGS])
def test_status_sequence_and_virtio_command(boot, props, machine, transport, irq):
    g = boot_nic(boot, *props, machine=machine)
    steps = status_steps(g.log)
    names = [s[0] for s in steps]
    if transport == "modern":
        assert names == ["ACKNOWLEDGE", "DRIVER", "FEATURES_OK", "DRIVER_OK"], g.log
        assert [s[1] for s in steps] == ["01", "03", "0b", "0f"]
    else:  # legacy devices have no FEATURES_OK step
        assert names == ["ACKNOWLEDGE", "DRIVER", "DRIVER_OK"], g.log
        assert [s[1] for s in steps] == ["01", "03", "07"]
    assert "SPEC RULE BROKEN" not in g.log
    assert "FAILED" not in g.log

    info = virtio_info(g)
    assert re.search(rf"virtio0: type 1, pci 00:04\.0, {transport} transport, driver virtio_net", info), info
    assert f"interrupts: {irq}" in info, info
    status = "0x0f ACKNOWLEDGE DRIVER DRIVER_OK FEATURES_OK" if transport == "modern" else "0x07 ACKNOWLEDGE DRIVER DRIVER_OK"
    assert f"status: {status}" in info, info
    if transport == "modern":
        assert "VERSION_1(32)" in info
    else:
        assert "VERSION_1" not in info.split("features:")[1].split("\n")[0]
    # both queues exist, the receive queue is full of posted buffers, nothing bad seen (the
    # transmit queue may hold the stack's gratuitous ARP for a moment)
    rx = re.search(r"queue 0 rx0\s+size\s+(\d+) free\s+(\d+) avail\.idx\s+(\d+)", info)
    tx = re.search(r"queue 1 tx0\s+size\s+(\d+) free\s+(\d+)", info)
    assert rx and tx, info
    assert int(rx.group(2)) == 0 and int(rx.group(3)) == int(rx.group(1))
    assert int(tx.group(1)) - int(tx.group(2)) <= 2
    # the control queue (VIRTIO_NET_F_CTRL_VQ, index 2 without MQ): the probe's commands
    # all answered, nothing left on it
    ctrl = re.search(r"queue 2 ctrl\s+size\s+(\d+) free\s+(\d+)", info)
    assert ctrl and ctrl.group(1) == ctrl.group(2), info
    assert re.findall(r"bad entries: id (\d+) len (\d+) idx (\d+)", info) == [("0", "0", "0")] * 3
    packed = "packed=on" in props
    assert ("RING_PACKED(34)" in info.split("features:")[1].split("\n")[0]) == packed, info
    assert ring_kinds(info) == ["packed" if packed else "split"] * 3, info
    # The device's side, not the driver's own print: QEMU's monitor must hold the same status
    # byte and the same accepted features as the guest says it wrote.
    dev = virtio_status(g)
    assert dev["status"] == (0x0f if transport == "modern" else 0x07), dev["text"]
    said = sum(1 << int(b) for b in re.findall(r"\((\d+)\)", info.split("features:")[1].split("\n")[0]))
    assert dev["guest"] == said, (hex(dev["guest"]), hex(said), info, dev["text"])


def test_intx_interrupts_are_acknowledged_through_isr(boot):
    """With vectors=0 a config interrupt (link change) arrives on INTx, vp_interrupt reads the
    ISR, and the guest notices the link going down and up."""
    g = boot_nic(boot, "vectors=0")
    g.monitor("set_link n0 off")
    g.wait_for(r"eth0: link down", timeout=20)
    g.monitor("set_link n0 on")
    g.wait_for(r"eth0: link up", timeout=20)
    info = virtio_info(g)
    m = re.search(r"interrupts: INTx irq (\d+); ISR reads (\d+)", info)
    assert m and int(m.group(2)) >= 2, info
    assert re.search(r"config changes ([2-9]|\d\d+)", info), info


def test_msix_config_vector_used_for_link_change(boot):
    g = boot_nic(boot)
    g.monitor("set_link n0 off")
    g.wait_for(r"eth0: link down", timeout=20)
    info = virtio_info(g)
    m = re.search(r"config vector 0 -> irq (\d+) \((\d+)\)", info)
    assert m and int(m.group(2)) >= 1, info


def test_rx_queue_size_1024(boot):
    g = boot_nic(boot, "rx_queue_size=1024", "tx_queue_size=256")
    info = virtio_info(g)
    assert re.search(r"queue 0 rx0\s+size\s+1024 free\s+0 avail\.idx\s+1024", info), info


@pytest.mark.parametrize("props,append,ring,message", [
    (["packed=on"], "virtio_ring=split", "split", None),
    (["packed=on"], "virtio_ring=packed", "packed", None),
    ([], "virtio_ring=packed", "split",
     r"virtio0: virtio_ring=packed, but the device does not offer RING_PACKED\(34\) \(QEMU: -device virtio-net-pci,packed=on\); using the split ring"),
    (["packed=on", "disable-modern=on"], "virtio_ring=packed", "split",
     r"virtio0: virtio_ring=packed, but the device does not offer RING_PACKED\(34\) \(a legacy transport never can\); using the split ring"),
    (["packed=on"], "virtio_ring=circular", "packed",
     r"virtio0: virtio_ring=circular not understood \(split or packed\); the packed ring when offered"),
], ids=["offered-forced-split", "offered-forced-packed", "not-offered-forced-packed", "legacy-forced-packed",
        "bad-value"])
def test_ring_choice(boot, props, append, ring, message):
    """virtio_ring= on the command line: the ring asked for when the device offers it, else a
    clear message and the split ring; either way the device runs."""
    g = boot_nic(boot, *props, append=append)
    if message:
        assert re.search(message, g.log), g.log
    else:
        assert "virtio0: virtio_ring=" not in g.log, g.log
    info = virtio_info(g)
    assert ring_kinds(info) == [ring] * 3, info
    assert ("RING_PACKED(34)" in info.split("features:")[1].split("\n")[0]) == (ring == "packed"), info
    rx = re.search(r"queue 0 rx0\s+size\s+(\d+) free\s+0 avail\.idx\s+(\d+)", info)
    assert rx and rx.group(1) == rx.group(2), info


@pytest.mark.parametrize("props,force,transport", [
    ([], "legacy", "legacy"),
    ([], "modern", "modern"),
    (["disable-modern=on"], "legacy", "legacy"),
    (["disable-legacy=on"], "modern", "modern"),
], ids=["transitional-forced-legacy", "transitional-forced-modern", "legacy-forced-legacy", "modern-forced-modern"])
def test_forced_transport(boot, props, force, transport):
    g = boot_nic(boot, *props, append=f"virtio={force}")
    assert f"virtio0: device type 1 on pci 00:04.0, {transport}" in g.log
    assert re.search(r"status \+= DRIVER_OK", g.log)


@pytest.mark.parametrize("props,force,hint", [
    (["disable-legacy=on"], "legacy", "disable-legacy=on"),
    (["disable-modern=on"], "modern", "disable-modern=on"),
], ids=["modern-only-forced-legacy", "legacy-only-forced-modern"])
def test_impossible_transport_fails_clearly(boot, props, force, hint):
    g = boot_nic(boot, *props, append=f"virtio={force}")
    assert re.search(rf"cannot use the {force} interface as virtio={force} asks: the device does not offer it.*{hint}",
                     g.log), g.log
    info = virtio_info(g)
    assert "no virtio devices" in info
    assert "DRIVER_OK" not in g.log
    # and the machine stays usable
    assert "uptime:" in g.cmd("uptime")


def test_status_rule_checker_reports_a_lost_bit(boot):
    """A deliberately broken sequence (test hook) is caught by the self-check, not ignored."""
    g = boot_nic(boot, append="virtio_selftest=clobber")
    g.wait_for(r"SPEC RULE BROKEN \(virtio 1\.x 2\.1\.2/3\.1\.1\): a status bit we set has vanished", timeout=10, since=0)
    assert re.search(r"rule violations [1-9]", virtio_info(g))
