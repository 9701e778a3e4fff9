/*
 * net/ipv4.h - the Internet Protocol, version 4 (RFC 791, host requirements of RFC 1122
 * section 3): header, receive validation and demultiplexing, output with routing.
 *
 * A host, not a router: no forwarding. Fragments are reassembled (net/ipv4_frag.h) and
 * datagrams larger than the MTU are sent in fragments; DF is never set, so routers may
 * fragment too (docs/network.md says why). Options are accepted and skipped.
 */
#ifndef NET_IPV4_H
#define NET_IPV4_H

#include "net/byteorder.h"
#include "net/net_stats.h"
#include "net/netbuf.h"

#define IPPROTO_ICMP 1
#define IPPROTO_UDP 17

#define IP_DF 0x4000      /* flags/fragment-offset field: don't fragment */
#define IP_MF 0x2000      /* more fragments */
#define IP_OFFSET 0x1fff  /* fragment offset, in 8-byte units */
#define IP_DEFAULT_TTL 64 /* RFC 1700 recommends 64; RFC 1122 3.2.1.7: never 0 on a send */
#define IP_MAX_TOTAL 65535 /* the total length field's limit */
#define IPV4_HLEN 20      /* without options */
#define IPV4_MAX_HLEN 60
#define IP_LOOPBACK_QUEUE 64 /* datagrams to our own address waiting for the event loop */
/* Bytes above IPv4 we send in one datagram (fragmented): what we take in (IPV4_FRAG_MAX_DATA) */
#define IPV4_MAX_SEND 16384

/* Option types (RFC 791 3.1): the copied flag is bit 7 of the type */
#define IPOPT_END 0
#define IPOPT_NOP 1
#define IPOPT_COPIED 0x80
#define IPOPT_RR 7    /* record route */
#define IPOPT_TS 68   /* internet timestamp */
#define IPOPT_LSRR 131 /* loose source and record route */
#define IPOPT_SSRR 137 /* strict source and record route */

/* RFC 791 section 3.1. version and IHL share the first byte: use the accessors. */
struct iphdr {
	u8 ver_ihl;     /* version (high nibble) and header length in 32-bit words (low) */
	u8 tos;
	be16 tot_len;   /* header + data, bytes */
	be16 id;
	be16 frag_off;  /* flags (3 bits) and fragment offset (13 bits) */
	u8 ttl;
	u8 protocol;
	be16 check;     /* header checksum */
	be32 saddr;
	be32 daddr;
} __packed;
_Static_assert(sizeof(struct iphdr) == IPV4_HLEN, "IPv4 header without options is 20 bytes");

static inline unsigned ip_version(const struct iphdr *ip) { return ip->ver_ihl >> 4; }
static inline unsigned ip_hdrlen(const struct iphdr *ip) { return (ip->ver_ihl & 0x0f) * 4u; }

/* The IPv4 header of a received packet, at any layer above (ipv4_input records where). */
static inline struct iphdr *ip_hdr(const struct netbuf *nb) { return (struct iphdr *)(nb->head + nb->network_off); }

/* How a received packet was addressed, decided by ipv4_input. */
enum ip_dest {
	IP_DEST_UNICAST,      /* our address */
	IP_DEST_BROADCAST,    /* limited or subnet broadcast */
	IP_DEST_UNCONFIGURED, /* anything, while we have no address (DHCP) */
	IP_DEST_OTHER,        /* not ours */
};

#define IPV4_STATS(X)                                                                         \
	X(rx_packets) X(rx_delivered) X(rx_runt) X(rx_bad_version) X(rx_bad_ihl) X(rx_bad_len)  \
	X(rx_truncated) X(rx_bad_csum) X(rx_fragments) X(rx_bad_source) X(rx_not_for_us)        \
	X(rx_multicast) X(rx_unknown_proto) X(rx_frag_reassembled) X(rx_frag_duplicate)         \
	X(rx_frag_overlap) X(rx_frag_bad_len) X(rx_frag_tiny) X(rx_frag_short_first)             \
	X(rx_frag_too_big) X(rx_frag_bad_end) X(rx_frag_after_drop) X(rx_frag_timeout)           \
	X(rx_frag_evicted) X(rx_frag_no_slot) X(tx_packets) X(tx_no_route) X(tx_too_big)        \
	X(tx_no_headroom) X(tx_no_source) X(tx_bad_dest) X(tx_fragments) X(tx_frag_no_buffers) \
	X(tx_loopback) X(tx_loopback_full) X(rx_loopback)
struct ipv4_stats { IPV4_STATS(NET_STAT_FIELD) };
extern struct ipv4_stats ipv4_stats;

/* nb->data at the IPv4 header. Consumes nb. Upper layers get nb->data at their header,
 * nb->network_off at the IPv4 header, and the destination class in ipv4_rx_dest(). */
void ipv4_input(struct netbuf *nb);
enum ip_dest ipv4_rx_dest(const struct netbuf *nb);

/* Prepend an IPv4 header (no options, TTL 64, DF clear, the next ID) in front of nb->data
 * and send: broadcast destinations straight to the broadcast MAC, others through ARP to the
 * destination (on-link) or the gateway. A datagram larger than the MTU leaves in fragments
 * (RFC 791 3.2), copied into pool buffers, each a multiple of 8 bytes but the last; so does a
 * buffer that is not the pool's (a reassembly slot: its copy goes out, the slot comes back at
 * once). saddr is normally inet_addr(); 0 is allowed only for the limited broadcast (a DHCP
 * client without an address). Consumes nb. Returns 0 or -ENETUNREACH (no route), -EMSGSIZE
 * (more than IP_MAX_TOTAL), -ENETDOWN, -EINVAL, -ENOBUFS (no buffer: nothing was sent). */
int ipv4_output(struct netbuf *nb, be32 saddr, be32 daddr, u8 protocol);
/* ipv4_output with options: optlen bytes (a multiple of 4, at most 40, well-formed) after the
 * fixed header; a datagram sent in fragments has them all in its first, and the ones with the
 * copied flag in the others (RFC 791 3.1). -EINVAL for a bad optlen. */
struct ip_tx {
	be32 saddr, daddr;
	u8 protocol;
	const u8 *opts;
	unsigned optlen;
};
int ipv4_output_opts(struct netbuf *nb, const struct ip_tx *tx);
/* A buffer for a datagram of len bytes above IPv4 (len <= IPV4_MAX_SEND), data at its start:
 * a pool buffer when one holds it, else the one static send buffer, which ipv4_output sends
 * in fragments and gives back. NULL when neither is free or len is larger. */
struct netbuf *ipv4_alloc_tx(unsigned len);
/* Route: the next hop for daddr, or -ENETUNREACH. Broadcasts give INADDR_BROADCAST_BE. */
int ipv4_route(be32 daddr, be32 *next_hop);
/* Largest payload above IPv4 in one packet on our device. */
unsigned ipv4_max_payload(void);

void ipv4_print_stats(void);
void ipv4_zero_stats(void);
void ipv4_reset(void);

#endif
