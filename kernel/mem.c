/*
 * kernel/mem.c - physical memory for the kernel: the frame allocator instance, DMA memory,
 * and the few page-table edits made after boot (guard pages, MMIO above 4 GiB).
 *
 * boot/boot.S identity-maps [0, 4 GiB) with 2 MiB pages. Here we split the first 2 MiB page
 * into 4 KiB pages so page 0 (NULL) and the stack's guard page can be left unmapped.
 */
#include "boot/multiboot.h"
#include "kernel/errno.h"
#include "kernel/frames.h"
#include "kernel/mem.h"
#include "kernel/platform.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"

#define PTE_PRESENT 0x1ull
#define PTE_WRITE 0x2ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_LARGE 0x80ull
#define PTE_ADDR_MASK 0x000ffffffffff000ull

extern u64 boot_pml4[512], boot_pdpt[512], boot_pd[4 * 512];
extern char __kernel_start[], __kernel_end[], __stack_guard[];

static u64 frame_bitmap[MAX_PHYS_MEM / PAGE_SIZE / 64];
static u64 frame_usable[MAX_PHYS_MEM / PAGE_SIZE / 64];
static struct frame_allocator frames;
static u64 dma_bytes_in_use;

static void invlpg(u64 va) { __asm__ __volatile__("invlpg (%0)" ::"r"(va) : "memory"); }

/* Reserve a multiboot-provided region (a u32 address plus a length). */
static void reserve(u64 base, u64 len) { frames_reserve_range(&frames, base, len); }

static void reserve_boot_data(const struct multiboot_info *mbi)
{
	reserve((u64)(uintptr_t)mbi, sizeof(*mbi));
	if (mbi->flags & MULTIBOOT_INFO_CMDLINE)
		reserve(mbi->cmdline, strnlen(phys_to_virt(mbi->cmdline), 4096) + 1);
	if (mbi->flags & MULTIBOOT_INFO_MEM_MAP)
		reserve(mbi->mmap_addr, mbi->mmap_length);
	if (mbi->flags & MULTIBOOT_INFO_MODS) {
		const struct multiboot_mod *m = phys_to_virt(mbi->mods_addr);

		reserve(mbi->mods_addr, (u64)mbi->mods_count * sizeof(*m));
		for (u32 i = 0; i < mbi->mods_count && i < 64; i++)
			reserve(m[i].mod_start, (u64)m[i].mod_end - m[i].mod_start);
	}
	if (mbi->flags & MULTIBOOT_INFO_BOOT_LOADER_NAME)
		reserve(mbi->boot_loader_name, 256);
}

/* Replace the 2 MiB mapping covering va with 512 4 KiB mappings of the same memory. */
static u64 *split_large_page(u64 va)
{
	u64 *pde = &boot_pd[va >> 21];
	phys_addr_t pt_pa;
	u64 *pt;

	if (!(*pde & PTE_LARGE))
		return phys_to_virt(*pde & PTE_ADDR_MASK);
	pt_pa = frames_alloc(&frames, 1, PAGE_SIZE);
	if (!pt_pa)
		panic("mem: no page for a page table");
	pt = phys_to_virt(pt_pa);
	for (int i = 0; i < 512; i++)
		pt[i] = (ALIGN_DOWN(va, LARGE_PAGE_SIZE) + (u64)i * PAGE_SIZE) | PTE_PRESENT | PTE_WRITE;
	*pde = pt_pa | PTE_PRESENT | PTE_WRITE;
	invlpg(ALIGN_DOWN(va, LARGE_PAGE_SIZE));
	return pt;
}

static void unmap_page(u64 va)
{
	u64 *pt = split_large_page(va);

	pt[(va >> 12) & 511] = 0;
	invlpg(va);
}

