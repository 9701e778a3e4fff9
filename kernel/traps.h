/*
 * kernel/traps.h - CPU exceptions and interrupt entry: the GDT with its TSS, the IDT, and the
 * register frame every entry stub builds (kernel/isr.S).
 */
#ifndef KERNEL_TRAPS_H
#define KERNEL_TRAPS_H

#include "kernel/types.h"

/* Pushed by kernel/isr.S, in this order from the lowest address up. */
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "trap_frame must match kernel/isr.S");

void traps_init(void); /* GDT + TSS + IDT; before interrupts are enabled */
void dump_backtrace(void *frame_pointer);

/* Set by the irq layer: called for every vector >= 32. */
void irq_dispatch(struct trap_frame *tf);

#endif
