/*
 * kernel/cmdline.h - the kernel command line as key=value pairs.
 *
 * Multiboot hands us one string (QEMU: "-append"; GRUB: the rest of the "multiboot" line), often
 * beginning with the kernel's own path. Tokens are separated by spaces; "key=value" sets key,
 * a bare "key" is present with an empty value. Later keys override earlier ones.
 */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

#include "kernel/types.h"

#define CMDLINE_MAX 512
#define CMDLINE_MAX_ARGS 32

struct cmdline {
	char buf[CMDLINE_MAX];
	int n;
	const char *key[CMDLINE_MAX_ARGS];
	const char *val[CMDLINE_MAX_ARGS];
	bool truncated;
};

/* Parse s into cl (pure; unit tested). */
void cmdline_parse(struct cmdline *cl, const char *s);
/* Value of key, "" for a bare key, NULL when absent. */
const char *cmdline_lookup(const struct cmdline *cl, const char *key);

/* The boot command line (set up by kmain). */
void cmdline_init(const char *s);
const char *cmdline_get(const char *key);
const char *cmdline_raw(void);
const struct cmdline *cmdline_boot(void);

#endif