void mem_init(const struct multiboot_info *mbi)
{
	struct mem_stats st;

	frames_init(&frames, frame_bitmap, frame_usable, MAX_PHYS_MEM / PAGE_SIZE);
	if (mbi->flags & MULTIBOOT_INFO_MEM_MAP) {
		if (frames_add_multiboot_mmap(&frames, phys_to_virt(mbi->mmap_addr), mbi->mmap_length) < 0)
			printk("mem: malformed multiboot memory map; using the entries before the error\n");
	} else if (mbi->flags & MULTIBOOT_INFO_MEMORY) {
		frames_add_range(&frames, LOW_MEMORY_END, (u64)mbi->mem_upper * 1024);
	} else {
		panic("mem: the boot loader gave no memory information");
	}
	reserve(0, LOW_MEMORY_END);
	reserve(virt_to_phys(__kernel_start), (u64)(__kernel_end - __kernel_start));
	reserve_boot_data(mbi);

	unmap_page(0);                                /* NULL dereferences fault */
	unmap_page((u64)(uintptr_t)__stack_guard);    /* stack overflows fault */

	mem_get_stats(&st);
	printk("mem: %llu MiB usable, %llu KiB reserved (low memory, kernel image %llu KiB, boot data)\n",
	       (st.total_pages * PAGE_SIZE >> 20),
	       (st.reserved_pages * PAGE_SIZE >> 10),
	       ((u64)(__kernel_end - __kernel_start) >> 10));
}

phys_addr_t frame_alloc(size_t npages, size_t align)
{
	return frames_alloc(&frames, npages, align < PAGE_SIZE ? PAGE_SIZE : align);
}

void frame_free(phys_addr_t pa, size_t npages) { frames_free(&frames, pa, npages); }

void *dma_alloc(size_t size, size_t align, phys_addr_t *phys)
{
	size_t npages = ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE;
	phys_addr_t pa = frame_alloc(npages, align);
	void *p;

	if (!pa || pa + npages * PAGE_SIZE > IDENTITY_MAP_END)
		return NULL;
	p = phys_to_virt(pa);
	memset(p, 0, npages * PAGE_SIZE);
	dma_bytes_in_use += npages * PAGE_SIZE;
	*phys = pa;
	return p;
}

void dma_free(void *p, size_t size)
{
	size_t npages = ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE;

	if (!p)
		return;
	frame_free(virt_to_phys(p), npages);
	dma_bytes_in_use -= npages * PAGE_SIZE;
}

void *ioremap(phys_addr_t pa, size_t size)
{
	u64 end = pa + size;

	if (end < pa || end > 512ull << 30) /* one PDPT covers 512 GiB */
		return NULL;
	for (u64 a = ALIGN_DOWN(pa, LARGE_PAGE_SIZE); a < end; a += LARGE_PAGE_SIZE) {
		u64 *pdpte = &boot_pdpt[a >> 30];
		u64 *pd;

		if (a < IDENTITY_MAP_END)
			continue; /* already mapped by boot/ */
		if (!(*pdpte & PTE_PRESENT)) {
			phys_addr_t pd_pa = frames_alloc(&frames, 1, PAGE_SIZE);

			if (!pd_pa)
				return NULL;
			memset(phys_to_virt(pd_pa), 0, PAGE_SIZE);
			*pdpte = pd_pa | PTE_PRESENT | PTE_WRITE;
		}
		pd = phys_to_virt(*pdpte & PTE_ADDR_MASK);
		/* Device registers: uncached (PCD|PWT), 2 MiB pages. */
		pd[(a >> 21) & 511] = a | PTE_PRESENT | PTE_WRITE | PTE_LARGE | PTE_PCD | PTE_PWT;
		invlpg(a);
	}
	return phys_to_virt(pa);
}

void mem_get_stats(struct mem_stats *st)
{
	st->total_pages = frames.total_pages;
	st->free_pages = frames.free_pages;
	st->reserved_pages = frames.reserved_pages;
	st->alloc_failures = frames.alloc_failures;
}

static int cmd_mem(int argc, char **argv)
{
	struct mem_stats st;

	mem_get_stats(&st);
	printk("memory: total %llu KiB, free %llu KiB, used %llu KiB, reserved %llu KiB\n",
	       (st.total_pages * 4), (st.free_pages * 4),
	       ((st.total_pages - st.reserved_pages - st.free_pages) * 4),
	       (st.reserved_pages * 4));
	printk("dma in use: %llu KiB, allocation failures: %llu, bad frees: %llu\n",
	       (dma_bytes_in_use >> 10), st.alloc_failures,
	       frames.bad_frees);
	printk("kernel image: %p-%p (%llu KiB)\n", (void *)__kernel_start, (void *)__kernel_end,
	       ((u64)(__kernel_end - __kernel_start) >> 10));
	return 0;
}
SHELL_COMMAND(mem, cmd_mem, "mem", "physical memory and DMA usage");
