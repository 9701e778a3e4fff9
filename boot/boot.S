/*
 * boot/boot.S - multiboot v1 entry: from the loader's 32-bit protected mode into 64-bit long
 * mode, then kmain(magic, info).
 *
 * Follows the Multiboot Specification 0.6.96 (header, section 3.1; machine state, section 3.2)
 * and the Intel SDM vol. 3, section 9.8.5 "Initializing IA-32e mode": PAE on, page tables
 * loaded, EFER.LME set, paging on, then a far jump into a 64-bit code segment.
 *
 * The header uses the "a.out kludge" (flag 16): the loader takes load addresses from the header
 * instead of parsing the ELF, which is what lets QEMU's -kernel (which refuses ELF64 files)
 * and GRUB load the very same build/kernel.elf.
 */
#include "boot/multiboot.h"

#define MB_FLAGS (MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO | MULTIBOOT_AOUT_KLUDGE)

#define CR0_PE (1 << 0)
#define CR0_WP (1 << 16)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define PTE_PRESENT 0x1
#define PTE_WRITE 0x2
#define PTE_LARGE 0x80 /* in a page directory: a 2 MiB page */

	.section .multiboot, "a"
	.balign 4
multiboot_header:
	.long MULTIBOOT_HEADER_MAGIC
	.long MB_FLAGS
	.long -(MULTIBOOT_HEADER_MAGIC + MB_FLAGS)
	.long multiboot_header  /* header_addr */
	.long __kernel_start    /* load_addr: first byte of the image (linker.ld) */
	.long __load_end        /* load_end_addr: end of .data */
	.long __bss_end         /* bss_end_addr: the loader zeroes up to here */
	.long _start            /* entry_addr */

	.section .text.boot, "ax"
	.code32
	.global _start
_start:
	cli
	cld
	movl $boot_stack_top, %esp
	movl %eax, mb_magic
	movl %ebx, mb_info

	cmpl $MULTIBOOT_BOOTLOADER_MAGIC, %eax
	jne .Lno_multiboot

	/* CPUID leaf 0x80000001 EDX bit 29: long mode. */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb .Lno_long_mode
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc .Lno_long_mode

	/*
	 * Identity map [0, 4 GiB): PML4[0] -> PDPT, PDPT[0..3] -> four page directories of
	 * 512 2 MiB pages each. The tables live in .bss, which the loader zeroed.
	 */
	movl $boot_pdpt, %eax
	orl $(PTE_PRESENT | PTE_WRITE), %eax
	movl %eax, boot_pml4

	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $12, %eax
	addl $boot_pd, %eax
	orl $(PTE_PRESENT | PTE_WRITE), %eax
	movl %eax, boot_pdpt(, %ecx, 8)
	incl %ecx
	cmpl $4, %ecx
	jne 1b

	xorl %ecx, %ecx            /* ecx = 2 MiB page number, 0..2047 */
2:	movl %ecx, %eax
	shll $21, %eax             /* low 32 bits of the physical address */
	orl $(PTE_PRESENT | PTE_WRITE | PTE_LARGE), %eax
	movl %eax, boot_pd(, %ecx, 8)
	movl $0, boot_pd + 4(, %ecx, 8) /* bits 32+ of the address: 0 below 4 GiB */
	incl %ecx
	cmpl $2048, %ecx
	jne 2b

	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_WP | CR0_PE), %eax
	movl %eax, %cr0

	lgdt boot_gdt_ptr
	ljmp $0x08, $long_mode_entry

/* Print the NUL-terminated string at %esi on COM1 (polling), then halt forever. */
.Lno_multiboot:
	movl $msg_no_multiboot, %esi
	jmp early_die
.Lno_long_mode:
	movl $msg_no_long_mode, %esi
early_die:
	movw $0x3fd, %dx           /* COM1 line status register */
3:	inb %dx, %al
	testb $0x20, %al           /* transmitter holding register empty */
	jz 3b
	movb (%esi), %al
	testb %al, %al
	jz 4f
	movw $0x3f8, %dx
	outb %al, %dx
	incl %esi
	movw $0x3fd, %dx
	jmp 3b
4:	cli
	hlt
	jmp 4b

	.code64
long_mode_entry:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorw %ax, %ax
	movw %ax, %fs
	movw %ax, %gs
	movabsq $__stack_top, %rsp
	xorl %ebp, %ebp

	/* Seed the stack-protector canary before any protected C function runs. */
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	movabsq $0x9e3779b97f4a7c15, %rdx
	imulq %rdx, %rax
	movq %rax, __stack_chk_guard(%rip)

	movl mb_magic(%rip), %edi
	movl mb_info(%rip), %esi
	call kmain
5:	cli
	hlt
	jmp 5b

	.section .rodata
msg_no_multiboot:
	.asciz "boot: FATAL: not started by a multiboot loader (bad magic in EAX)\r\n"
msg_no_long_mode:
	.asciz "boot: FATAL: this CPU has no 64-bit long mode\r\n"

	.balign 8
boot_gdt:
	.quad 0                     /* null */
	.quad 0x00af9a000000ffff    /* 0x08: 64-bit code, present, DPL 0 */
	.quad 0x00cf92000000ffff    /* 0x10: data, present, writable */
boot_gdt_end:
boot_gdt_ptr:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt

	.section .bss
	.balign 4
	.global mb_magic, mb_info
mb_magic: .long 0
mb_info: .long 0
	.balign 4096
	.global boot_pml4, boot_pdpt
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
	.global boot_pd
boot_pd: .skip 4096 * 4
	/* The 32-bit code's scratch stack; the real kernel stack (with its guard page) is in linker.ld. */
	.balign 16
	.skip 1024
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
