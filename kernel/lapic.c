/*
 * kernel/lapic.c - local APIC bring-up (xAPIC MMIO mode), Intel SDM vol. 3, chapter 10.
 *
 * We keep the 8259 PIC for ISA interrupts, delivered through LINT0 in "virtual wire" mode
 * (LVT LINT0 = ExtINT), and use the LAPIC for MSI/MSI-X vectors and their EOI.
 */
#include "kernel/io.h"
#include "kernel/lapic.h"
#include "kernel/platform.h"
#include "kernel/printk.h"

#define LAPIC_ID 0x020
#define LAPIC_VERSION 0x030
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370

#define APIC_BASE_ENABLE (1ull << 11)
#define SVR_ENABLE (1u << 8)
#define LVT_MASKED (1u << 16)
#define LVT_EXTINT (7u << 8)
#define LVT_NMI (4u << 8)

static volatile u8 *lapic;

static u32 lapic_read(u32 reg) { return mmio_read32(lapic + reg); }
static void lapic_write(u32 reg, u32 v) { mmio_write32(lapic + reg, v); }

void lapic_init(void)
{
	u64 base = rdmsr(MSR_APIC_BASE);

	wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
	lapic = (volatile u8 *)(uintptr_t)(base & ~0xfffull); /* below 4 GiB: identity mapped */

	lapic_write(LAPIC_TPR, 0);                        /* accept every priority */
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);         /* the PIT is our tick */
	lapic_write(LAPIC_LVT_LINT0, LVT_EXTINT);         /* 8259 output: virtual wire */
	lapic_write(LAPIC_LVT_LINT1, LVT_NMI);
	lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
	lapic_write(LAPIC_SVR, SVR_ENABLE | SPURIOUS_VECTOR);
	printk("lapic: id %u version 0x%x at 0x%llx\n", lapic_id(), lapic_read(LAPIC_VERSION) & 0xff,
	       (base & ~0xfffull));
}

void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }
u32 lapic_id(void) { return lapic ? lapic_read(LAPIC_ID) >> 24 : 0; }
bool lapic_enabled(void) { return lapic != NULL; }
