/*
 * kernel/power.c - machine_exit: isa-debug-exit, then ACPI poweroff, then halt.
 */
#include "kernel/io.h"
#include "kernel/power.h"
#include "kernel/printk.h"

void machine_exit(int code)
{
	__asm__ __volatile__("cli");
	outb(DEBUG_EXIT_PORT, (u8)code); /* QEMU exits here when isa-debug-exit is present */
	outw(ACPI_PM1A_CNT, ACPI_SLP_EN); /* S5 on QEMU's pc/q35 ACPI (SLP_TYP 0) */
	printk("machine halted (no isa-debug-exit device, ACPI poweroff failed)\n");
	for (;;)
		__asm__ __volatile__("hlt");
}
