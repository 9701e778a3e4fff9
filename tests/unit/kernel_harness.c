/*
 * tests/unit/kernel_harness.c - what kernel code expects from the kernel, for host builds:
 * printk to stdout (optionally captured), panic as abort, DMA memory from aligned_alloc with
 * identity "physical" addresses (matching kernel/mem.h's virt_to_phys), a fake clock, a boot
 * command line the test sets, and boot milestones that go nowhere. Every host stand-in for a
 * kernel/ service is here; tests/unit/unit.mk says which kernel/ files run on the host as they are.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernel/cmdline.h"
#include "kernel/mem.h"
#include "kernel/printk.h"
#include "drivers/virtio/vring_trace.h"
#include "tests/unit/kernel_harness.h"

char host_log[65536];
size_t host_log_len;
int host_quiet = 1;
u64 host_now_ns;
long host_dma_live; /* allocations not yet freed: a leak check for tests */
long host_dma_fail_after = -1;
int host_dma_low32;
void (*host_vq_trace)(const struct virtqueue *vq, const char *step, u32 id, u32 val);

int vprintk(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintk(buf, sizeof(buf), fmt, ap);
	size_t len = strlen(buf);

	if (host_log_len + len < sizeof(host_log)) {
		memcpy(host_log + host_log_len, buf, len + 1);
		host_log_len += len;
	}
	if (!host_quiet)
		fputs(buf, stdout);
	return n;
}

int printk(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintk(fmt, ap);
	va_end(ap);
	return n;
}

void panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "PANIC: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

void host_log_clear(void)
{
	host_log_len = 0;
	host_log[0] = '\0';
}

/* Memory below 4 GiB (host_dma_low32), from mmap with MAP_32BIT, which hands out whole pages
 * (the alignment dma_alloc promises); remembered so dma_free can tell it from the C library's. */
#define H_DMA_LOW_MAX 64
static void *h_dma_low[H_DMA_LOW_MAX];

static void *dma_alloc_low32(size_t size, size_t align)
{
	unsigned i = 0;
	void *p;

	while (i < H_DMA_LOW_MAX && h_dma_low[i])
		i++;
	if (i == H_DMA_LOW_MAX || align > 4096) /* a test needing more: raise the bound */
		abort();
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	h_dma_low[i] = p; /* zeroed by mmap */
	return p;
}

static int dma_free_low32(void *p, size_t size)
{
	for (unsigned i = 0; i < H_DMA_LOW_MAX; i++)
		if (p && h_dma_low[i] == p) {
			munmap(p, (size + 4095) & ~(size_t)4095);
			h_dma_low[i] = NULL;
			return 1;
		}
	return 0;
}

void *dma_alloc(size_t size, size_t align, phys_addr_t *phys)
{
	void *p;

	if (host_dma_fail_after == 0)
		return NULL;
	if (host_dma_fail_after > 0)
		host_dma_fail_after--;
	if (host_dma_low32) {
		p = dma_alloc_low32(size, align);
		if (p) {
			*phys = virt_to_phys(p);
			host_dma_live++;
		}
		return p;
	}
	if (align < 4096)
		align = 4096;
	size = (size + 4095) & ~(size_t)4095;
	p = aligned_alloc(align, size);
	if (!p)
		return NULL;
	memset(p, 0, size);
	*phys = virt_to_phys(p);
	host_dma_live++;
	return p;
}

void dma_free(void *p, size_t size)
{
	if (dma_free_low32(p, size)) {
		host_dma_live--;
		return;
	}
	if (p) {
		host_dma_live--;
		free(p);
	}
}

u64 now_ns(void) { return host_now_ns; }

/* A busy wait (the control queue polling for its answer) moves the simulated clock. */
void udelay(u64 us) { host_now_ns += us * 1000; }

/* MMIO above the boot identity map: on the host every address is already mapped. */
void *ioremap(phys_addr_t pa, size_t size) { return phys_to_virt(pa); }

/* The boot command line, as a test sets it (h_set_cmdline); empty by default. */
#define H_CMDLINE_MAX 8
static const char *h_cmd_key[H_CMDLINE_MAX], *h_cmd_val[H_CMDLINE_MAX];

void h_set_cmdline(const char *key, const char *val)
{
	unsigned i, free_slot = H_CMDLINE_MAX;

	for (i = 0; i < H_CMDLINE_MAX; i++) {
		if (h_cmd_key[i] && strcmp(h_cmd_key[i], key) == 0)
			break;
		if (!h_cmd_key[i] && free_slot == H_CMDLINE_MAX)
			free_slot = i;
	}
	if (i == H_CMDLINE_MAX)
		i = free_slot;
	if (i == H_CMDLINE_MAX)
		abort();
	h_cmd_key[i] = val ? key : NULL;
	h_cmd_val[i] = val;
}

const char *cmdline_get(const char *key)
{
	for (unsigned i = 0; i < H_CMDLINE_MAX; i++)
		if (h_cmd_key[i] && strcmp(h_cmd_key[i], key) == 0)
			return h_cmd_val[i];
	return NULL;
}

/* Boot milestones (kernel/timeline.c) mean nothing here; weak, so a build that links the
 * real file gets the real one. */
__attribute__((weak)) void timeline_mark(const char *milestone);
__attribute__((weak)) void timeline_mark_at(const char *milestone, u64 ns);
void timeline_mark(const char *milestone) {}
void timeline_mark_at(const char *milestone, u64 ns) {}
