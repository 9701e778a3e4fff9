/*
 * kernel/frames.c - bitmap page-frame allocator (see kernel/frames.h).
 *
 * First fit from a moving hint, stepping by the requested alignment. Allocations in this
 * kernel are few and long-lived (rings, packet pools), so simplicity beats cleverness here.
 */
#include "boot/multiboot.h"
#include "kernel/errno.h"
#include "kernel/frames.h"

static bool test_bit(const u64 *bm, u64 n) { return (bm[n / 64] >> (n % 64)) & 1; }
static void set_bit(u64 *bm, u64 n) { bm[n / 64] |= 1ull << (n % 64); }
static void clear_bit(u64 *bm, u64 n) { bm[n / 64] &= ~(1ull << (n % 64)); }

void frames_init(struct frame_allocator *fa, u64 *bitmap, u64 *usable, u64 max_pages)
{
	fa->bitmap = bitmap;
	fa->usable = usable;
	fa->max_pages = max_pages;
	for (u64 i = 0; i < (max_pages + 63) / 64; i++) {
		bitmap[i] = ~0ull;
		usable[i] = 0;
	}
	fa->total_pages = fa->free_pages = fa->reserved_pages = 0;
	fa->alloc_failures = fa->bad_frees = fa->next_hint = 0;
}

void frames_add_range(struct frame_allocator *fa, u64 base, u64 len)
{
	u64 first, end;

	if (len == 0 || base + len < base) /* empty or wraps: ignore */
		return;
	first = (base + FRAME_SIZE - 1) / FRAME_SIZE; /* whole pages only: round inwards */
	end = (base + len) / FRAME_SIZE;
	if (end > fa->max_pages)
		end = fa->max_pages;
	for (u64 p = first; p < end; p++) {
		if (test_bit(fa->bitmap, p) && !test_bit(fa->usable, p)) {
			clear_bit(fa->bitmap, p);
			set_bit(fa->usable, p);
			fa->total_pages++;
			fa->free_pages++;
		}
	}
}

void frames_reserve_range(struct frame_allocator *fa, u64 base, u64 len)
{
	u64 first, end;

	if (len == 0)
		return;
	if (base + len < base)
		len = UINT64_MAX - base;
	first = base / FRAME_SIZE; /* every page touched: round outwards */
	end = (base + len + FRAME_SIZE - 1) / FRAME_SIZE;
	if (end > fa->max_pages)
		end = fa->max_pages;
	for (u64 p = first; p < end; p++) {
		if (!test_bit(fa->bitmap, p)) {
			set_bit(fa->bitmap, p);
			clear_bit(fa->usable, p);
			fa->free_pages--;
			fa->reserved_pages++;
		}
	}
}

int frames_add_multiboot_mmap(struct frame_allocator *fa, const void *mmap, u32 length)
{
	const u8 *p = mmap, *end = p + length;
	int used = 0;

	while (p < end) {
		const struct multiboot_mmap_entry *e = (const void *)p;

		/* 'size' excludes itself and must cover addr, len and type (20 bytes). */
		if ((size_t)(end - p) < sizeof(*e) || e->size < 20 || e->size > (size_t)(end - p) - 4)
			return -EINVAL;
		if (e->type == MULTIBOOT_MEMORY_AVAILABLE) {
			frames_add_range(fa, e->addr, e->len);
			used++;
		}
		p += e->size + 4;
	}
	return used;
}

static bool run_is_free(const struct frame_allocator *fa, u64 first, u64 n)
{
	for (u64 p = first; p < first + n; p++)
		if (test_bit(fa->bitmap, p))
			return false;
	return true;
}

static u64 search(struct frame_allocator *fa, u64 from, u64 to, u64 npages, u64 step)
{
	for (u64 p = ALIGN_UP(from, step); p + npages <= to; p += step)
		if (run_is_free(fa, p, npages))
			return p;
	return UINT64_MAX;
}

u64 frames_alloc(struct frame_allocator *fa, u64 npages, u64 align)
{
	u64 step, p;

	if (npages == 0 || npages > fa->free_pages || !IS_POWER_OF_2(align)) {
		fa->alloc_failures++;
		return 0;
	}
	step = align > FRAME_SIZE ? align / FRAME_SIZE : 1;
	/* Page 0 is never handed out (0 means failure), so searches start at page 1. */
	p = search(fa, MAX(fa->next_hint, 1), fa->max_pages, npages, step);
	if (p == UINT64_MAX)
		p = search(fa, 1, fa->max_pages, npages, step);
	if (p == UINT64_MAX) {
		fa->alloc_failures++;
		return 0;
	}
	for (u64 i = p; i < p + npages; i++)
		set_bit(fa->bitmap, i);
	fa->free_pages -= npages;
	fa->next_hint = p + npages;
	return p * FRAME_SIZE;
}

void frames_free(struct frame_allocator *fa, u64 pa, u64 npages)
{
	u64 first = pa / FRAME_SIZE;

	if (pa % FRAME_SIZE || first + npages > fa->max_pages || first + npages < first) {
		fa->bad_frees++;
		return;
	}
	for (u64 p = first; p < first + npages; p++) {
		if (test_bit(fa->bitmap, p) && test_bit(fa->usable, p)) {
			clear_bit(fa->bitmap, p);
			fa->free_pages++;
		} else {
			fa->bad_frees++; /* already free, reserved, or never RAM */
		}
	}
	if (first < fa->next_hint)
		fa->next_hint = first;
}

bool frames_is_free(const struct frame_allocator *fa, u64 pa)
{
	u64 p = pa / FRAME_SIZE;

	return p < fa->max_pages && !test_bit(fa->bitmap, p);
}
