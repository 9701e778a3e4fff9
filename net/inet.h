/*
 * net/inet.h - what every Internet-protocol layer shares: network byte order, the Internet
 * checksum (RFC 1071, with the incremental update of RFC 1624), IPv4 address helpers, the
 * interface's address configuration, and the stack-wide hooks (init, describe, counters).
 *
 * Byte order: wire fields are big-endian and typed be16/be32 so that a missing conversion
 * is visible when reading the code. IPv4 addresses are kept as be32 (wire order) everywhere;
 * only arithmetic on them (masks, ranges) converts to host order first.
 *
 * The stack runs on one interface: the first network device registered (eth0). Frames from
 * any other device are counted and dropped by the Ethernet layer.
 */
#ifndef NET_INET_H
#define NET_INET_H

#include "kernel/types.h"
#include "net/net_stats.h"
#include "net/netdev.h"

typedef u16 be16; /* big-endian (network order) 16-bit value */
typedef u32 be32;

static inline u16 bswap16(u16 x) { return (u16)((x << 8) | (x >> 8)); }
static inline u32 bswap32(u32 x) { return __builtin_bswap32(x); }

/* x86 is little-endian: host <-> network order is always a swap. */
static inline be16 htons(u16 x) { return bswap16(x); }
static inline u16 ntohs(be16 x) { return bswap16(x); }
static inline be32 htonl(u32 x) { return bswap32(x); }
static inline u32 ntohl(be32 x) { return bswap32(x); }

/* Unaligned big-endian loads and stores for option parsing (no struct casts needed). */
static inline u16 get_be16(const void *p)
{
	const u8 *b = p;
	return (u16)(b[0] << 8 | b[1]);
}
static inline u32 get_be32(const void *p)
{
	const u8 *b = p;
	return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3];
}
static inline void put_be16(void *p, u16 v)
{
	u8 *b = p;
	b[0] = (u8)(v >> 8);
	b[1] = (u8)v;
}
static inline void put_be32(void *p, u32 v)
{
	u8 *b = p;
	b[0] = (u8)(v >> 24);
	b[1] = (u8)(v >> 16);
	b[2] = (u8)(v >> 8);
	b[3] = (u8)v;
}

/* An address from four dotted-quad parts, in network order: IPV4(10, 0, 2, 15). */
#define IPV4(a, b, c, d) htonl((u32)(a) << 24 | (u32)(b) << 16 | (u32)(c) << 8 | (u32)(d))
#define INADDR_ANY_BE 0u
#define INADDR_BROADCAST_BE 0xffffffffu

/* ---- checksum (RFC 1071) ------------------------------------------------------------------ */

/* Add len bytes at buf into a 32-bit running sum of 16-bit big-endian words (an odd last byte
 * is padded with zero, RFC 1071 section 4.1). The sum is not folded: feed it back in to
 * checksum data in pieces; only the last piece may have odd length. */
u32 inet_csum_add(u32 sum, const void *buf, size_t len);
/* Fold to 16 bits and complement: the value to put in a checksum field (host order). */
u16 inet_csum_fold(u32 sum);
/* The checksum of one buffer (host order); 0 when verifying a buffer that includes a
 * correct checksum field. */
u16 inet_csum(const void *buf, size_t len);
/* The UDP/TCP pseudo-header sum (RFC 768): addresses, protocol and length. */
u32 inet_pseudo_sum(be32 saddr, be32 daddr, u8 proto, u16 len);
/* RFC 1624 eqn. 3: the new checksum (host order) after one 16-bit word of the covered data
 * changed from old_word to new_word (both host order). */
u16 inet_csum_update16(u16 csum, u16 old_word, u16 new_word);

/* ---- addresses ---------------------------------------------------------------------------- */

#define INET_ADDRSTRLEN 16
/* "A.B.C.D" -> *out (network order). Strict: four decimal parts 0..255, no extra text. */
int inet_parse_addr(const char *s, be32 *out);
/* "A.B.C.D/N" (N 0..32) -> address and mask; without "/N", *prefix_given is false and the
 * mask is /24. Returns 0 or -EINVAL. */
int inet_parse_cidr(const char *s, be32 *addr, be32 *mask, bool *prefix_given);
/* Format into buf (at least INET_ADDRSTRLEN bytes); returns buf, so it can go in a printk. */
char *inet_fmt(char *buf, be32 addr);
be32 inet_prefix_to_mask(unsigned prefix);
int inet_mask_to_prefix(be32 mask); /* -1 when the mask is not contiguous */

static inline bool ipv4_is_multicast(be32 a) { return (ntohl(a) & 0xf0000000u) == 0xe0000000u; }
static inline bool ipv4_is_loopback(be32 a) { return (ntohl(a) >> 24) == 127; }
static inline bool ipv4_is_zeronet(be32 a) { return (ntohl(a) >> 24) == 0; }
static inline bool ipv4_is_limited_broadcast(be32 a) { return a == INADDR_BROADCAST_BE; }
/* Class E (240/4) except the limited broadcast: reserved, never a source or destination. */
static inline bool ipv4_is_reserved(be32 a) { return (ntohl(a) & 0xf0000000u) == 0xf0000000u && a != INADDR_BROADCAST_BE; }
/* An address a host may have (RFC 1122 3.2.1.3): not 0/8, loopback, multicast or class E. */
bool ipv4_is_valid_host(be32 a);

/* ---- the interface's configuration ---------------------------------------------------------- */

enum inet_source { INET_SRC_NONE, INET_SRC_STATIC, INET_SRC_DHCP };

struct inet_ifaddr {
	struct net_device *dev; /* the stack's device; NULL before inet_init found one */
	be32 addr, mask, gw;    /* gw 0: no default route */
	bool configured;
	enum inet_source source;
	bool ready_printed;     /* the "net: ready" marker goes out once per boot */
};

extern struct inet_ifaddr inet_if;

static inline struct net_device *inet_dev(void) { return inet_if.dev; }
static inline bool inet_configured(void) { return inet_if.configured; }
static inline be32 inet_addr(void) { return inet_if.configured ? inet_if.addr : 0; }
/* The directed (subnet) broadcast of the configured network; 0 for /31 and /32. */
be32 inet_subnet_broadcast(void);
/* a is that broadcast (never true without an address, or for /31 and /32). */
bool inet_is_subnet_broadcast(be32 a);
bool inet_on_link(be32 daddr);

/* Set the address (prints the "net: ready" marker the first time, announces the address
 * with a gratuitous ARP). gw may be 0. Returns 0 or -EINVAL for an unusable address. */
int inet_set_address(be32 addr, be32 mask, be32 gw, enum inet_source source);
void inet_clear_address(void);

/* Parse ip= and gw= values (NULL: absent) into a static configuration; *dhcp is set for
 * ip=dhcp. Messages explain anything ignored. Returns 0 or -EINVAL (nothing usable). */
int inet_parse_config(const char *ip, const char *gw, be32 *addr, be32 *mask, be32 *gwaddr, bool *dhcp);

/* Bring the stack up on dev with the boot command line's configuration (inet_init) or with
 * an explicit one (tests, fuzzer). */
void inet_init(void);
void inet_attach(struct net_device *dev, const char *ip, const char *gw);
/* Drop every piece of state (ARP cache and queues, bindings, DHCP, counters): tests only. */
void inet_reset(void);

/* Hooks for the shell (net/netdev_cmds.c): ifconfig's address lines, netstat's per-layer
 * counters, netstat -z. */
void inet_describe(struct net_device *dev);
void inet_print_stats(void);
void inet_zero_stats(void);

#endif
