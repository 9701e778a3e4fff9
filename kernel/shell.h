/*
 * kernel/shell.h - the serial shell's command table.
 *
 * Any file adds a command with SHELL_COMMAND(name, fn, "usage", "help text"); the linker
 * gathers them (section .shell_cmds, sorted by name, see linker.ld), so layers extend the shell
 * without a central list. fn receives argc/argv like main() and returns 0 or a negative errno.
 */
#ifndef KERNEL_SHELL_H
#define KERNEL_SHELL_H

#include "kernel/types.h"

struct shell_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *help;
};

#define SHELL_COMMAND(cname, func, usage_str, help_str)                                   \
	static const struct shell_command __shell_cmd_##cname                             \
		__attribute__((used, section(".shell_cmds." #cname), aligned(8))) = {     \
			.name = #cname, .fn = func, .usage = usage_str, .help = help_str, \
	}

#define SHELL_PROMPT "vnet> "

/* True once after the user typed ^C while a command ran (commands that wait poll it). */
bool shell_interrupted(void);
/* Run one command line as if typed (used by the command-line `run=` hook and tests). */
int shell_exec(char *line);
void shell_init(void);
/* Parse helpers for commands: return 0 or -EINVAL. */
int parse_u64(const char *s, u64 *out);

#endif
