/*
 * kernel/platform.h - every fixed port, IRQ, vector and address the kernel relies on, in one
 * place. These are PC/QEMU facts (ISA legacy I/O map, 8259/8254/16550, LAPIC defaults) rather
 * than anything discovered at run time; discovered resources (PCI BARs, MSI-X vectors) are not
 * listed here.
 */
#ifndef KERNEL_PLATFORM_H
#define KERNEL_PLATFORM_H

/* Memory layout */
#define KERNEL_LOAD_ADDR 0x100000ull    /* 1 MiB: where the multiboot loader puts us (linker.ld) */
#define LOW_MEMORY_END 0x100000ull      /* below 1 MiB: BIOS data, EBDA, VGA, ROMs: never allocated */
#define IDENTITY_MAP_END 0x100000000ull /* boot/ identity-maps [0, 4 GiB) with 2 MiB pages */
#define PAGE_SIZE 4096ull
#define LARGE_PAGE_SIZE 0x200000ull
#define MAX_PHYS_MEM IDENTITY_MAP_END /* RAM above 4 GiB is ignored by the frame allocator */

/* 16550 UART, COM1 */
#define COM1_PORT 0x3f8
#define COM1_IRQ 4

/* 8259A PICs, remapped so that ISA IRQ n arrives on vector IRQ_VECTOR_BASE + n */
#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIC_CASCADE_IRQ 2

/* 8254 PIT, channel 0 on IRQ 0 for the tick, channel 2 (gated by port 0x61) for calibration */
#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PIT_GATE_PORT 0x61
#define PIT_HZ 1193182u
#define PIT_IRQ 0
#define TICK_HZ 100 /* timer tick; finer deadlines come from the TSC (kernel/time.c) */

/* Local APIC (xAPIC, MMIO) */
#define LAPIC_DEFAULT_BASE 0xfee00000ull
#define MSR_APIC_BASE 0x1b
#define MSI_ADDRESS_BASE 0xfee00000u /* MSI/MSI-X message address for APIC id 0 (Intel SDM 10.11.1) */

/* Interrupt vectors: 0-31 exceptions, then IRQ n on vector 32 + n.
 * IRQ 0-15 are ISA lines through the PIC; IRQ 16 and up are MSI/MSI-X vectors, EOI'd at the LAPIC. */
#define IRQ_VECTOR_BASE 32
#define NR_ISA_IRQS 16
#define NR_IRQS 200 /* vectors 32..231 */
#define SPURIOUS_VECTOR 0xff

/* QEMU isa-debug-exit (-device isa-debug-exit,iobase=0xf4,iosize=0x04):
 * writing v makes QEMU exit with status (v << 1) | 1. */
#define DEBUG_EXIT_PORT 0xf4
#define EXIT_CODE_PANIC 0x10 /* a fault or panic ends QEMU with status 33 */
/* ACPI PM1a control on QEMU's PIIX4 (pc) and ICH9 (q35): the fallback poweroff when
 * isa-debug-exit is absent (SLP_TYPa=0 | SLP_EN). */
#define ACPI_PM1A_CNT 0x604 /* PM base 0x600 as SeaBIOS programs it on both machines */
#define ACPI_SLP_EN 0x2000

/* PCI configuration mechanism #1 */
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc

#endif
