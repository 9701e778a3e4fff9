/*
 * net/icmp.h - the Internet Control Message Protocol (RFC 792; RFC 1122 section 3.2.2):
 * echo (answered in place), destination unreachable (sent rate-limited), and the client side
 * of ping.
 */
#ifndef NET_ICMP_H
#define NET_ICMP_H

#include "net/byteorder.h"
#include "net/net_stats.h"
#include "net/netbuf.h"

#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
/* Destination unreachable codes (RFC 792) */
#define ICMP_NET_UNREACH 0
#define ICMP_HOST_UNREACH 1
#define ICMP_PROT_UNREACH 2
#define ICMP_PORT_UNREACH 3
#define ICMP_FRAG_NEEDED 4
/* Time exceeded codes (RFC 792) */
#define ICMP_EXC_TTL 0
#define ICMP_EXC_FRAGTIME 1 /* fragment reassembly time exceeded */

#define ICMP_HLEN 8
/* RFC 1812 4.3.2.3: an error carries as much of the offending datagram as fits in 576. */
#define ICMP_ERROR_MAX_TOTAL 576
/* Token bucket for the errors we send (RFC 1122 3.2.2: SHOULD limit the rate). */
#define ICMP_RATE_BURST 20
#define ICMP_RATE_INTERVAL_NS (50ull * 1000 * 1000) /* one more token every 50 ms */

/* RFC 792: type, code, checksum, then 4 bytes whose meaning depends on the type (id and
 * sequence for echo; unused for destination unreachable). */
struct icmphdr {
	u8 type;
	u8 code;
	be16 checksum;
	be16 id;
	be16 sequence;
} __packed;
_Static_assert(sizeof(struct icmphdr) == ICMP_HLEN, "ICMP header is 8 bytes");

#define ICMP_STATS(X)                                                                         \
	X(rx_packets) X(rx_runt) X(rx_bad_csum) X(rx_echo_requests) X(rx_echo_broadcast_ignored) \
	X(rx_echo_link_bcast_ignored) X(rx_echo_unconfigured) X(rx_echo_bad_options)            \
	X(rx_echo_replies) X(rx_dest_unreach) X(rx_time_exceeded) X(rx_other_types)             \
	X(tx_echo_replies) X(tx_echo_options) X(tx_echo_requests) X(tx_dest_unreach)            \
	X(tx_time_exceeded) X(tx_rate_limited) X(tx_error_suppressed) X(tx_error_link_bcast)    \
	X(tx_errors)
struct icmp_stats { ICMP_STATS(NET_STAT_FIELD) };
extern struct icmp_stats icmp_stats;

/* nb->data at the ICMP header (IPv4 pulled, ip_hdr(nb) valid). Consumes nb; an echo
 * request becomes its own reply (type changed, checksum updated, addresses swapped: the
 * payload is neither copied nor read again; the request's IP options go back, RFC 1122
 * 3.2.2.6: record route and timestamp with our entry, a complete source route reversed;
 * malformed options or an incomplete source route: not answered, rx_echo_bad_options), unless it went to a broadcast address or came
 * in a link-layer broadcast or multicast frame (counted, not answered). */
void icmp_input(struct netbuf *nb);
/* Answer the received datagram in nb (any layer above IPv4) with destination unreachable,
 * code given, built in the same buffer. Consumes nb. Suppressed (and counted) when RFC 1122
 * 3.2.2 forbids an error (tx_error_suppressed: broadcast, non-unicast source, an ICMP error;
 * tx_error_link_bcast: it came as a link-layer broadcast or multicast) or the rate limit is
 * exhausted. */
void icmp_send_unreach(struct netbuf *nb, u8 code);
/* RFC 792 time exceeded, code 1, about a datagram whose reassembly timed out (RFC 1122 3.3.2:
 * SHOULD, when its first fragment came): ip points at the first fragment's IPv4 header and len
 * bytes of it and its data, link_multicast says whether a fragment came as a link-layer
 * broadcast or multicast. Suppressed, counted and rate limited as icmp_send_unreach. */
void icmp_send_reasm_timeout(const void *ip, unsigned len, bool link_multicast);
/* Echo request to dst with size payload bytes (at most IPV4_MAX_SEND - 8: more than the MTU
 * goes in fragments): byte i is (seq + i) & 0xff. */
int icmp_send_echo(be32 dst, u16 id, u16 seq, unsigned size);
void icmp_reset(void);

/* ---- ping ------------------------------------------------------------------------------------ */

#define PING_WINDOW 1024 /* send times kept for this many sequence numbers */

struct ping_session {
	be32 dst;
	u16 id;
	unsigned size;
	u32 transmitted, received, duplicates, corrupted, errors, send_failures;
	u64 rtt_min, rtt_max, rtt_sum; /* ns */
	u64 rtt_sq_sum;                /* microseconds squared, for mdev */
	u64 sent_ns[PING_WINDOW];
	u32 sent_seq[PING_WINDOW];     /* which sequence number a slot holds */
	bool seen[PING_WINDOW];
	bool quiet;                    /* no per-reply lines (tests) */
};

/* At most one session is active: replies with its id are matched to it. */
int ping_begin(struct ping_session *ps, be32 dst, unsigned size);
/* Send the next request (icmp_seq = transmitted + 1). */
int ping_send_next(struct ping_session *ps);
void ping_end(struct ping_session *ps);
/* The Linux-like summary; elapsed_ns is the run's duration. */
void ping_summary(const struct ping_session *ps, u64 elapsed_ns);
bool ping_done(const struct ping_session *ps);

void icmp_print_stats(void);
void icmp_zero_stats(void);

#endif
