/*
 * net/checksum.h - the Internet checksum (RFC 1071) and its incremental update (RFC 1624),
 * for the IPv4, ICMP and UDP headers (net/inet.c).
 */
#ifndef NET_CHECKSUM_H
#define NET_CHECKSUM_H

#include "net/byteorder.h"

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

#endif
