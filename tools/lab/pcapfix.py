#!/usr/bin/python3
"""
tools/lab/pcapfix.py FILE - make a QEMU filter-dump capture readable as plain Ethernet.

QEMU 7.2's filter-dump on a virtio-net NIC writes each frame with the virtio-net header
space in front of it, all zeros (12 bytes on the way out, 10 on the way in), so Wireshark
decodes garbage. This rewrites FILE in place without it: a record starting with 12 zero bytes
loses 12, one starting with exactly 10 loses 10 (a real frame never starts with a 10-byte
run of zeros: that would be an all-zero destination MAC and more). A capture without such
records is left alone. tools/run.sh runs it after `make run PCAP=...`.
"""
import struct
import sys

VNET_HDR = 12   # struct virtio_net_hdr_mrg_rxbuf, as sent
VNET_HDR_RX = 10  # struct virtio_net_hdr, as QEMU dumps received frames


def fix(path):
    data = open(path, "rb").read()
    if len(data) < 24:
        return 0
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out, pos, changed = [data[:24]], 24, 0
    while pos + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack(endian + "IIII", data[pos:pos + 16])
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        zeros = len(frame[:VNET_HDR]) - len(frame[:VNET_HDR].lstrip(b"\0"))
        cut = VNET_HDR if zeros >= VNET_HDR else VNET_HDR_RX if zeros >= VNET_HDR_RX else 0
        if cut and len(frame) >= cut + 14:
            frame = frame[cut:]
            orig = max(orig - cut, len(frame))
            changed += 1
        out.append(struct.pack(endian + "IIII", sec, usec, len(frame), orig) + frame)
    if changed:
        open(path, "wb").write(b"".join(out))
    return changed


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: pcapfix.py FILE")
    n = fix(sys.argv[1])
    print(f"pcapfix: {sys.argv[1]}: {n} frames without QEMU's virtio-net header space")
