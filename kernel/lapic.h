/*
 * kernel/lapic.h - the local APIC: enabled so message-signalled interrupts (MSI-X) can be
 * delivered and acknowledged; the PIC's interrupts still arrive through LINT0 (virtual wire).
 */
#ifndef KERNEL_LAPIC_H
#define KERNEL_LAPIC_H

#include "kernel/types.h"

void lapic_init(void);
void lapic_eoi(void);
u32 lapic_id(void);
bool lapic_enabled(void);

#endif
