/*
 * net/dns.h - a DNS stub resolver for A records (RFC 1034, RFC 1035; RFC 1123 6.1.3 for what a
 * resolver must do; RFC 2181 for TTLs; RFC 5452 for what makes forged answers hard).
 *
 * One server: `dns=A.B.C.D` on the kernel command line, else the first address of DHCP
 * option 6. Queries go over UDP from a random ephemeral port with a random id, recursion
 * desired; each is sent up to DNS_TRIES times, DNS_RETRY_FIRST_NS apart and doubling. An answer
 * counts only when it comes from the server's port 53 to the query's port, carries the query's
 * id and repeats its question (name, case aside, type A, class IN); anything else is counted
 * and the query keeps waiting. Names in answers are read with compression pointers that may
 * only point backwards, at most DNS_MAX_JUMPS of them, so no message makes the parser loop.
 * CNAME chains are followed inside the answer, at most DNS_MAX_CNAMES links. Answers are kept
 * in a cache of DNS_CACHE_SIZE names for their TTL (the smallest along the chain, at most
 * DNS_MAX_TTL_S; 0 is not cached). Negative answers are not cached.
 */
#ifndef NET_DNS_H
#define NET_DNS_H

#include "kernel/time.h"
#include "net/byteorder.h"
#include "net/net_stats.h"

#define DNS_PORT 53
#define DNS_HLEN 12
#define DNS_MAX_NAME 253        /* text form, no trailing dot: 255 octets on the wire (RFC 1035 2.3.4) */
#define DNS_MAX_LABEL 63
#define DNS_MAX_MSG 512         /* RFC 1035 4.2.1: what a query and our buffers are sized for */
#define DNS_TRIES 3
#define DNS_RETRY_FIRST_NS (1 * NSEC_PER_SEC) /* then 2 s, 4 s: 7 s in all */
#define DNS_MAX_PENDING 4       /* queries in flight at once */
#define DNS_CACHE_SIZE 8
#define DNS_MAX_TTL_S 86400     /* a day: a longer TTL is cut to it */
#define DNS_MAX_CNAMES 8
#define DNS_MAX_JUMPS 16        /* compression pointers in one name */

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_CLASS_IN 1
#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_TC 0x0200
#define DNS_FLAG_RD 0x0100
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_REFUSED 5

/* A name as we send and compare it: "a.b.c", lower case, no trailing dot, labels 1..63 bytes
 * of letters, digits, '-' and '_', 253 bytes at most. Copies the normal form of name into out
 * (DNS_MAX_NAME + 1 bytes); -EINVAL when name is not such a name (one trailing dot allowed). */
int dns_normalize(const char *name, char *out);
/* A query for the A record of name (normal form) with id into out (cap bytes); its length,
 * or -EINVAL (no room). */
int dns_build_query(u8 *out, unsigned cap, u16 id, const char *name);

struct dns_answer {
	be32 addr;
	u32 ttl; /* seconds, the smallest along the CNAME chain, at most DNS_MAX_TTL_S */
};
/* Check a response to the query (id, name in normal form) and take its answer. 0 and *ans,
 * or: -ENOMSG not an answer to this query (id, QR, opcode, question), -EPROTO malformed,
 * -EMSGSIZE truncated (TC: we have no TCP), -ENOENT NXDOMAIN, -ENODATA no A record for the
 * name, -EAGAIN SERVFAIL, -ECONNREFUSED REFUSED, -EIO another error code. */
int dns_parse_response(const u8 *msg, unsigned len, u16 id, const char *name, struct dns_answer *ans);

/* The outcome of dns_resolve: err 0 and addr, or a negative errno as dns_parse_response's,
 * or -ETIMEDOUT (no answer to DNS_TRIES queries), -ENETDOWN (the address went meanwhile). name
 * is the normal form; valid only during the call. */
typedef void (*dns_callback_t)(void *ctx, const char *name, int err, be32 addr);
/* Look name up. 0: cb will be called once, from the event loop -- or before dns_resolve
 * returns, when the cache holds the name. Else nothing is called: -EINVAL (not a name),
 * -EDESTADDRREQ (no server), -ENETDOWN (no address yet), -EBUSY (DNS_MAX_PENDING queries in
 * flight), -ENOSPC (no UDP port), or what udp_sendto said of the first query (-ENOBUFS,
 * -ENETUNREACH: no route to the server). */
int dns_resolve(const char *name, dns_callback_t cb, void *ctx);

/* Cancel the queries started with this cb and ctx: cb is not called (a caller whose ctx is
 * about to go away). */
void dns_cancel(dns_callback_t cb, void *ctx);

enum dns_source { DNS_SRC_NONE, DNS_SRC_CMDLINE, DNS_SRC_DHCP };
/* Set the server. One from the command line is not replaced by DHCP's; 0 clears (a DHCP
 * server goes with the lease). The cache is flushed when the server changes. */
void dns_set_server(be32 addr, enum dns_source src);
be32 dns_server(void);
/* Forget a DHCP-given server (the lease is gone). */
void dns_forget_dhcp_server(void);
/* Queries in flight (tests). */
unsigned dns_pending(void);
/* Cancel every query (their callbacks are not called), empty the cache, forget the server. */
void dns_reset(void);
void dns_describe(void);

#define DNS_STATS(X)                                                                         \
	X(queries) X(retransmits) X(answers) X(cache_hits) X(timeouts) X(nxdomain) X(nodata)  \
	X(server_errors) X(truncated) X(rx_wrong_source) X(rx_mismatch) X(rx_malformed)        \
	X(tx_errors)
struct dns_stats { DNS_STATS(NET_STAT_FIELD) };
extern struct dns_stats dns_stats;
void dns_print_stats(void);
void dns_zero_stats(void);

#endif
