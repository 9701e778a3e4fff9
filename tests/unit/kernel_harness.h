/* tests/unit/kernel_harness.h - knobs of the host stand-ins in kernel_harness.c. */
#ifndef TESTS_UNIT_KERNEL_HARNESS_H
#define TESTS_UNIT_KERNEL_HARNESS_H

#include <stddef.h>
#include "kernel/types.h"

extern char host_log[65536]; /* everything printk'd since host_log_clear() */
extern size_t host_log_len;
extern int host_quiet;       /* 0: also echo printk to stdout */
extern u64 host_now_ns;      /* what now_ns() returns */
extern long host_dma_live;   /* dma_alloc'd and not freed */
extern long host_dma_fail_after; /* -1: never fail; n: fail after n more successes */
extern int host_dma_low32;   /* non-zero: dma_alloc returns memory below 4 GiB, as the kernel's
                              * always is (a legacy virtio queue's 32-bit page frame number) */
void host_log_clear(void);
/* Set (val non-NULL) or clear a key of the fake boot command line cmdline_get() reads. */
void h_set_cmdline(const char *key, const char *val);

#endif
