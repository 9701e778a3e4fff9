/*
 * tests/unit/host_stubs.c - what kernel code expects from the kernel, for host builds:
 * printk to stdout (optionally captured), panic as abort, DMA memory from aligned_alloc with
 * identity "physical" addresses (matching kernel/mem.h's virt_to_phys), and a fake clock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/mem.h"
#include "kernel/printk.h"
#include "tests/unit/host_stubs.h"

char host_log[65536];
size_t host_log_len;
int host_quiet = 1;
u64 host_now_ns;
long host_dma_live; /* allocations not yet freed: a leak check for tests */
long host_dma_fail_after = -1;

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

void *dma_alloc(size_t size, size_t align, phys_addr_t *phys)
{
	void *p;

	if (host_dma_fail_after == 0)
		return NULL;
	if (host_dma_fail_after > 0)
		host_dma_fail_after--;
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
	if (p) {
		host_dma_live--;
		free(p);
	}
}

u64 now_ns(void) { return host_now_ns; }
