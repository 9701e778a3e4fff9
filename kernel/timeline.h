/*
 * kernel/timeline.h - the boot timeline: milestones stamped with the TSC.
 *
 * timeline_mark("pci scan done") prints "timeline: <ms since kmain> ms pci scan done" the
 * first time each milestone is reached (later calls are ignored), so the serial log shows
 * where boot time goes: kernel entry, PCI scan, DRIVER_OK, link up, first ARP reply.
 * `timeline` in the shell lists them again. docs/serial.md documents the line.
 */
#ifndef KERNEL_TIMELINE_H
#define KERNEL_TIMELINE_H

#include "kernel/types.h"

void timeline_mark(const char *milestone); /* milestone: a string literal */
/* The same with a time already taken (ns since kmain): for milestones before the clock runs. */
void timeline_mark_at(const char *milestone, u64 ns);

#endif
