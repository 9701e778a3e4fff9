/*
 * kernel/crc32.c - crc32_ieee (kernel/crc32.h), one table lookup per byte; the table is made
 * at the first call.
 */
#include "kernel/crc32.h"

static u32 table[256];

static void crc32_init(void)
{
	for (u32 i = 0; i < 256; i++) {
		u32 c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
}

u32 crc32_ieee(const void *buf, size_t len)
{
	const u8 *p = buf;
	u32 c = 0xffffffffu;

	if (!table[1])
		crc32_init();
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}
