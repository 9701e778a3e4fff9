/*
 * tests/unit/test_cmdline.c - kernel/cmdline.c's parser (cmdline_parse, cmdline_lookup).
 *
 * Built with -DHOST_TEST, which leaves out the boot copy and the shell command. The command
 * lines mimic what loaders hand over: QEMU's "-kernel" puts the kernel path first, GRUB the
 * path from its "multiboot" line.
 */
#include <stdlib.h>

#include "kernel/cmdline.h"
#include "tests/unit/unit.h"

static struct cmdline cl;

static void test_kernel_path_and_pairs(void)
{
	cmdline_parse(&cl, "build/kernel.elf exit=3 test=crash:stack");
	CHECK_EQ(cl.n, 3);
	CHECK(!cl.truncated);
	CHECK_STR(cl.key[0], "build/kernel.elf"); /* the path is a bare key like any other */
	CHECK_STR(cl.val[0], "");
	CHECK_STR(cmdline_lookup(&cl, "exit"), "3");
	CHECK_STR(cmdline_lookup(&cl, "test"), "crash:stack");
	CHECK(cmdline_lookup(&cl, "missing") == NULL);
	CHECK(cmdline_lookup(&cl, "exi") == NULL);   /* whole keys only */
	CHECK(cmdline_lookup(&cl, "exit=3") == NULL);
}

static void test_bare_keys_and_empty_values(void)
{
	cmdline_parse(&cl, "quiet debug= =orphan");
	CHECK_EQ(cl.n, 3);
	CHECK_STR(cmdline_lookup(&cl, "quiet"), "");  /* present, empty */
	CHECK_STR(cmdline_lookup(&cl, "debug"), "");
	CHECK_STR(cmdline_lookup(&cl, ""), "orphan"); /* "=orphan": an empty key */
	CHECK(cmdline_lookup(&cl, "orphan") == NULL);
}

static void test_value_keeps_later_equals(void)
{
	cmdline_parse(&cl, "ip=10.0.2.15/24 opt=a=b=c");
	CHECK_STR(cmdline_lookup(&cl, "ip"), "10.0.2.15/24");
	CHECK_STR(cmdline_lookup(&cl, "opt"), "a=b=c");
}

static void test_last_occurrence_wins(void)
{
	cmdline_parse(&cl, "a=1 b=x a=2 a=3 b");
	CHECK_EQ(cl.n, 5);
	CHECK_STR(cmdline_lookup(&cl, "a"), "3");
	CHECK_STR(cmdline_lookup(&cl, "b"), ""); /* a later bare key overrides a value too */
	CHECK_STR(cl.val[0], "1");               /* earlier entries are kept, in order */
	CHECK_STR(cl.val[2], "2");
}

static void test_whitespace(void)
{
	cmdline_parse(&cl, "  \ta=1\t\tb=2\nc=3 \n\t ");
	CHECK_EQ(cl.n, 3);
	CHECK_STR(cmdline_lookup(&cl, "a"), "1");
	CHECK_STR(cmdline_lookup(&cl, "b"), "2");
	CHECK_STR(cmdline_lookup(&cl, "c"), "3");

	cmdline_parse(&cl, " \t\n ");
	CHECK_EQ(cl.n, 0);
	CHECK(!cl.truncated);
}

static void test_empty_and_null(void)
{
	cmdline_parse(&cl, "a=1");
	cmdline_parse(&cl, ""); /* a second parse starts from scratch */
	CHECK_EQ(cl.n, 0);
	CHECK(!cl.truncated);
	CHECK(cmdline_lookup(&cl, "a") == NULL);

	cmdline_parse(&cl, NULL); /* no command line at all */
	CHECK_EQ(cl.n, 0);
	CHECK(!cl.truncated);
	CHECK(cmdline_lookup(&cl, "") == NULL);
}

static void test_input_left_alone(void)
{
	char in[] = "k=v other";

	cmdline_parse(&cl, in);
	CHECK_STR(in, "k=v other"); /* parsed in the struct's own copy */
	in[2] = 'X';
	CHECK_STR(cmdline_lookup(&cl, "k"), "v");
}

static void build_args(char *buf, size_t size, int count)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < count; i++)
		len += (size_t)snprintf(buf + len, size - len, "%sk%d=%d", i ? " " : "", i, i);
}

static void test_argument_limit(void)
{
	char buf[CMDLINE_MAX];

	build_args(buf, sizeof(buf), CMDLINE_MAX_ARGS); /* exactly the limit: all kept */
	cmdline_parse(&cl, buf);
	CHECK_EQ(cl.n, CMDLINE_MAX_ARGS);
	CHECK(!cl.truncated);
	CHECK_STR(cmdline_lookup(&cl, "k31"), "31");

	build_args(buf, sizeof(buf), CMDLINE_MAX_ARGS + 5); /* too many: the rest dropped */
	cmdline_parse(&cl, buf);
	CHECK_EQ(cl.n, CMDLINE_MAX_ARGS);
	CHECK(cl.truncated);
	CHECK_STR(cmdline_lookup(&cl, "k0"), "0");
	CHECK_STR(cmdline_lookup(&cl, "k31"), "31");
	CHECK(cmdline_lookup(&cl, "k32") == NULL);
	CHECK(cmdline_lookup(&cl, "k36") == NULL);
}

static void test_length_limit(void)
{
	char buf[CMDLINE_MAX + 64];

	/* CMDLINE_MAX - 1 characters fit */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "long=", 5);
	buf[CMDLINE_MAX - 1] = '\0';
	cmdline_parse(&cl, buf);
	CHECK(!cl.truncated);
	CHECK_EQ(cl.n, 1);
	CHECK_EQ(strlen(cmdline_lookup(&cl, "long")), CMDLINE_MAX - 1 - 5);

	/* one more and the line is cut, the last value with it */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "long=", 5);
	buf[CMDLINE_MAX] = '\0';
	cmdline_parse(&cl, buf);
	CHECK(cl.truncated);
	CHECK_EQ(strlen(cmdline_lookup(&cl, "long")), CMDLINE_MAX - 1 - 5);

	/* a key that starts beyond the cut is gone */
	memset(buf, 'y', sizeof(buf));
	memcpy(buf, "a=1 ", 4);
	buf[CMDLINE_MAX - 3] = ' ';
	memcpy(buf + CMDLINE_MAX - 2, "late=1", 7);
	cmdline_parse(&cl, buf);
	CHECK(cl.truncated);
	CHECK_STR(cmdline_lookup(&cl, "a"), "1");
	CHECK(cmdline_lookup(&cl, "late") == NULL);
	CHECK_STR(cl.key[cl.n - 1], "l"); /* what survived of it is a bare key "l" */
}

int main(void)
{
	RUN(test_kernel_path_and_pairs);
	RUN(test_bare_keys_and_empty_values);
	RUN(test_value_keeps_later_equals);
	RUN(test_last_occurrence_wins);
	RUN(test_whitespace);
	RUN(test_empty_and_null);
	RUN(test_input_left_alone);
	RUN(test_argument_limit);
	RUN(test_length_limit);
	return unit_summary("test_cmdline");
}
