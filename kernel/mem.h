/*
 * kernel/mem.h - physical memory: the frame allocator, DMA memory, and address translation.
 *
 * The kernel runs identity-mapped (virtual == physical) for the first 4 GiB, set up in boot/.
 * virt_to_phys()/phys_to_virt() are the ONE place that assumption is written down: every
 * address handed to a device is produced by them (or returned by dma_alloc), never by a cast.
 */
#ifndef KERNEL_MEM_H
#define KERNEL_MEM_H

#include "kernel/types.h"

typedef u64 phys_addr_t;

static inline phys_addr_t virt_to_phys(const void *p) { return (phys_addr_t)(uintptr_t)p; }
static inline void *phys_to_virt(phys_addr_t pa) { return (void *)(uintptr_t)pa; }

/*
 * Allocate zeroed memory a device may read and write: at least size bytes, aligned to align
 * (a power of two; at least a page), physically contiguous. *phys receives the device-visible
 * address. Returns NULL when memory is exhausted.
 */
void *dma_alloc(size_t size, size_t align, phys_addr_t *phys);
void dma_free(void *p, size_t size);

/* Whole page frames (4 KiB). */
phys_addr_t frame_alloc(size_t npages, size_t align); /* returns 0 on failure */
void frame_free(phys_addr_t pa, size_t npages);

struct mem_stats {
	u64 total_pages;    /* usable RAM the allocator manages */
	u64 free_pages;
	u64 reserved_pages; /* usable RAM withheld: kernel image, multiboot data, low memory */
	u64 alloc_failures;
};
void mem_get_stats(struct mem_stats *st);

/* Map [pa, pa + size) for MMIO when it lies above the boot identity map; returns the
 * virtual address (identity) or NULL. Below 4 GiB this is a no-op. */
void *ioremap(phys_addr_t pa, size_t size);

/* Boot: build the allocator from the multiboot memory map (kernel/main.c calls this). */
struct multiboot_info;
void mem_init(const struct multiboot_info *mbi);

#endif
