/*
 * kernel/shell.c - the serial shell.
 *
 * Bytes arrive by the UART receive interrupt; the interrupt only schedules shell_work, which
 * runs in the event loop, edits the line (backspace/DEL, ^U kills the line, ^C abandons it)
 * and runs complete lines against the command table that SHELL_COMMAND builds (kernel/shell.h).
 */
#include "drivers/uart.h"
#include "kernel/errno.h"
#include "kernel/loop.h"
#include "kernel/power.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"

#define LINE_MAX 256
#define MAX_ARGS 16

extern const struct shell_command __shell_cmds_start[], __shell_cmds_end[];

static char line[LINE_MAX];
static size_t line_len;
static struct work shell_work;

int parse_u64(const char *s, u64 *out)
{
	u64 v = 0;
	unsigned base = 10;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return -EINVAL;
	}
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

static const struct shell_command *find_command(const char *name)
{
	for (const struct shell_command *c = __shell_cmds_start; c < __shell_cmds_end; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

int shell_exec(char *s)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	const struct shell_command *c;
	int ret;

	while (*s) {
		while (*s == ' ' || *s == '\t')
			*s++ = '\0';
		if (!*s)
			break;
		if (argc == MAX_ARGS) {
			printk("shell: too many arguments (at most %d)\n", MAX_ARGS);
			return -E2BIG;
		}
		argv[argc++] = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
	argv[argc] = NULL;
	if (argc == 0)
		return 0;
	c = find_command(argv[0]);
	if (!c) {
		printk("%s: command not found (try 'help')\n", argv[0]);
		return -ENOENT;
	}
	ret = c->fn(argc, argv);
	if (ret == -EINVAL)
		printk("usage: %s\n", c->usage);
	else if (ret < 0)
		printk("%s: failed: %s\n", argv[0], strerror(ret));
	return ret;
}

static void prompt(void) { printk(SHELL_PROMPT); }

bool shell_interrupted(void) { return uart_take_ctrl_c(); }

static void shell_input(struct work *w)
{
	static bool running; /* a command that waits runs the loop, which may call us again */
	int c;

	if (running)
		return; /* the outer call reads the rest once its command is done */
	running = true;
	uart_take_ctrl_c(); /* a ^C typed before now interrupts nothing */

	while ((c = uart_getc()) >= 0) {
		if (c == '\r' || c == '\n') {
			printk("\n");
			line[line_len] = '\0';
			line_len = 0;
			shell_exec(line);
			prompt();
		} else if (c == 0x7f || c == '\b') {
			if (line_len) {
				line_len--;
				printk("\b \b");
			}
		} else if (c == 0x15) { /* ^U: kill the line */
			while (line_len) {
				line_len--;
				printk("\b \b");
			}
		} else if (c == 0x03) { /* ^C: abandon the line */
			line_len = 0;
			printk("^C\n");
			prompt();
		} else if (c >= 0x20 && c < 0x7f) {
			if (line_len < LINE_MAX - 1) {
				line[line_len++] = (char)c;
				printk("%c", c);
			} else {
				printk("\a"); /* line full: bell, byte dropped */
			}
		}
		/* other control bytes (escape sequences from arrow keys) are ignored */
	}
	running = false;
}

/* Called in interrupt context by the UART driver. */
static void shell_rx_notify(void) { work_schedule(&shell_work); }

void shell_init(void)
{
	work_init(&shell_work, shell_input);
	prompt();
	uart_enable_rx_irq(shell_rx_notify);
}

static int cmd_help(int argc, char **argv)
{
	for (const struct shell_command *c = __shell_cmds_start; c < __shell_cmds_end; c++)
		printk("  %-28s %s\n", c->usage, c->help);
	return 0;
}
SHELL_COMMAND(help, cmd_help, "help", "this list");

static int cmd_exit(int argc, char **argv)
{
	u64 code = 0;

	if (argc > 2 || (argc == 2 && (parse_u64(argv[1], &code) < 0 || code > 127)))
		return -EINVAL;
	printk("exit: leaving QEMU with code %llu (QEMU status %llu)\n", code,
	       (code << 1 | 1));
	machine_exit((int)code);
}
SHELL_COMMAND(exit, cmd_exit, "exit [code]", "stop QEMU; status is code*2+1 (isa-debug-exit), code 0..127");

/* Recurses until the stack runs into its guard page; the depth limit only exists to keep the
 * compiler from proving the recursion infinite. It is far beyond what the stack holds. */
static u64 __attribute__((noinline)) recurse_deep(volatile u64 depth)
{
	volatile char pad[512];

	pad[0] = (char)depth;
	if (depth < (1ull << 40))
		return recurse_deep(depth + 1) + pad[0];
	return pad[0];
}

static int cmd_crash(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "stack") == 0) {
		printk("crash: overflowing the kernel stack into its guard page\n");
		recurse_deep(0);
	} else if (argc == 1 || strcmp(argv[1], "pf") == 0) {
		volatile u64 *bad = (volatile u64 *)0xbadc0ffee0ull; /* no page table maps this */

		printk("crash: writing to unmapped address %p\n", (void *)bad);
		*bad = 0xdead;
	} else {
		return -EINVAL;
	}
	return 0;
}
SHELL_COMMAND(crash, cmd_crash, "crash [pf|stack]", "fault on purpose: page fault (default) or stack overflow");
