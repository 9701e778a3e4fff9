/*
 * kernel/timer.c - one-shot timers: a list sorted by deadline, run from the event loop.
 *
 * Timers never run in interrupt context, so callbacks may do anything loop code may do,
 * including re-arming themselves. Arm and cancel only from loop context. Pure apart from
 * now_ns(), so host tests use this very list with a simulated clock.
 */
#include "kernel/time.h"

static struct timer *timer_list;

void timer_setup(struct timer *t, void (*fn)(struct timer *t))
{
	t->fn = fn;
	t->next = NULL;
	t->pending = false;
	t->expires_ns = 0;
}

void timer_cancel(struct timer *t)
{
	struct timer **pp;

	if (!t->pending)
		return;
	for (pp = &timer_list; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->pending = false;
	t->next = NULL;
}

void timer_arm(struct timer *t, u64 delay_ns)
{
	struct timer **pp;

	timer_cancel(t);
	t->expires_ns = now_ns() + delay_ns;
	for (pp = &timer_list; *pp && (*pp)->expires_ns <= t->expires_ns; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	t->pending = true;
}

void timers_run(void)
{
	u64 now = now_ns();

	while (timer_list && timer_list->expires_ns <= now) {
		struct timer *t = timer_list;

		timer_list = t->next;
		t->next = NULL;
		t->pending = false;
		t->fn(t); /* may re-arm t or others */
	}
}

u64 timers_next_ns(void) { return timer_list ? timer_list->expires_ns : UINT64_MAX; }

void timers_reset(void)
{
	while (timer_list)
		timer_cancel(timer_list);
}
