/*
 * net/ipv4_frag.h - IPv4 reassembly (RFC 791 3.2, RFC 1122 3.3.2) with bounded memory and time.
 *
 * IPV4_FRAG_SLOTS datagrams in progress at once, each in a slot of static storage big enough
 * for IPV4_FRAG_MAX_DATA bytes above IPv4, with NETBUF_HEADROOM in front so that replies built
 * in place can push their headers. A datagram is identified by source, destination,
 * identification and protocol (RFC 791 3.2). Strict rules (docs/network.md, "Fragments"):
 * any overlap drops the whole datagram (RFC 5722's rule, applied to IPv4), an exact duplicate
 * is ignored; a non-last fragment must carry a multiple of 8 bytes and at least what a
 * 68-byte MTU (RFC 791's minimum) allows; a first fragment must hold the UDP or ICMP header;
 * a datagram larger than IPV4_FRAG_MAX_DATA is dropped; IPV4_FRAG_TIMEOUT_NS after its first
 * fragment a datagram still incomplete is dropped; when every slot is busy the oldest
 * datagram is evicted. Every outcome has a counter on the ip line (rx_frag_*).
 */
#ifndef NET_IPV4_FRAG_H
#define NET_IPV4_FRAG_H

#include "kernel/time.h"
#include "net/netbuf.h"

#define IPV4_FRAG_SLOTS 4                      /* datagrams in reassembly at once */
#define IPV4_FRAG_MAX_DATA 16384               /* bytes above IPv4 in a reassembled datagram */
#define IPV4_FRAG_TIMEOUT_NS (60 * NSEC_PER_SEC) /* from the first fragment (RFC 1122 3.3.2) */
#define IPV4_MIN_MTU 68                        /* every link carries this much (RFC 791 3.2) */

/* A fragment (MF set or a non-zero offset) that passed ipv4_input's header and destination
 * checks, nb->data at its IPv4 header, trimmed to its total length. Consumes nb. Returns the
 * whole datagram when this fragment completed it -- a netbuf whose memory is a reassembly slot
 * (netbuf_free gives the slot back), data at a rebuilt IPv4 header (the first fragment's,
 * offset and MF cleared, total length and checksum made right) -- else NULL. */
struct netbuf *ipv4_frag_input(struct netbuf *nb);
/* Datagrams being put together (not those dropped and remembered, nor one up the stack). */
unsigned ipv4_frag_in_progress(void);
/* Forget every datagram in progress (ipv4_reset). */
void ipv4_frag_reset(void);

#endif
