/*
 * kernel/time.h - monotonic time from the TSC, and one-shot timers run by the event loop.
 */
#ifndef KERNEL_TIME_H
#define KERNEL_TIME_H

#include "kernel/types.h"

#define NSEC_PER_USEC 1000ull
#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC 1000000000ull

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

u64 now_ns(void);           /* nanoseconds since kmain started */
u64 tsc_hz(void);           /* calibrated TSC frequency */
u64 tsc_to_ns(u64 cycles);
u64 jiffies(void);          /* timer ticks since boot (TICK_HZ per second) */
void udelay(u64 us);        /* busy wait */
void mdelay(u64 ms);

/* One-shot timer (kernel/timer.c). Embed it in your own structure; callbacks run from the
 * event loop (not in interrupt context), so they may do protocol work and re-arm themselves. */
struct timer {
	u64 expires_ns;
	void (*fn)(struct timer *t);
	struct timer *next;
	bool pending;
};
void timer_setup(struct timer *t, void (*fn)(struct timer *t));
void timer_arm(struct timer *t, u64 delay_ns);   /* (re)arm relative to now */
void timer_cancel(struct timer *t);
void timers_run(void);     /* event loop: fire every expired timer */
u64 timers_next_ns(void);  /* earliest deadline, or UINT64_MAX */
void timers_reset(void);   /* cancel every armed timer (host tests start each case clean) */

void time_mark_boot(void); /* first thing in kmain: time zero for now_ns() */
void time_init(void);      /* PIT tick + TSC calibration (kernel/main.c) */

#endif
