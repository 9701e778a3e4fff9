/*
 * kernel/timeline.c - boot milestones (see kernel/timeline.h).
 */
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/timeline.h"

#define MAX_MILESTONES 16

static struct {
	const char *what;
	u64 ns;
} marks[MAX_MILESTONES];
static int nmarks;

static void print_mark(int i)
{
	printk("timeline: %llu.%03llu ms %s\n", (marks[i].ns / NSEC_PER_MSEC),
	       (marks[i].ns / NSEC_PER_USEC % 1000), marks[i].what);
}

void timeline_mark(const char *milestone) { timeline_mark_at(milestone, now_ns()); }

void timeline_mark_at(const char *milestone, u64 ns)
{
	for (int i = 0; i < nmarks; i++)
		if (strcmp(marks[i].what, milestone) == 0)
			return;
	if (nmarks == MAX_MILESTONES)
		return;
	marks[nmarks].what = milestone;
	marks[nmarks].ns = ns;
	print_mark(nmarks++);
}

static int cmd_timeline(int argc, char **argv)
{
	for (int i = 0; i < nmarks; i++)
		print_mark(i);
	return 0;
}
SHELL_COMMAND(timeline, cmd_timeline, "timeline", "boot milestones with their time since kernel entry");
