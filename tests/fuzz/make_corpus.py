#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py - write the seed corpus for fuzz_net (tests/fuzz/fuzz_net.c).

Each seed is a script in fuzz_net's format: a mode byte, then records (2-byte length + frame,
or 0x8000|n to advance the clock n * 10 ms). The frames are well-formed examples of what the
stack handles, so the fuzzer starts from deep inside every parser. Run it after changing the
format; the output is committed.
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


def ipv4(proto, payload, src=PEER_IP, dst=OUR_IP, options=b"", frag=0x4000):
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), 1, frag, 64, proto, 0, src, dst)
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
    yield "ip_unknown_proto", b"\x02" + rec(eth(OUR_MAC, 0x0800, ipv4(6, b"\0" * 20)))
    yield "eth_misc", b"\0" + rec(eth(OUR_MAC, 0x86DD, b"\0" * 40)) + rec(eth(bytes.fromhex("01005e000001"), 0x0800, b""))
    offer = dhcp(2, OUR_IP)
    ack = dhcp(5, OUR_IP, extra=bytes([58, 4, 0, 0, 0, 30, 59, 4, 0, 0, 0, 60]))
    yield "dhcp_exchange", b"\x01" + rec(offer) + rec(ack) + wait(31000) + rec(ack) + wait(30000)
    yield "dhcp_nak", b"\x01" + rec(offer) + rec(dhcp(6, b"\0" * 4))
    over = dhcp(2, OUR_IP, extra=bytes([52, 1, 3]), file=bytes([12, 3]) + b"abc\xff", sname=b"\xff")
    yield "dhcp_overload", b"\x01" + rec(over)
    yield "dhcp_timeouts", b"\x01" + wait(20000) + wait(20000) + rec(offer) + wait(30000)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
