/*
 * kernel/main.c - kmain: bring the machine up in dependency order, then run the event loop.
 *
 * Order matters: the console first (so everything after can report), traps before anything
 * can fault, memory before anyone allocates, time before anyone waits, and interrupts on only
 * once every handler that may fire is installed.
 */
#include "boot/multiboot.h"
#include "drivers/uart.h"
#include "kernel/cmdline.h"
#include "kernel/init.h"
#include "kernel/irq.h"
#include "kernel/lapic.h"
#include "kernel/loop.h"
#include "kernel/mem.h"
#include "kernel/power.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/timeline.h"
#include "kernel/traps.h"
#include "kernel/version.h"

void kmain(u32 magic, u32 info_addr);

static struct timer exit_timer;
static u64 exit_code;

static void exit_timer_fn(struct timer *t) { machine_exit((int)exit_code); }

/* Boot-time hooks for tests: test=NAME runs a check, exit=N leaves QEMU once ready. */
static void run_boot_hooks(void)
{
	const char *test = cmdline_get("test");
	const char *exit_arg = cmdline_get("exit");

	if (test && *test) {
		char cmd[64];

		snprintk(cmd, sizeof(cmd), "%s", test);
		/* test=crash or test=crash:stack -> the shell's crash command */
		for (char *p = cmd; *p; p++)
			if (*p == ':')
				*p = ' ';
		printk("test: running '%s' from the command line\n", cmd);
		shell_exec(cmd);
	}
	if (exit_arg) {
		if (parse_u64(exit_arg, &exit_code) < 0 || exit_code > 127) {
			printk("cmdline: exit=%s ignored: expected a number 0..127\n", exit_arg);
			return;
		}
		timer_setup(&exit_timer, exit_timer_fn);
		timer_arm(&exit_timer, 0); /* from the loop, after everything queued at boot */
	}
}

void kmain(u32 magic, u32 info_addr)
{
	const struct multiboot_info *mbi = phys_to_virt(info_addr);
	const char *loader;

	time_mark_boot();
	uart_init();
	printk("\n" KERNEL_NAME " " KERNEL_VERSION " booting\n");
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC) /* boot.S checked already: cannot happen */
		panic("bad multiboot magic 0x%x", magic);
	loader = (mbi->flags & MULTIBOOT_INFO_BOOT_LOADER_NAME) ? phys_to_virt(mbi->boot_loader_name)
								 : "unknown";
	cmdline_init((mbi->flags & MULTIBOOT_INFO_CMDLINE) ? phys_to_virt(mbi->cmdline) : "");
	printk("boot: loader \"%s\", cmdline \"%s\"\n", loader, cmdline_raw());

	traps_init();
	pic_init();
	lapic_init();
	mem_init(mbi);
	local_irq_enable(); /* the PIT tick is needed from here on: all lines still masked */
	time_init();
	timeline_mark_at("kernel entry", 0); /* time zero is kmain's first instruction */

	run_initcalls();

	printk("ready: boot complete in %llu ms\n", (now_ns() / NSEC_PER_MSEC));
	run_boot_hooks();
	shell_init();
	loop_run();
}
