/*
 * net/inet_addr.h - IPv4 addresses (be32, network order): constants, parsing and formatting
 * of dotted quads and prefixes, masks, and the address classes a host may or may not use
 * (net/inet.c).
 */
#ifndef NET_INET_ADDR_H
#define NET_INET_ADDR_H

#include "net/byteorder.h"

/* An address from four dotted-quad parts, in network order: IPV4(10, 0, 2, 15). */
#define IPV4(a, b, c, d) htonl((u32)(a) << 24 | (u32)(b) << 16 | (u32)(c) << 8 | (u32)(d))
/* The typed form for APIs applications call (net/udp.h): an IPv4 address in network order
 * wrapped in a struct, so a host-order u32, or a be32 passed where an address is expected,
 * does not compile; ip4_from_be32 and ip4_from_host say which order a plain number is in. */
typedef struct {
	be32 be;
} ip4_addr;
#define IP4(a, b, c, d) ((ip4_addr){ IPV4(a, b, c, d) })
#define IP4_ANY ((ip4_addr){ 0 })
static inline ip4_addr ip4_from_be32(be32 a) { return (ip4_addr){ a }; }
static inline ip4_addr ip4_from_host(u32 a);
static inline bool ip4_eq(ip4_addr a, ip4_addr b) { return a.be == b.be; }

#define INADDR_ANY_BE 0u
#define INADDR_BROADCAST_BE 0xffffffffu

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
static inline ip4_addr ip4_from_host(u32 a) { return (ip4_addr){ htonl(a) }; }

/* An address a host may have (RFC 1122 3.2.1.3): not 0/8, loopback, multicast or class E. */
bool ipv4_is_valid_host(be32 a);

#endif
