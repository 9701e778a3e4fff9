/*
 * kernel/loop.c - the event loop: deferred work, timers, poll hook, idle.
 *
 * Interrupt handlers queue work (work_schedule); the loop runs it with interrupts enabled.
 * When nothing is pending the loop executes "sti; hlt" as one pair: STI's one-instruction
 * interrupt shadow guarantees no interrupt slips in between the last check and the halt
 * (Intel SDM vol. 2, STI), so a wake-up is never lost.
 */
#include "kernel/irq.h"
#include "kernel/loop.h"
#include "kernel/shell.h"
#include "kernel/time.h"

static struct work *work_head, *work_tail; /* shared with IRQ handlers: touched with IRQs off */
static bool (*poll_hook)(void), (*poll_pending)(void);
static struct loop_stats stats;

void work_init(struct work *w, void (*fn)(struct work *w))
{
	w->fn = fn;
	w->next = NULL;
	w->queued = false;
}

void work_schedule(struct work *w)
{
	unsigned long flags = local_irq_save();

	if (!w->queued) {
		w->queued = true;
		w->next = NULL;
		if (work_tail)
			work_tail->next = w;
		else
			work_head = w;
		work_tail = w;
	}
	local_irq_restore(flags);
}

static struct work *work_dequeue(void)
{
	unsigned long flags = local_irq_save();
	struct work *w = work_head;

	if (w) {
		work_head = w->next;
		if (!work_head)
			work_tail = NULL;
		w->next = NULL;
		w->queued = false;
	}
	local_irq_restore(flags);
	return w;
}

void loop_set_poll_hook(bool (*hook)(void), bool (*pending)(void))
{
	poll_hook = hook;
	poll_pending = pending;
}

/* Run everything that is ready; true when more work is already waiting. */
static bool loop_step(void)
{
	struct work *w;
	bool busy = false;

	stats.iterations++;
	while ((w = work_dequeue())) {
		stats.work_items++;
		w->fn(w);
	}
	timers_run();
	if (poll_hook)
		busy = poll_hook();
	return busy || READ_ONCE(work_head) != NULL;
}

void loop_once(void) { loop_step(); }

/* Halt until the next interrupt unless work is already waiting. "sti; hlt" as a pair: an
 * interrupt arriving after the check still wakes the hlt (see the file comment). The check
 * covers everything an interrupt handler can hand the loop: a work item, and work for the
 * poll hook (a NAPI poll it scheduled after the hook's last look). Missing the latter halted
 * the loop with the poll pending and its queue's interrupt already silenced by that handler:
 * only the next tick woke it, and a receive queue under load served one ring per 10 ms. */
static void loop_idle(void)
{
	u64 t0;

	local_irq_disable();
	if (READ_ONCE(work_head) || (poll_pending && poll_pending()) || timers_next_ns() <= now_ns()) {
		local_irq_enable();
		return;
	}
	t0 = rdtsc();
	stats.halts++;
	safe_halt();
	stats.idle_cycles += rdtsc() - t0;
}

void loop_run(void)
{
	for (;;)
		if (!loop_step())
			loop_idle();
}

bool loop_wait(u64 deadline_ns, bool (*done)(void *ctx), void *ctx)
{
	while (now_ns() < deadline_ns) {
		bool busy = loop_step();

		if (done && done(ctx))
			return true;
		if (shell_interrupted())
			return false;
		if (!busy)
			loop_idle();
	}
	return true;
}

void loop_get_stats(struct loop_stats *st) { *st = stats; }
