/*
 * tests/unit/test_frames.c - kernel/frames.c, the page-frame allocator, over fake multiboot
 * memory maps (Multiboot 0.6.96 section 3.3: entries of u32 size, u64 addr, u64 len, u32 type,
 * where size does not count itself).
 *
 * The allocator covers [0, 4 GiB) as mem.c's does, so clipping at the top is the real one.
 */
#include <errno.h> /* the host's EINVAL: kernel/errno.h uses Linux's numbers too, but its
			   strerror() clashes with <string.h> */

#include "boot/multiboot.h"
#include "kernel/frames.h"
#include "tests/unit/unit.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define MAX_PAGES (4 * GiB / FRAME_SIZE)
#define RESERVED 2 /* any type other than MULTIBOOT_MEMORY_AVAILABLE */

static u64 bitmap[MAX_PAGES / 64];
static u64 usable[MAX_PAGES / 64];
static struct frame_allocator fa;

struct map {
	u8 buf[1024];
	u32 len;
};

static void reset(void)
{
	frames_init(&fa, bitmap, usable, MAX_PAGES);
}

/* Append one entry whose size field is `size` (20 for a plain entry); extra bytes are zero. */
static void entry_sized(struct map *m, u32 size, u64 addr, u64 len, u32 type)
{
	u8 *p = m->buf + m->len;

	memset(p, 0, 4 + (size >= 20 ? size : 20));
	memcpy(p, &size, 4);
	memcpy(p + 4, &addr, 8);
	memcpy(p + 12, &len, 8);
	memcpy(p + 20, &type, 4);
	m->len += 4 + (size >= 20 ? size : 20);
}

static void entry(struct map *m, u64 addr, u64 len, u32 type)
{
	entry_sized(m, 20, addr, len, type);
}

static u64 pages(u64 bytes) { return bytes / FRAME_SIZE; }

/* [a, a + na pages) and [b, b + nb pages) do not overlap */
static bool disjoint(u64 a, u64 na, u64 b, u64 nb)
{
	return a + na * FRAME_SIZE <= b || b + nb * FRAME_SIZE <= a;
}

static void test_starts_empty(void)
{
	reset();
	CHECK_EQ(fa.total_pages, 0);
	CHECK_EQ(fa.free_pages, 0);
	CHECK(!frames_is_free(&fa, 1 * MiB));
	CHECK_EQ(frames_alloc(&fa, 1, FRAME_SIZE), 0);
	CHECK_EQ(fa.alloc_failures, 1);
}

