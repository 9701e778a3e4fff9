/*
 * net/byteorder.h - network byte order. Wire fields are big-endian and typed be16/be32 so
 * that a missing conversion is visible when reading the code. IPv4 addresses are kept as be32
 * (wire order) everywhere; only arithmetic on them (masks, ranges) converts to host order
 * first.
 */
#ifndef NET_BYTEORDER_H
#define NET_BYTEORDER_H

#include "kernel/types.h"

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

#endif
