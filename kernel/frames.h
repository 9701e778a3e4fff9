/*
 * kernel/frames.h - a bitmap allocator of 4 KiB physical page frames.
 *
 * Pure data structure (no globals, no I/O): kernel/mem.c owns the one instance and feeds it the
 * multiboot memory map; tests/unit/test_frames.c feeds it fake maps on the host.
 * Two bitmaps: in 'bitmap' a set bit means "not available" (in use, reserved, or not RAM);
 * in 'usable' a set bit means "RAM that is ours to hand out", so a free of a page that was
 * never ours (not RAM, or reserved) is recognised and refused.
 */
#ifndef KERNEL_FRAMES_H
#define KERNEL_FRAMES_H

#include "kernel/types.h"

#define FRAME_SIZE 4096ull

struct frame_allocator {
	u64 *bitmap;
	u64 *usable;
	u64 max_pages;      /* the bitmap covers [0, max_pages * FRAME_SIZE) */
	u64 total_pages;    /* RAM pages the map offered us (within max_pages) */
	u64 free_pages;
	u64 reserved_pages; /* RAM pages withheld after being offered (image, boot data) */
	u64 alloc_failures;
	u64 bad_frees;      /* frees of pages that were not allocated: counted, ignored */
	u64 next_hint;      /* where the next first-fit search starts */
};

/* Start with nothing available; each bitmap must hold max_pages bits. */
void frames_init(struct frame_allocator *fa, u64 *bitmap, u64 *usable, u64 max_pages);
/* RAM: make the whole pages inside [base, base + len) available. */
void frames_add_range(struct frame_allocator *fa, u64 base, u64 len);
/* Withhold every page touching [base, base + len). */
void frames_reserve_range(struct frame_allocator *fa, u64 base, u64 len);
/* Add the "available" (type 1) entries of a multiboot memory map (spec 3.3, mmap_*).
 * Returns the number of entries used, or -EINVAL when the map is malformed (entries are
 * used up to the malformed one). */
int frames_add_multiboot_mmap(struct frame_allocator *fa, const void *mmap, u32 length);
/* npages contiguous pages aligned to align bytes (power of two); 0 when impossible. */
u64 frames_alloc(struct frame_allocator *fa, u64 npages, u64 align);
void frames_free(struct frame_allocator *fa, u64 pa, u64 npages);
bool frames_is_free(const struct frame_allocator *fa, u64 pa);

#endif
