/*
 * kernel/printk.h - formatted output to the console, and the formatter under it.
 *
 * Supported conversions: %d %i %u %x %X %p %s %c %%, with flags '-' and '0', a field width
 * (number or '*'), a precision for %s, and the length modifiers hh h l ll z. The formatter
 * (kernel/format.c) is pure and also builds on the host for unit tests.
 */
#ifndef KERNEL_PRINTK_H
#define KERNEL_PRINTK_H

#include "kernel/types.h"

/* Format into buf (always NUL-terminated when size > 0); returns the length the full output
 * would have had, like C99 vsnprintf. */
int vsnprintk(char *buf, size_t size, const char *fmt, va_list ap);
int snprintk(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

/* Print to the serial console. Safe from interrupt context. */
int printk(const char *fmt, ...) __printf(1, 2);
int vprintk(const char *fmt, va_list ap);

/* Stop the machine with a message: for boot-time impossibilities only (docs/design.md, "Conventions"). */
__noreturn void panic(const char *fmt, ...) __printf(1, 2);

#define BUG_ON(cond)                                                                  \
	do {                                                                          \
		if (unlikely(cond))                                                   \
			panic("BUG_ON(%s) at %s:%d", #cond, __FILE__, __LINE__);      \
	} while (0)

#endif
