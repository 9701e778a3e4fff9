#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py - write the seed corpora for fuzz_net (tests/fuzz/fuzz_net.c, into
corpus/), fuzz_virtnet (tests/fuzz/fuzz_virtnet.c, into corpus_virtnet/) and fuzz_vring_packed
(tests/fuzz/fuzz_vring_packed.c, into corpus_vring_packed/).

Each fuzz_net seed is a script in fuzz_net's format: a mode byte, then records (2-byte length +
frame, or 0x8000|n to advance the clock n * 10 ms). The frames are well-formed examples of what
the stack handles, so the fuzzer starts from deep inside every parser. The fuzz_virtnet seeds
carry the same frames as a device would hand them over: with a virtio-net header, over one or
several receive buffers, plus the device's other moves (completions, made-up used entries,
link changes). Run it after changing a format; the output is committed.
"""
import os
import struct

OUR_MAC = bytes.fromhex("525400123456")
PEER_MAC = bytes.fromhex("020000000002")
BCAST = b"\xff" * 6
OUR_IP = bytes([10, 0, 2, 15])
PEER_IP = bytes([10, 0, 2, 2])
XID = 0x12345678


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(dst, typ, payload, src=PEER_MAC):
    return dst + src + struct.pack("!H", typ) + payload


def ipv4(proto, payload, src=PEER_IP, dst=OUR_IP, options=b"", frag=0x4000, ident=1):
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), ident, frag, 64, proto, 0, src, dst)
    hdr += options
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def udp(sport, dport, payload, src=PEER_IP, dst=OUR_IP):
    length = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, length)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    c = csum(pseudo + hdr + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, c) + payload


def icmp_echo(ident, seq, payload, typ=8):
    hdr = struct.pack("!BBHHH", typ, 0, 0, ident, seq)
    c = csum(hdr + payload)
    return struct.pack("!BBHHH", typ, 0, c, ident, seq) + payload


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, spa, tha, tpa)


def dhcp(msgtype, yiaddr, extra=b"", file=b"", sname=b""):
    opts = bytes([53, 1, msgtype, 54, 4]) + PEER_IP + bytes([1, 4, 255, 255, 255, 0, 3, 4]) + PEER_IP
    opts += bytes([51, 4]) + struct.pack("!I", 120) + extra + b"\xff"
    msg = struct.pack("!BBBBIHH4s4s4s4s16s64s128sI", 2, 1, 6, 0, XID, 0, 0, b"\0" * 4, yiaddr, b"\0" * 4,
                      b"\0" * 4, OUR_MAC, sname, file, 0x63825363) + opts
    return eth(BCAST, 0x0800, ipv4(17, udp(67, 68, msg, dst=b"\xff" * 4), dst=b"\xff" * 4))


def fragments(proto, data, step, ident, order=None):
    """The frames of data (a UDP or ICMP message) cut into pieces of step bytes (RFC 791 3.2:
    a multiple of 8, MF on all but the last), in the given order of piece numbers."""
    pieces = [(off, data[off:off + step]) for off in range(0, len(data), step)]
    order = range(len(pieces)) if order is None else order
    return [eth(OUR_MAC, 0x0800, ipv4(proto, pieces[i][1], ident=ident,
                                      frag=(0x2000 if i < len(pieces) - 1 else 0) | pieces[i][0] // 8))
            for i in order]


def rec(frame):
    return struct.pack("!H", len(frame)) + frame


def wait(ms):
    return struct.pack("!H", 0x8000 | (ms // 10))


def seeds():
    arp_req = eth(BCAST, 0x0806, arp(1, PEER_MAC, PEER_IP, b"\0" * 6, OUR_IP))
    ping = eth(OUR_MAC, 0x0800, ipv4(1, icmp_echo(0x77, 1, bytes(range(56)))))
    echo = eth(OUR_MAC, 0x0800, ipv4(17, udp(40000, 7, b"hello, echo" * 9)))
    closed = eth(OUR_MAC, 0x0800, ipv4(17, udp(40000, 4444, b"anyone?")))
    discard = eth(OUR_MAC, 0x0800, ipv4(17, udp(40000, 9, b"x" * 300)))
    yield "arp_request", b"\0" + rec(arp_req)
    yield "ping", b"\x02" + rec(ping) + rec(ping)
    yield "udp_echo", b"\x02" + rec(echo) + rec(discard)
    yield "udp_closed", b"\x02" + rec(closed) * 3
    yield "arp_unanswered", b"\0" + rec(echo) + rec(echo) + wait(3500) + rec(arp_req)
    yield "arp_reply_flush", b"\0" + rec(echo) + rec(eth(OUR_MAC, 0x0806, arp(2, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP)))
    yield "ip_options", b"\x02" + rec(eth(OUR_MAC, 0x0800, ipv4(17, udp(1, 7, b"opt"), options=b"\x01\x01\x01\x00")))
    yield "ip_fragment", b"\x02" + rec(eth(OUR_MAC, 0x0800, ipv4(17, udp(1, 7, b"frag"), frag=0x2000)))
    # fragments (fuzz_net's inputs are cut at 4096 bytes by tests/fuzz/run.sh: small datagrams)
    big_echo = udp(40000, 7, bytes(i * 7 & 0xFF for i in range(2500)))
    big_ping = icmp_echo(0x77, 2, bytes(range(256)) * 12)
    echo = udp(40000, 7, bytes(i * 3 & 0xFF for i in range(600)))
    yield "ip_frag_udp_echo", b"\x02" + b"".join(rec(f) for f in fragments(17, big_echo, 1480, 0x100))
    yield "ip_frag_ping_reverse", b"\x02" + b"".join(rec(f) for f in fragments(1, big_ping, 1480, 0x101, [2, 1, 0]))
    yield "ip_frag_small_pieces", b"\x02" + b"".join(rec(f) for f in fragments(17, echo[:400], 48, 0x102))
    over = fragments(17, echo, 256, 0x103) + fragments(17, echo, 248, 0x103)
    dup = fragments(17, echo, 256, 0x104, [0, 0, 1, 1, 2])
    tiny = fragments(17, echo, 8, 0x105, range(8))
    yield "ip_frag_overlap_dup_tiny", b"\x02" + b"".join(rec(f) for f in over + dup + tiny)
    lone = [fragments(17, echo, 256, 0x200 + i, [0])[0] for i in range(6)]
    yield "ip_frag_evict_timeout", (b"\x02" + b"".join(rec(f) for f in lone) + wait(61000) +
                                    b"".join(rec(f) for f in fragments(17, echo, 256, 0x205, [1, 2])))
    yield "ip_unknown_proto", b"\x02" + rec(eth(OUR_MAC, 0x0800, ipv4(6, b"\0" * 20)))
    yield "eth_misc", b"\0" + rec(eth(OUR_MAC, 0x86DD, b"\0" * 40)) + rec(eth(bytes.fromhex("01005e000001"), 0x0800, b""))
    offer = dhcp(2, OUR_IP)
    ack = dhcp(5, OUR_IP, extra=bytes([58, 4, 0, 0, 0, 30, 59, 4, 0, 0, 0, 60]))
    yield "dhcp_exchange", b"\x01" + rec(offer) + rec(ack) + wait(31000) + rec(ack) + wait(30000)
    yield "dhcp_nak", b"\x01" + rec(offer) + rec(dhcp(6, b"\0" * 4))
    over = dhcp(2, OUR_IP, extra=bytes([52, 1, 3]), file=bytes([12, 3]) + b"abc\xff", sname=b"\xff")
    yield "dhcp_overload", b"\x01" + rec(over)
    yield "dhcp_timeouts", b"\x01" + wait(20000) + wait(20000) + rec(offer) + wait(30000)


# ---- fuzz_virtnet: see the comment at the top of fuzz_virtnet.c for the format ----

def vhdr(num_buffers=1, legacy=False):
    """The virtio-net header (virtio 1.x 5.1.6): no offloads; 10 bytes for a legacy device."""
    h = bytes(10)
    return h if legacy else h + struct.pack("<H", num_buffers)


def vraw(data, nbufs=0, lie=None):
    """Op 0: raw bytes (header included) over up to nbufs buffers (0: as many as needed)."""
    if lie is None:
        return bytes([0, nbufs]) + struct.pack("!H", len(data)) + data
    return bytes([8, nbufs]) + struct.pack("!HH", len(data), lie) + data


def vframe(frame):
    """Op 3: a well-formed frame; the harness writes a correct header."""
    return b"\x03" + struct.pack("!H", len(frame)) + frame


def vclock(ticks):
    return bytes([4, ticks])  # ticks * 20 ms


def vtx(n=64):
    return bytes([5, n])


def vbogus(ident, length, tx=False):
    return bytes([14 if tx else 6]) + struct.pack("!HH", ident, length)


def vlink(up):
    return bytes([7, 1 if up else 0])


def virtnet_seeds():
    arp_req = eth(BCAST, 0x0806, arp(1, PEER_MAC, PEER_IP, b"\0" * 6, OUR_IP))
    ping = eth(OUR_MAC, 0x0800, ipv4(1, icmp_echo(0x77, 1, bytes(range(56)))))
    big_ping = eth(OUR_MAC, 0x0800, ipv4(1, icmp_echo(0x77, 2, bytes(i & 0xFF for i in range(1472)))))
    echo = eth(OUR_MAC, 0x0800, ipv4(17, udp(40000, 7, b"hello, echo" * 9)))
    offer = dhcp(2, OUR_IP)
    ack = dhcp(5, OUR_IP)
    yield "arp_ping", b"\x00" + vframe(arp_req) + vtx() + vframe(ping) + vtx()
    yield "raw_ping", b"\x04" + vraw(vhdr() + ping) + vtx()
    yield "raw_legacy", b"\x06" + vraw(vhdr(legacy=True) + echo) + vtx()
    yield "whole_frame", b"\x05" + vraw(vhdr() + big_ping) + vtx()
    yield "merged", b"\x07" + vraw(vhdr(6) + big_ping) + vtx() + vframe(big_ping) + vtx()
    yield "num_buffers_zero", b"\x04" + vraw(vhdr(0) + ping) + vraw(vhdr(2) + ping, nbufs=1)
    yield "num_buffers_merge_overflow", b"\x07" + vraw(vhdr(40) + bytes(256 * 40), nbufs=40)
    yield "used_len_lie", b"\x04" + vraw(vhdr() + ping, lie=0xFFFF) + vraw(vhdr()[:5]) + vraw(vhdr() + ping[:10])
    yield "bogus_used", b"\x04" + vbogus(5000, 100) + vbogus(3, 60) + vbogus(7, 0, tx=True) + vtx()
    yield "link_flap", b"\x04" + vlink(False) + vframe(echo) + vlink(True) + vtx() + vframe(echo) + vtx()
    yield "watchdog", b"\x0c" + vframe(echo) + vclock(255) + vclock(255) + vtx() + vclock(60)
    yield "dhcp", b"\x10" + vtx() + vframe(offer) + vtx() + vframe(ack) + vtx() + vclock(200)
    # packed rings (mode bit 5): frames over the wrap of the ring, merged buffers, bogus entries
    yield "packed_ping", b"\x24" + (vframe(ping) + vtx()) * 40 + vraw(vhdr() + ping) + vtx()
    yield "packed_merged", b"\x27" + vraw(vhdr(6) + big_ping) + vtx() + vframe(big_ping) + vtx()
    yield "packed_bogus_used", b"\x24" + vbogus(5000, 100) + vbogus(3, 60) + vbogus(7, 0, tx=True) + vtx()


# fuzz_vring_packed: a mode byte (size 1 << (m & 7), 8 EVENT_IDX, 16 INDIRECT_DESC), then ops
def p_post(pieces, nout, size=64):
    return bytes([0, (pieces - 1) | (nout << 4)] + [size - 1] * pieces)


def p_complete(k, length):
    return bytes([3, k]) + struct.pack(">H", length)


def p_used(ident, length, step):
    return bytes([4]) + struct.pack(">HIB", ident, length, step)


P_KICK, P_FLUSH, P_ENABLE, P_DELAYED, P_DISABLE, P_IRQ, P_VIEW, P_RESET = (
    bytes([1]), bytes([11]), bytes([8]), bytes([9]), bytes([7]), bytes([10]), bytes([13]), bytes([12]))


def p_take(n=255):
    return bytes([2, n])


def vring_packed_seeds():
    lap = (p_post(1, 0) + P_KICK + p_complete(0, 64) + P_FLUSH + P_IRQ + p_take()) * 40
    chains = (p_post(3, 1) + p_post(2, 0) + P_KICK + p_complete(1, 0) + p_complete(0, 128) + P_FLUSH
              + p_take() + P_VIEW) * 20
    return [
        ("laps_event_idx", bytes([3 | 8]) + P_ENABLE + lap),
        ("laps_plain", bytes([2]) + lap),
        ("chains_out_of_order", bytes([3]) + chains),
        ("indirect", bytes([4 | 8 | 16]) + (p_post(5, 2) + P_KICK + p_complete(0, 300) + P_DELAYED + P_FLUSH
                                            + p_take()) * 30),
        ("hostile", bytes([3 | 8]) + p_post(1, 0) + p_post(2, 1) + P_KICK + p_used(7, 9, 1) + p_used(0xffff, 1, 2)
         + p_complete(0, 5000) + P_FLUSH + P_VIEW + p_take() + P_RESET + p_post(1, 0) + p_used(0, 0, 3) + p_take()),
        ("events", bytes([2 | 8]) + bytes([6, 0x80, 0x02, 2]) + (p_post(1, 0) + P_KICK + P_DISABLE
                                                                 + p_complete(0, 1) + P_FLUSH + P_ENABLE) * 10),
    ]


def write(dirname, items):
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), dirname)
    os.makedirs(out, exist_ok=True)
    for name, data in items:
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def main():
    write("corpus", seeds())
    write("corpus_virtnet", virtnet_seeds())
    write("corpus_vring_packed", vring_packed_seeds())


if __name__ == "__main__":
    main()
