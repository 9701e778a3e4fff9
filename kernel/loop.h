/*
 * kernel/loop.h - the event loop and deferred work.
 *
 * One CPU, no threads: kmain ends in loop_run(), which runs queued work items and expired
 * timers, then idles in "sti; hlt" until the next interrupt. Interrupt handlers call
 * work_schedule() to move their real work out of interrupt context.
 */
#ifndef KERNEL_LOOP_H
#define KERNEL_LOOP_H

#include "kernel/types.h"

struct work {
	void (*fn)(struct work *w);
	struct work *next;
	bool queued;
};
void work_init(struct work *w, void (*fn)(struct work *w));
/* Queue w to run once from the loop. Safe from interrupt context; a no-op if already queued. */
void work_schedule(struct work *w);

/* A poll hook the loop calls every iteration before idling (used by the netdev poll list).
 * It returns true when it still has work, so the loop must not halt. pending (may be NULL) is
 * asked once more with interrupts off right before the halt: an interrupt handler may have
 * given the hook work after it returned (a NAPI poll scheduled), and since that handler
 * queued no work item, only this look keeps the loop from halting over it until some
 * unrelated interrupt -- the next tick -- comes. */
void loop_set_poll_hook(bool (*hook)(void), bool (*pending)(void));

__noreturn void loop_run(void);
/* Run one iteration without halting (for code that waits, e.g. a shell command pinging). */
void loop_once(void);
/* For a shell command that waits: run the loop until deadline_ns or until done(ctx) says so,
 * halting while idle like the main loop (interrupts and the tick wake it). done may be NULL.
 * Returns early, false, when the user pressed ^C (shell_interrupted()). */
bool loop_wait(u64 deadline_ns, bool (*done)(void *ctx), void *ctx);

struct loop_stats {
	u64 iterations;
	u64 halts;
	u64 idle_cycles; /* TSC cycles spent halted */
	u64 work_items;
};
void loop_get_stats(struct loop_stats *st);

#endif
