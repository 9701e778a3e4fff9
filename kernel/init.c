/*
 * kernel/init.c - runs the INITCALL()s gathered by the linker (kernel/init.h).
 */
#include "kernel/init.h"

extern const initcall_t __initcalls_start[], __initcalls_end[];

void run_initcalls(void)
{
	for (const initcall_t *f = __initcalls_start; f < __initcalls_end; f++)
		(*f)();
}