/* The map QEMU's SeaBIOS gives a 128 MiB pc machine. */
static void test_qemu_like_map(void)
{
	struct map m = { 0 };

	reset();
	entry(&m, 0, 0x9fc00, MULTIBOOT_MEMORY_AVAILABLE);
	entry(&m, 0x9fc00, 0x400, RESERVED);
	entry(&m, 0xf0000, 0x10000, RESERVED);
	entry(&m, 1 * MiB, 0x7fe0000 - 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	entry(&m, 0x7fe0000, 0x20000, RESERVED);
	entry(&m, 0xfffc0000, 0x40000, RESERVED);
	CHECK_EQ(frames_add_multiboot_mmap(&fa, m.buf, m.len), 2);
	CHECK_EQ(fa.total_pages, 159 + pages(0x7fe0000 - 1 * MiB)); /* 0x9fc00: 159 whole pages */
	CHECK_EQ(fa.free_pages, fa.total_pages);
	CHECK(frames_is_free(&fa, 0x9e000));
	CHECK(!frames_is_free(&fa, 0x9f000)); /* the partial page below 0x9fc00 */
	CHECK(!frames_is_free(&fa, 0xa0000)); /* the hole up to 1 MiB */
	CHECK(!frames_is_free(&fa, 0xff000));
	CHECK(frames_is_free(&fa, 1 * MiB));
	CHECK(frames_is_free(&fa, 0x7fdf000));
	CHECK(!frames_is_free(&fa, 0x7fe0000));
	CHECK(!frames_is_free(&fa, 0xfffc0000));

	/* what mem_init withholds: low memory and the kernel image (its end is not page aligned) */
	frames_reserve_range(&fa, 0, 1 * MiB);
	frames_reserve_range(&fa, 1 * MiB, 244 * KiB + 100);
	CHECK_EQ(fa.reserved_pages, 159 + 62);
	CHECK_EQ(fa.free_pages, fa.total_pages - 159 - 62);
	CHECK(!frames_is_free(&fa, 1 * MiB + 244 * KiB));
	CHECK(frames_is_free(&fa, 1 * MiB + 248 * KiB));
}

static void test_unaligned_ranges_round_inwards(void)
{
	reset();
	frames_add_range(&fa, 0x1800, 0x3000); /* [0x1800, 0x4800): pages 2 and 3 only */
	CHECK_EQ(fa.total_pages, 2);
	CHECK(!frames_is_free(&fa, 0x1000));
	CHECK(frames_is_free(&fa, 0x2000));
	CHECK(frames_is_free(&fa, 0x3000));
	CHECK(!frames_is_free(&fa, 0x4000));

	frames_add_range(&fa, 0x10100, 0xe00); /* inside one page, not all of it */
	CHECK_EQ(fa.total_pages, 2);
	frames_add_range(&fa, 0x20000, 0x1000); /* exactly one page */
	CHECK_EQ(fa.total_pages, 3);
	frames_add_range(&fa, 0x30000, 0); /* empty */
	CHECK_EQ(fa.total_pages, 3);
	frames_add_range(&fa, UINT64_MAX - 0xfff, 0x2000); /* wraps around: ignored */
	CHECK_EQ(fa.total_pages, 3);
	CHECK_EQ(fa.free_pages, 3);
}

static void test_overlapping_ram_counted_once(void)
{
	struct map m = { 0 };

	reset();
	entry(&m, 1 * MiB, 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	entry(&m, 1 * MiB, 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE);           /* duplicate */
	entry(&m, 1 * MiB + 512 * KiB, 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE); /* overlap */
	CHECK_EQ(frames_add_multiboot_mmap(&fa, m.buf, m.len), 3);
	CHECK_EQ(fa.total_pages, pages(1536 * KiB));
	CHECK_EQ(fa.free_pages, fa.total_pages);
}

static void test_overlapping_reservations(void)
{
	u64 total;

	reset();
	frames_add_range(&fa, 0, 16 * MiB);
	total = fa.total_pages;
	CHECK_EQ(total, pages(16 * MiB));

	frames_reserve_range(&fa, 0x5000, 0x2000);  /* pages 5, 6 */
	CHECK_EQ(fa.reserved_pages, 2);
	frames_reserve_range(&fa, 0x6000, 0x3000);  /* 6 again, 7, 8 */
	CHECK_EQ(fa.reserved_pages, 4);
	frames_reserve_range(&fa, 0x10800, 0x10);   /* 16 bytes: the whole page 0x10 */
	CHECK_EQ(fa.reserved_pages, 5);
	frames_reserve_range(&fa, 0x10000, 0x1000); /* the same page again */
	CHECK_EQ(fa.reserved_pages, 5);
	frames_reserve_range(&fa, 0x4fff, 2);       /* straddles pages 4 and 5 */
	CHECK_EQ(fa.reserved_pages, 6);
	CHECK(!frames_is_free(&fa, 0x4000));
	CHECK(!frames_is_free(&fa, 0x8000));
	CHECK(frames_is_free(&fa, 0x9000));

	frames_reserve_range(&fa, 32 * MiB, 1 * MiB);         /* not RAM: nothing to withhold */
	CHECK_EQ(fa.reserved_pages, 6);
	frames_reserve_range(&fa, 16 * MiB - 0x1000, 0x2000); /* half RAM, half not */
	CHECK_EQ(fa.reserved_pages, 7);
	frames_reserve_range(&fa, 0x20000, 0);                /* empty */
	CHECK_EQ(fa.reserved_pages, 7);
	frames_reserve_range(&fa, UINT64_MAX - 100, 1000);    /* wraps: clipped, far above RAM */
	CHECK_EQ(fa.reserved_pages, 7);

	CHECK_EQ(fa.total_pages, total);
	CHECK_EQ(fa.free_pages, total - 7);
}

static void test_entries_above_4g_clipped(void)
{
	struct map m = { 0 };

	reset();
	entry(&m, 1 * MiB, 7 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	entry(&m, 4 * GiB, 4 * GiB, MULTIBOOT_MEMORY_AVAILABLE);           /* wholly above */
	entry(&m, 4 * GiB - 8 * KiB, 16 * KiB, MULTIBOOT_MEMORY_AVAILABLE); /* straddles 4 GiB */
	entry(&m, UINT64_MAX - 0xfff, 0x10000, MULTIBOOT_MEMORY_AVAILABLE); /* wraps */
	CHECK_EQ(frames_add_multiboot_mmap(&fa, m.buf, m.len), 4);
	CHECK_EQ(fa.total_pages, pages(7 * MiB) + 2);
	CHECK(frames_is_free(&fa, 4 * GiB - 4 * KiB));
	CHECK(!frames_is_free(&fa, 4 * GiB));
	CHECK(!frames_is_free(&fa, 6 * GiB));

	/* a smaller allocator clips at its own end */
	frames_init(&fa, bitmap, usable, 4096); /* 16 MiB */
	frames_add_range(&fa, 0, 64 * MiB);
	CHECK_EQ(fa.total_pages, 4096);
	CHECK(!frames_is_free(&fa, 16 * MiB));
}

static void test_malformed_maps(void)
{
	struct map m;
	u8 junk[64] = { 0 };

	reset(); /* the first entry's size is too small to hold addr, len and type */
	m = (struct map){ 0 };
	entry_sized(&m, 16, 1 * MiB, 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	CHECK_EQ(frames_add_multiboot_mmap(&fa, m.buf, m.len), -EINVAL);
	CHECK_EQ(fa.total_pages, 0);

	reset(); /* a good entry, then a bad size: the good one is used */
	m = (struct map){ 0 };
	entry(&m, 1 * MiB, 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	entry_sized(&m, 0, 2 * MiB, 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	CHECK_EQ(frames_add_multiboot_mmap(&fa, m.buf, m.len), -EINVAL);
	CHECK_EQ(fa.total_pages, pages(1 * MiB));
	CHECK(!frames_is_free(&fa, 2 * MiB));

	reset(); /* size runs past the end of the map */
	m = (struct map){ 0 };
	entry_sized(&m, 20, 1 * MiB, 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	memcpy(m.buf, &(u32){ 100 }, 4);
	CHECK_EQ(frames_add_multiboot_mmap(&fa, m.buf, m.len), -EINVAL);
	reset();
	memcpy(m.buf, &(u32){ 0xffffffffu }, 4);
	CHECK_EQ(frames_add_multiboot_mmap(&fa, m.buf, m.len), -EINVAL);
	CHECK_EQ(fa.total_pages, 0);

	reset(); /* a truncated last entry */
	m = (struct map){ 0 };
	entry(&m, 1 * MiB, 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	memcpy(m.buf + m.len, junk, 10);
	CHECK_EQ(frames_add_multiboot_mmap(&fa, m.buf, m.len + 10), -EINVAL);
	CHECK_EQ(fa.total_pages, pages(1 * MiB));

	reset(); /* an empty map */
	CHECK_EQ(frames_add_multiboot_mmap(&fa, junk, 0), 0);
	CHECK_EQ(fa.total_pages, 0);

	reset(); /* longer entries than 20 bytes are legal: 'size' is the stride */
	m = (struct map){ 0 };
	entry_sized(&m, 24, 1 * MiB, 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	entry_sized(&m, 28, 4 * MiB, 1 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	entry_sized(&m, 20, 8 * MiB, 1 * MiB, RESERVED);
	CHECK_EQ(frames_add_multiboot_mmap(&fa, m.buf, m.len), 2);
	CHECK_EQ(fa.total_pages, pages(2 * MiB));
	CHECK(frames_is_free(&fa, 4 * MiB));
	CHECK(!frames_is_free(&fa, 8 * MiB));
}

static void test_alignment(void)
{
	u64 a, b, c, d, before;

	reset();
	frames_add_range(&fa, 1 * MiB + 4 * KiB, 63 * MiB); /* an odd start on purpose */
	before = fa.free_pages;

	a = frames_alloc(&fa, 1, FRAME_SIZE);
	CHECK(a != 0 && a % FRAME_SIZE == 0 && a >= 1 * MiB);
	b = frames_alloc(&fa, 3, 64 * KiB);
	CHECK(b != 0 && b % (64 * KiB) == 0);
	c = frames_alloc(&fa, 1, 2 * MiB);
	CHECK(c != 0 && c % (2 * MiB) == 0);
	d = frames_alloc(&fa, 2, 16); /* less than a page: page aligned anyway */
	CHECK(d != 0 && d % FRAME_SIZE == 0);
	CHECK_EQ(fa.free_pages, before - 7);
	CHECK_EQ(fa.alloc_failures, 0);

	/* no two allocations overlap, and all of them are taken */
	CHECK(disjoint(a, 1, b, 3) && disjoint(a, 1, c, 1) && disjoint(a, 1, d, 2));
	CHECK(disjoint(b, 3, c, 1) && disjoint(b, 3, d, 2) && disjoint(c, 1, d, 2));
	CHECK(!frames_is_free(&fa, a) && !frames_is_free(&fa, b + 2 * FRAME_SIZE));
	CHECK(!frames_is_free(&fa, c) && !frames_is_free(&fa, d + FRAME_SIZE));

	CHECK_EQ(frames_alloc(&fa, 1, 3 * FRAME_SIZE), 0); /* not a power of two */
	CHECK_EQ(frames_alloc(&fa, 1, 0), 0);
	CHECK_EQ(fa.alloc_failures, 2);
	CHECK_EQ(fa.free_pages, before - 7);
}

static void test_exhaustion(void)
{
	u64 got[16];

	reset();
	frames_add_range(&fa, 1 * MiB, 16 * FRAME_SIZE);
	for (int i = 0; i < 16; i++) {
		got[i] = frames_alloc(&fa, 1, FRAME_SIZE);
		CHECK(got[i] >= 1 * MiB && got[i] < 1 * MiB + 16 * FRAME_SIZE);
		for (int j = 0; j < i; j++)
			CHECK(got[j] != got[i]);
	}
	CHECK_EQ(fa.free_pages, 0);
	CHECK_EQ(fa.alloc_failures, 0);

	CHECK_EQ(frames_alloc(&fa, 1, FRAME_SIZE), 0);
	CHECK_EQ(fa.alloc_failures, 1);
	CHECK_EQ(frames_alloc(&fa, 0, FRAME_SIZE), 0); /* zero pages is a failure too */
	CHECK_EQ(fa.alloc_failures, 2);

	/* two free pages that are not adjacent cannot serve a two-page request */
	frames_free(&fa, got[3], 1);
	frames_free(&fa, got[9], 1);
	CHECK_EQ(fa.free_pages, 2);
	CHECK_EQ(frames_alloc(&fa, 2, FRAME_SIZE), 0);
	CHECK_EQ(fa.alloc_failures, 3);
	CHECK_EQ(frames_alloc(&fa, 3, FRAME_SIZE), 0); /* more than is free at all */
	CHECK_EQ(fa.alloc_failures, 4);
	CHECK_EQ(frames_alloc(&fa, 1, FRAME_SIZE), got[3]);
	CHECK_EQ(frames_alloc(&fa, 1, FRAME_SIZE), got[9]);
	CHECK_EQ(fa.free_pages, 0);
	CHECK_EQ(fa.bad_frees, 0);
}

static void test_free_and_realloc(void)
{
	u64 a, b, before;

	reset();
	frames_add_range(&fa, 1 * MiB, 1 * MiB);
	before = fa.free_pages;

	a = frames_alloc(&fa, 4, FRAME_SIZE);
	CHECK(a != 0);
	CHECK_EQ(fa.free_pages, before - 4);
	frames_free(&fa, a, 4);
	CHECK_EQ(fa.free_pages, before);
	CHECK(frames_is_free(&fa, a) && frames_is_free(&fa, a + 3 * FRAME_SIZE));

	b = frames_alloc(&fa, 4, FRAME_SIZE); /* the search starts again at what was freed */
	CHECK_EQ(b, a);
	frames_free(&fa, a + FRAME_SIZE, 1);  /* a hole in the middle */
	CHECK_EQ(frames_alloc(&fa, 1, FRAME_SIZE), a + FRAME_SIZE);
	CHECK_EQ(fa.free_pages, before - 4);
	CHECK_EQ(fa.bad_frees, 0);
}

static void test_bad_frees_counted(void)
{
	u64 a, free_before;

	reset();
	frames_add_range(&fa, 1 * MiB, 1 * MiB);
	a = frames_alloc(&fa, 1, FRAME_SIZE);
	frames_free(&fa, a, 1);
	free_before = fa.free_pages;

	frames_free(&fa, a, 1); /* double free */
	CHECK_EQ(fa.bad_frees, 1);
	CHECK_EQ(fa.free_pages, free_before);

	a = frames_alloc(&fa, 1, FRAME_SIZE);
	frames_free(&fa, a + 1, 1); /* not page aligned: ignored */
	CHECK_EQ(fa.bad_frees, 2);
	CHECK(!frames_is_free(&fa, a));

	frames_free(&fa, 8 * GiB, 1); /* beyond the allocator */
	CHECK_EQ(fa.bad_frees, 3);
	frames_free(&fa, 4 * GiB - FRAME_SIZE, 2); /* runs past its end */
	CHECK_EQ(fa.bad_frees, 4);
	frames_free(&fa, FRAME_SIZE, UINT64_MAX); /* page count wraps */
	CHECK_EQ(fa.bad_frees, 5);
	CHECK_EQ(fa.free_pages, free_before - 1);

	frames_free(&fa, a, 2); /* the second page was never allocated */
	CHECK_EQ(fa.bad_frees, 6);
	CHECK_EQ(fa.free_pages, free_before);
	CHECK(frames_is_free(&fa, a));
}

/* A page that was never RAM, or RAM that was reserved, must not become allocatable when
 * somebody frees it by mistake. */
static void test_free_of_foreign_page_refused(void)
{
	u64 free_before;

	reset();
	frames_add_range(&fa, 1 * MiB, 1 * MiB);
	frames_reserve_range(&fa, 1 * MiB, FRAME_SIZE); /* the first page: reserved */
	free_before = fa.free_pages;
	frames_free(&fa, 1 * MiB, 1);                   /* reserved */
	frames_free(&fa, 3 * MiB, 1);                   /* never RAM */
	CHECK_EQ(fa.bad_frees, 2);
	CHECK_EQ(fa.free_pages, free_before);
	CHECK(!frames_is_free(&fa, 1 * MiB));
	CHECK(!frames_is_free(&fa, 3 * MiB));
}

/* When the first candidate is page 0, the search must move on to the next page. */
static void test_page_zero_skipped_not_failed(void)
{
	reset();
	frames_add_range(&fa, 0, 2 * FRAME_SIZE); /* pages 0 and 1 */
	CHECK_EQ(frames_alloc(&fa, 1, FRAME_SIZE), FRAME_SIZE);
	CHECK_EQ(fa.alloc_failures, 0);
}

static void test_page_zero_never_returned(void)
{
	u64 pa, failures;

	reset();
	frames_add_range(&fa, 0, FRAME_SIZE); /* page 0 is the only RAM */
	CHECK_EQ(frames_alloc(&fa, 1, FRAME_SIZE), 0); /* 0 means failure, never page 0 */
	CHECK_EQ(fa.alloc_failures, 1);
	CHECK(frames_is_free(&fa, 0));
	CHECK_EQ(fa.free_pages, 1);

	/* pages 0-3: whatever is handed out, page 0 is not, and it stays free */
	reset();
	frames_add_range(&fa, 0, 4 * FRAME_SIZE);
	for (int i = 0; i < 8; i++) {
		failures = fa.alloc_failures;
		pa = frames_alloc(&fa, 1, FRAME_SIZE);
		CHECK(pa == 0 ? fa.alloc_failures == failures + 1 : pa >= FRAME_SIZE);
	}
	CHECK(frames_is_free(&fa, 0));
	CHECK(fa.alloc_failures >= 5);
}

int main(void)
{
	RUN(test_starts_empty);
	RUN(test_qemu_like_map);
	RUN(test_unaligned_ranges_round_inwards);
	RUN(test_overlapping_ram_counted_once);
	RUN(test_overlapping_reservations);
	RUN(test_entries_above_4g_clipped);
	RUN(test_malformed_maps);
	RUN(test_alignment);
	RUN(test_exhaustion);
	RUN(test_free_and_realloc);
	RUN(test_bad_frees_counted);
	RUN(test_page_zero_never_returned);
	RUN(test_free_of_foreign_page_refused);
	RUN(test_page_zero_skipped_not_failed);
	return unit_summary("test_frames");
}
