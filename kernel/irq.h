/*
 * kernel/irq.h - interrupt registration.
 *
 * IRQ numbers: 0-15 are ISA lines through the 8259 PIC (vector 32 + irq); 16 and above are
 * message-signalled vectors (MSI-X) allocated with irq_alloc_msi() and acknowledged at the
 * LAPIC. Handlers run in interrupt context with interrupts off: they must only reclaim,
 * refill or schedule work (docs/design.md, "Interrupts and the loop"), never allocate or do protocol work.
 */
#ifndef KERNEL_IRQ_H
#define KERNEL_IRQ_H

#include "kernel/types.h"

typedef void (*irq_handler_t)(int irq, void *data);

/* Returns 0 or -EBUSY when the IRQ already has a handler, -EINVAL for a bad number.
 * For an ISA IRQ it also unmasks the line at the PIC. */
int request_irq(int irq, irq_handler_t handler, void *data, const char *name);
void free_irq(int irq);

/* An IRQ number backed by a free LAPIC vector, for MSI/MSI-X; -ENOSPC when none is left. */
int irq_alloc_msi(void);
void irq_free_msi(int irq);
/* The MSI message a device must write to raise this irq (Intel SDM 10.11). */
void irq_msi_message(int irq, u32 *addr, u32 *data);

u64 irq_count(int irq);

/* The 8259 pair: pic_init remaps it to IRQ_VECTOR_BASE with every line masked (kmain, once). */
void pic_init(void);
/* 8259 mask API */
void pic_mask(int irq);
void pic_unmask(int irq);

#ifdef HOST_TEST
/* Host unit tests run in user mode, where cli/sti fault, and have no interrupts to mask:
 * the driver code that brackets its shared state with these (napi_schedule, ...) runs as is. */
static inline void local_irq_disable(void) {}
static inline void local_irq_enable(void) {}
static inline unsigned long local_irq_save(void) { return 0; }
static inline void local_irq_restore(unsigned long flags) { (void)flags; }
/* The idle loop's halt (kernel/loop.c): a test that links the loop provides it. */
void safe_halt(void);
#else
static inline void local_irq_disable(void) { __asm__ __volatile__("cli" ::: "memory"); }
static inline void local_irq_enable(void) { __asm__ __volatile__("sti" ::: "memory"); }
static inline unsigned long local_irq_save(void)
{
	unsigned long flags;
	__asm__ __volatile__("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
	return flags;
}
static inline void local_irq_restore(unsigned long flags)
{
	if (flags & (1ul << 9)) /* IF */
		local_irq_enable();
}
/* Enable interrupts and halt until the next one, as a pair: STI holds interrupts off for one
 * more instruction (Intel SDM vol. 2, STI), so one arriving after the caller's last check with
 * interrupts off still ends the halt instead of being taken before it. */
static inline void safe_halt(void) { __asm__ __volatile__("sti; hlt" ::: "memory"); }
#endif

#endif
