/*
 * kernel/irq.c - the 8259A PIC pair, IRQ registration and dispatch.
 *
 * ISA IRQs 0-15 come through the PICs, remapped to vectors 32-47 (8259A data sheet,
 * initialization command words ICW1-ICW4). IRQs 16 and up are MSI-X vectors, allocated on
 * demand and acknowledged at the local APIC.
 */
#include "kernel/errno.h"
#include "kernel/io.h"
#include "kernel/irq.h"
#include "kernel/lapic.h"
#include "kernel/platform.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/traps.h"

#define ICW1_INIT_ICW4 0x11
#define ICW4_8086 0x01
#define OCW3_READ_ISR 0x0b
#define PIC_EOI 0x20

struct irq_desc {
	irq_handler_t handler;
	void *data;
	const char *name;
	u64 count;
	bool msi_allocated;
};

static struct irq_desc irqs[NR_IRQS];
static u16 pic_mask_bits = 0xffff;
static u64 spurious_count;

static void pic_write_mask(void)
{
	outb(PIC1_DATA, pic_mask_bits & 0xff);
	outb(PIC2_DATA, pic_mask_bits >> 8);
}

void pic_mask(int irq)
{
	if (irq >= 0 && irq < NR_ISA_IRQS) {
		pic_mask_bits |= 1u << irq;
		pic_write_mask();
	}
}

void pic_unmask(int irq)
{
	if (irq >= 0 && irq < NR_ISA_IRQS) {
		pic_mask_bits &= ~(1u << irq);
		if (irq >= 8)
			pic_mask_bits &= ~(1u << PIC_CASCADE_IRQ);
		pic_write_mask();
	}
}

void pic_init(void)
{
	outb(PIC1_CMD, ICW1_INIT_ICW4);
	io_delay();
	outb(PIC2_CMD, ICW1_INIT_ICW4);
	io_delay();
	outb(PIC1_DATA, IRQ_VECTOR_BASE);     /* ICW2: vector offsets */
	io_delay();
	outb(PIC2_DATA, IRQ_VECTOR_BASE + 8);
	io_delay();
	outb(PIC1_DATA, 1u << PIC_CASCADE_IRQ); /* ICW3: slave on IRQ 2 */
	io_delay();
	outb(PIC2_DATA, PIC_CASCADE_IRQ);
	io_delay();
	outb(PIC1_DATA, ICW4_8086);
	io_delay();
	outb(PIC2_DATA, ICW4_8086);
	io_delay();
	pic_write_mask(); /* everything masked until request_irq */
}

static u8 pic_in_service(u16 cmd_port)
{
	outb(cmd_port, OCW3_READ_ISR);
	return inb(cmd_port);
}

/* IRQ 7 and 15 may be spurious (8259A data sheet): the in-service bit tells. */
static bool pic_spurious(int irq)
{
	if (irq == 7 && !(pic_in_service(PIC1_CMD) & 0x80))
		return true;
	if (irq == 15 && !(pic_in_service(PIC2_CMD) & 0x80)) {
		outb(PIC1_CMD, PIC_EOI); /* the master did see the cascade line */
		return true;
	}
	return false;
}

static void pic_eoi(int irq)
{
	if (irq >= 8)
		outb(PIC2_CMD, PIC_EOI);
	outb(PIC1_CMD, PIC_EOI);
}

int request_irq(int irq, irq_handler_t handler, void *data, const char *name)
{
	unsigned long flags;

	if (irq < 0 || irq >= NR_IRQS || !handler)
		return -EINVAL;
	if (irqs[irq].handler)
		return -EBUSY;
	flags = local_irq_save();
	irqs[irq].handler = handler;
	irqs[irq].data = data;
	irqs[irq].name = name;
	local_irq_restore(flags);
	if (irq < NR_ISA_IRQS)
		pic_unmask(irq);
	return 0;
}

void free_irq(int irq)
{
	unsigned long flags;

	if (irq < 0 || irq >= NR_IRQS)
		return;
	if (irq < NR_ISA_IRQS)
		pic_mask(irq); /* PCI INTx lines may be shared in principle, but not in this kernel */
	flags = local_irq_save();
	irqs[irq].handler = NULL;
	irqs[irq].data = NULL;
	local_irq_restore(flags);
}

int irq_alloc_msi(void)
{
	for (int irq = NR_ISA_IRQS; irq < NR_IRQS; irq++) {
		if (!irqs[irq].msi_allocated) {
			irqs[irq].msi_allocated = true;
			return irq;
		}
	}
	return -ENOSPC;
}

void irq_free_msi(int irq)
{
	if (irq >= NR_ISA_IRQS && irq < NR_IRQS) {
		free_irq(irq);
		irqs[irq].msi_allocated = false;
	}
}

void irq_msi_message(int irq, u32 *addr, u32 *data)
{
	/* Intel SDM vol. 3, 10.11.1/10.11.2: destination APIC id in address bits 19:12;
	 * fixed delivery, edge triggered, vector in data bits 7:0. */
	*addr = MSI_ADDRESS_BASE | (lapic_id() << 12);
	*data = (u32)(IRQ_VECTOR_BASE + irq);
}

u64 irq_count(int irq) { return irq >= 0 && irq < NR_IRQS ? irqs[irq].count : 0; }

void irq_dispatch(struct trap_frame *tf)
{
	int irq;

	if (tf->vector == SPURIOUS_VECTOR) { /* LAPIC spurious: no EOI (SDM 10.9) */
		spurious_count++;
		return;
	}
	irq = (int)tf->vector - IRQ_VECTOR_BASE;
	if (irq < NR_ISA_IRQS && (irq == 7 || irq == 15) && pic_spurious(irq)) {
		spurious_count++;
		return;
	}
	if (irq < NR_IRQS) {
		irqs[irq].count++;
		if (irqs[irq].handler)
			irqs[irq].handler(irq, irqs[irq].data);
	}
	if (irq < NR_ISA_IRQS)
		pic_eoi(irq);
	else
		lapic_eoi();
}

static int cmd_irqs(int argc, char **argv)
{
	printk("IRQ  vector  count                 handler\n");
	for (int irq = 0; irq < NR_IRQS; irq++) {
		if (!irqs[irq].handler && !irqs[irq].count)
			continue;
		printk("%3d  %6d  %-20llu  %s%s\n", irq, IRQ_VECTOR_BASE + irq,
		       irqs[irq].count,
		       irqs[irq].handler ? irqs[irq].name : "(none)", irq < NR_ISA_IRQS ? "" : " [msi]");
	}
	printk("spurious: %llu\n", spurious_count);
	return 0;
}
SHELL_COMMAND(irqs, cmd_irqs, "irqs", "interrupt counts per IRQ");
