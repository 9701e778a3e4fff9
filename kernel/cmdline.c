/*
 * kernel/cmdline.c - key=value parsing of the multiboot command line (see kernel/cmdline.h).
 * The parser is pure and unit tested on the host; the boot copy lives here.
 */
#include "kernel/cmdline.h"
#include "kernel/string.h"

void cmdline_parse(struct cmdline *cl, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	char *p = cl->buf;

	cl->n = 0;
	cl->truncated = len >= sizeof(cl->buf);
	if (cl->truncated)
		len = sizeof(cl->buf) - 1;
	memcpy(cl->buf, s ? s : "", len);
	cl->buf[len] = '\0';

	for (;;) {
		char *tok, *eq;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			*p++ = '\0';
		if (!*p)
			break;
		tok = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
		if (*p)
			*p++ = '\0';
		if (cl->n == CMDLINE_MAX_ARGS) {
			cl->truncated = true;
			break;
		}
		eq = strchr(tok, '=');
		if (eq) {
			*eq = '\0';
			cl->val[cl->n] = eq + 1;
		} else {
			cl->val[cl->n] = tok + strlen(tok); /* "" */
		}
		cl->key[cl->n++] = tok;
	}
}

const char *cmdline_lookup(const struct cmdline *cl, const char *key)
{
	for (int i = cl->n - 1; i >= 0; i--) /* the last occurrence wins */
		if (strcmp(cl->key[i], key) == 0)
			return cl->val[i];
	return NULL;
}

#ifndef HOST_TEST
#include "kernel/printk.h"
#include "kernel/shell.h"

static struct cmdline boot_cmdline;
static char boot_raw[CMDLINE_MAX];

void cmdline_init(const char *s)
{
	strlcpy(boot_raw, s ? s : "", sizeof(boot_raw));
	cmdline_parse(&boot_cmdline, s);
	if (boot_cmdline.truncated)
		printk("cmdline: WARNING: command line too long, truncated to %d bytes / %d arguments\n",
		       CMDLINE_MAX - 1, CMDLINE_MAX_ARGS);
}

const char *cmdline_get(const char *key) { return cmdline_lookup(&boot_cmdline, key); }
const char *cmdline_raw(void) { return boot_raw; }
const struct cmdline *cmdline_boot(void) { return &boot_cmdline; }

static int cmd_cmdline(int argc, char **argv)
{
	printk("cmdline: \"%s\"\n", boot_raw);
	for (int i = 0; i < boot_cmdline.n; i++)
		printk("  %s = \"%s\"\n", boot_cmdline.key[i], boot_cmdline.val[i]);
	return 0;
}
SHELL_COMMAND(cmdline, cmd_cmdline, "cmdline", "the kernel command line, parsed as key=value");
#endif
