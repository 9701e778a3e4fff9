/*
 * net/inet.c - helpers shared by the protocol layers: the Internet checksum (RFC 1071) and
 * its incremental update (RFC 1624), IPv4 address parsing and formatting, and counter lines.
 */
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "net/checksum.h"
#include "net/inet_addr.h"

/*
 * RFC 1071: the one's-complement sum is independent of byte order (section 2(B)), so the data
 * is summed as little-endian 32-bit words in a 64-bit accumulator (few instructions per byte,
 * which matters under TCG: this runs over every received UDP payload), folded to 16 bits, and
 * byte-swapped once into the big-endian word sum the callers expect. Unaligned loads are fine
 * on x86; __builtin_memcpy makes them explicit (the kernel builds with -fno-builtin).
 */
u32 inet_csum_add(u32 sum, const void *buf, size_t len)
{
	const u8 *p = buf;
	u64 acc = 0;

	while (len >= 8) {
		u64 w;

		__builtin_memcpy(&w, p, 8);
		acc += (w & 0xffffffffu) + (w >> 32);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		u32 w;

		__builtin_memcpy(&w, p, 4);
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		u16 w;

		__builtin_memcpy(&w, p, 2);
		acc += w;
		p += 2;
		len -= 2;
	}
	if (len)
		acc += p[0]; /* a trailing byte is the high byte of a big-endian word: low here */
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	acc = ((acc & 0xff) << 8) | (acc >> 8); /* to big-endian word order */
	acc += sum;
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (u32)acc;
}

u16 inet_csum_fold(u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (u16)~sum;
}

u16 inet_csum(const void *buf, size_t len) { return inet_csum_fold(inet_csum_add(0, buf, len)); }

u32 inet_pseudo_sum(be32 saddr, be32 daddr, u8 proto, u16 len)
{
	u32 s = ntohl(saddr), d = ntohl(daddr);

	return (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto + len;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), in one's-complement arithmetic. A result of
 * 0x0000 means the covered data now sums to zero; 0xffff is then always a valid checksum,
 * while 0x0000 is wrong if every covered word is zero (a verifier would sum to +0, not -0). */
u16 inet_csum_update16(u16 csum, u16 old_word, u16 new_word)
{
	u32 sum = (u16)~csum + (u32)(u16)~old_word + new_word;
	u16 res = inet_csum_fold(sum);

	return res ? res : 0xffff;
}

static int parse_part(const char **sp, unsigned max, unsigned *out)
{
	const char *s = *sp;
	unsigned v = 0, digits = 0;

	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s++ - '0');
		if (++digits > 3 || v > max)
			return -EINVAL;
	}
	if (!digits)
		return -EINVAL;
	*sp = s;
	*out = v;
	return 0;
}

int inet_parse_addr(const char *s, be32 *out)
{
	u32 a = 0;

	if (!s)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		unsigned part;

		if (parse_part(&s, 255, &part))
			return -EINVAL;
		a = a << 8 | part;
		if (i < 3 && *s++ != '.')
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	*out = htonl(a);
	return 0;
}

int inet_parse_cidr(const char *s, be32 *addr, be32 *mask, bool *prefix_given)
{
	char buf[INET_ADDRSTRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	size_t n = slash ? (size_t)(slash - s) : (s ? strlen(s) : 0);
	unsigned prefix = 24;

	if (!s || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_parse_addr(buf, addr))
		return -EINVAL;
	*prefix_given = slash != NULL;
	if (slash) {
		const char *p = slash + 1;

		if (parse_part(&p, 32, &prefix) || *p)
			return -EINVAL;
	}
	*mask = inet_prefix_to_mask(prefix);
	return 0;
}

char *inet_fmt(char *buf, be32 addr)
{
	u32 a = ntohl(addr);

	snprintk(buf, INET_ADDRSTRLEN, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
	return buf;
}

be32 inet_prefix_to_mask(unsigned prefix)
{
	if (prefix == 0)
		return 0;
	if (prefix >= 32)
		return 0xffffffffu;
	return htonl(~0u << (32 - prefix));
}

int inet_mask_to_prefix(be32 mask)
{
	u32 m = ntohl(mask);
	int prefix = 0;

	while (m & 0x80000000u) {
		m <<= 1;
		prefix++;
	}
	return m ? -1 : prefix;
}

bool ipv4_is_valid_host(be32 a)
{
	return !ipv4_is_zeronet(a) && !ipv4_is_loopback(a) && !ipv4_is_multicast(a) && (ntohl(a) >> 28) != 0xf;
}
