/*
 * kernel/printk.c - printk, vprintk and panic (kernel/printk.h) on top of the serial port;
 * the formatter under them, vsnprintk, is kernel/format.c (pure, so host tests build it).
 */
#include "drivers/uart.h"
#include "kernel/irq.h"
#include "kernel/power.h"
#include "kernel/printk.h"
#include "kernel/traps.h"

int vprintk(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintk(buf, sizeof(buf), fmt, ap);
	size_t len = n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
	/* One line at a time: an interrupt handler's message must not land inside another. */
	unsigned long flags = local_irq_save();

	uart_write(buf, len);
	local_irq_restore(flags);
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

	local_irq_disable();
	printk("\nKERNEL PANIC: ");
	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
	printk("\n");
	dump_backtrace(__builtin_frame_address(0));
	machine_exit(EXIT_CODE_PANIC);
}

/* -fstack-protector: the canary is seeded from the TSC in boot/boot.S before kmain. */
unsigned long __stack_chk_guard;
__noreturn void __stack_chk_fail(void);
__noreturn void __stack_chk_fail(void)
{
	panic("stack protector: stack smashing detected (canary overwritten) in the caller of %p",
	      __builtin_return_address(0));
}
