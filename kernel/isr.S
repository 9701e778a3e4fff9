/*
 * kernel/isr.S - entry stubs for all 256 interrupt vectors.
 *
 * Each stub makes the stack look the same (an error code is pushed as 0 where the CPU pushes
 * none: Intel SDM vol. 3, table 6-1), pushes its vector number, then jumps to the common
 * path, which saves the general registers into a struct trap_frame (kernel/traps.h) and calls
 * trap_entry(frame).
 */
	.section .text
	.code64

/* Vectors for which the CPU pushes an error code: #DF 8, #TS 10, #NP 11, #SS 12, #GP 13,
 * #PF 14, #AC 17, #CP 21, #VC 29, #SX 30. */

	.altmacro
	.macro stub v
	.balign 16
isr_stub_\v:
	.if !((\v == 8) || ((\v >= 10) && (\v <= 14)) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30))
	pushq $0
	.endif
	pushq $\v
	jmp trap_common
	.endm

	.set i, 0
	.rept 256
	stub %i
	.set i, i + 1
	.endr

trap_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	/* The frame is 8 mod 16 after the CPU's 5 words + 17 of ours: realign for the C ABI. */
	movq %rsp, %rbx
	andq $-16, %rsp
	call trap_entry
	movq %rbx, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp /* vector and error code */
	iretq

/* The table of stub addresses, for the IDT setup in kernel/traps.c. */
	.section .rodata
	.balign 8
	.macro stub_addr v
	.quad isr_stub_\v
	.endm
	.global isr_stub_table
isr_stub_table:
	.set i, 0
	.rept 256
	stub_addr %i
	.set i, i + 1
	.endr


	.section .note.GNU-stack, "", @progbits
