/*
 * kernel/power.h - ending the machine.
 */
#ifndef KERNEL_POWER_H
#define KERNEL_POWER_H

#include "kernel/platform.h"
#include "kernel/types.h"

/* Leave QEMU with status (code << 1) | 1 through isa-debug-exit; without that device, power
 * off through ACPI; failing both, halt forever. */
__noreturn void machine_exit(int code);

#endif
