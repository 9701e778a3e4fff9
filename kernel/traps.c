/*
 * kernel/traps.c - GDT, TSS, IDT, and the exception reporter.
 *
 * Every exception is fatal in this kernel (there is no user mode to blame): the handler prints
 * what a student needs to find the bug -- vector and name, error code, RIP, RSP, CR2 for a page
 * fault, all general registers, a frame-pointer backtrace -- and ends QEMU with
 * EXIT_CODE_PANIC through isa-debug-exit. The double fault runs on its own stack (TSS IST1), so
 * a kernel stack overflow into the guard page is still reported (Intel SDM vol. 3, 6.14.5).
 */
#include "kernel/irq.h"
#include "kernel/power.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/traps.h"

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define TSS_SEL 0x18
#define DF_IST 1

struct tss {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
} __packed;
_Static_assert(sizeof(struct tss) == 104, "64-bit TSS layout (Intel SDM vol. 3, figure 8-11)");

struct idt_entry {
	u16 offset_lo;
	u16 selector;
	u8 ist;
	u8 type_attr;
	u16 offset_mid;
	u32 offset_hi;
	u32 reserved;
} __packed;
_Static_assert(sizeof(struct idt_entry) == 16, "IDT gate layout (Intel SDM vol. 3, figure 6-8)");

struct desc_ptr {
	u16 limit;
	u64 base;
} __packed;

static struct tss tss __aligned(16);
static u64 gdt[5] __aligned(16); /* null, code, data, TSS (two slots) */
static struct idt_entry idt[256] __aligned(16);
extern const u64 isr_stub_table[256];
extern char __stack_guard[], __stack_bottom[], __stack_top[], __df_stack_top[];

static const char *const exception_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound range", "#UD invalid opcode", "#NM device not available",
	"#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
	"#MC machine check", "#XM SIMD exception", "#VE virtualization", "#CP control protection",
	"reserved 22", "reserved 23", "reserved 24", "reserved 25", "reserved 26", "reserved 27",
	"#HV hypervisor injection", "#VC VMM communication", "#SX security", "reserved 31",
};

static void gdt_init(void)
{
	u64 base = (u64)(uintptr_t)&tss;
	struct desc_ptr p = { sizeof(gdt) - 1, (u64)(uintptr_t)gdt };

	gdt[1] = 0x00af9a000000ffffull; /* 64-bit code, DPL 0 */
	gdt[2] = 0x00cf92000000ffffull; /* data */
	/* 16-byte available 64-bit TSS descriptor (type 9), present. */
	gdt[3] = (sizeof(tss) - 1) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
		 (((base >> 24) & 0xff) << 56);
	gdt[4] = base >> 32;

	tss.ist[DF_IST - 1] = (u64)(uintptr_t)__df_stack_top;
	tss.iomap_base = sizeof(tss); /* no I/O permission bitmap */

	__asm__ __volatile__("lgdt %0\n\t"
			     "pushq %1\n\t"
			     "leaq 1f(%%rip), %%rax\n\t"
			     "pushq %%rax\n\t"
			     "lretq\n"
			     "1:\n\t"
			     "movw %w2, %%ds\n\t"
			     "movw %w2, %%es\n\t"
			     "movw %w2, %%ss\n\t"
			     "ltr %w3"
			     :
			     : "m"(p), "i"(KERNEL_CS), "r"(KERNEL_DS), "r"(TSS_SEL)
			     : "rax", "memory");
}

static void idt_set(int vec, u64 handler, u8 ist)
{
	idt[vec] = (struct idt_entry){
		.offset_lo = handler & 0xffff,
		.selector = KERNEL_CS,
		.ist = ist,
		.type_attr = 0x8e, /* present, DPL 0, 64-bit interrupt gate (IF cleared on entry) */
		.offset_mid = (handler >> 16) & 0xffff,
		.offset_hi = handler >> 32,
	};
}

void traps_init(void)
{
	struct desc_ptr p = { sizeof(idt) - 1, (u64)(uintptr_t)idt };

	gdt_init();
	for (int v = 0; v < 256; v++)
		idt_set(v, isr_stub_table[v], v == 8 ? DF_IST : 0);
	__asm__ __volatile__("lidt %0" : : "m"(p) : "memory");
}

static inline u64 read_cr2(void)
{
	u64 v;
	__asm__ __volatile__("mov %%cr2, %0" : "=r"(v));
	return v;
}

static bool on_kernel_stack(u64 a)
{
	return a >= (u64)(uintptr_t)__stack_bottom && a + 16 <= (u64)(uintptr_t)__stack_top;
}

void dump_backtrace(void *frame_pointer)
{
	u64 *fp = frame_pointer;

	printk("backtrace:");
	for (int depth = 0; depth < 16 && on_kernel_stack((u64)(uintptr_t)fp); depth++) {
		printk(" %llx", fp[1]);
		if (fp[0] <= (u64)(uintptr_t)fp)
			break; /* frames must move up the stack */
		fp = (u64 *)(uintptr_t)fp[0];
	}
	printk("\n");
}

static void describe_page_fault(u64 err, u64 cr2)
{
	printk("page fault at address CR2=0x%016llx: %s, %s access%s\n", cr2,
	       (err & 1) ? "protection violation" : "page not present",
	       (err & 2) ? "write" : ((err & 16) ? "instruction fetch" : "read"),
	       (err & 8) ? ", reserved bit set" : "");
	if (cr2 >= (u64)(uintptr_t)__stack_guard && cr2 < (u64)(uintptr_t)__stack_bottom)
		printk("the address is in the kernel stack's guard page: KERNEL STACK OVERFLOW\n");
	else if (cr2 < 4096)
		printk("the address is in page 0: a NULL pointer dereference\n");
}

static __noreturn void report_exception(struct trap_frame *tf)
{
	u64 cr2 = read_cr2();

	printk("\nEXCEPTION: %s (vector %llu) error code 0x%llx\n", exception_names[tf->vector],
	       tf->vector, tf->error_code);
	if (tf->vector == 14)
		describe_page_fault(tf->error_code, cr2);
	if (tf->vector == 8)
		describe_page_fault(2, cr2); /* most likely a fault while pushing onto a full stack */
	printk("RIP=%016llx RSP=%016llx RFLAGS=%016llx CR2=%016llx\n", tf->rip,
	       tf->rsp, tf->rflags, cr2);
	printk("RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n", tf->rax,
	       tf->rbx, tf->rcx, tf->rdx);
	printk("RSI=%016llx RDI=%016llx RBP=%016llx R8 =%016llx\n", tf->rsi,
	       tf->rdi, tf->rbp, tf->r8);
	printk("R9 =%016llx R10=%016llx R11=%016llx R12=%016llx\n", tf->r9,
	       tf->r10, tf->r11, tf->r12);
	printk("R13=%016llx R14=%016llx R15=%016llx CS=%llx SS=%llx\n", tf->r13,
	       tf->r14, tf->r15, tf->cs,
	       tf->ss);
	if (on_kernel_stack(tf->rbp))
		dump_backtrace((void *)(uintptr_t)tf->rbp);
	printk("fatal exception: stopping (exit code %d)\n", EXIT_CODE_PANIC);
	machine_exit(EXIT_CODE_PANIC);
}

void trap_entry(struct trap_frame *tf);
void trap_entry(struct trap_frame *tf)
{
	if (tf->vector < 32)
		report_exception(tf);
	irq_dispatch(tf);
}
