/*
 * kernel/time.c - the tick, the TSC clock, and one-shot timers.
 *
 * The 8254 PIT channel 0 ticks at TICK_HZ (it wakes the idle loop so timers get checked);
 * the TSC, calibrated once at boot against PIT channel 2, gives nanosecond time. The timer
 * list itself is kernel/timer.c. Calibration
 * follows the classic gate-and-count method: channel 2 in mode 0 counts down a known number of
 * PIT clocks while we read the TSC on both ends (8254 data sheet, mode 0 "interrupt on
 * terminal count"; the OUT2 pin is readable in port 0x61 bit 5), bracketing each end between
 * two TSC readings and repeating the run while the brackets are wide (calibrate_tsc).
 *
 * Timers are kept in a list sorted by deadline and run from the event loop, never from an
 * interrupt handler, so timer callbacks may do anything loop code may do. Arm and cancel only
 * from loop context.
 */
#include "kernel/io.h"
#include "kernel/irq.h"
#include "kernel/platform.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/time.h"

#define CALIBRATE_MS 10
#define CALIBRATE_TRIES 8
#define CALIBRATE_PRECISION 1000 /* 0.1%: 10 us of a 10 ms run */

static u64 tsc_base;
static u64 tsc_freq;
static u64 ns_mult; /* ns = (cycles * ns_mult) >> 32 */
static volatile u64 ticks;

static void pit_tick(int irq, void *data) { ticks++; }

/*
 * One gate-and-count run: channel 2 starts counting CALIBRATE_MS worth of PIT clocks when the
 * high byte of the count is written, and OUT2 rises at terminal count. Each end is known only
 * within an interval of TSC readings: the start between the readings around that write, the end
 * between the last poll that saw OUT2 low and the one that saw it high. Returns the cycles
 * between the two midpoints and, in *err, half the sum of the two intervals: the most the
 * estimate can be off. A vCPU that was not running at either end (a busy host; under TCG each
 * port access also waits for QEMU's lock) widens an interval rather than biasing the result.
 */
static u64 calibrate_once(u64 *err)
{
	u32 count = PIT_HZ * CALIBRATE_MS / 1000;
	u64 start0, start1, low, high;

	outb(PIT_CMD, 0xb0); /* channel 2, lo/hi byte, mode 0, binary */
	outb(PIT_CH2, count & 0xff);
	start0 = rdtsc();
	outb(PIT_CH2, count >> 8);
	start1 = rdtsc();
	low = start1;
	for (;;) {
		u64 t = rdtsc();

		if (inb(PIT_GATE_PORT) & 0x20)
			break;
		low = t;
	}
	high = rdtsc();
	*err = ((start1 - start0) + (high - low)) / 2;
	return (low + high) / 2 - (start0 + start1) / 2;
}

/* Up to CALIBRATE_TRIES runs, keeping the one with the smallest error bound; the first within
 * 1/CALIBRATE_PRECISION of its own length ends it (on an idle host, the first run). */
static u64 calibrate_tsc(u64 *err_ppm, unsigned *tries)
{
	u8 gate = inb(PIT_GATE_PORT);
	u64 best = 0, best_err = ~0ull;
	unsigned n;

	outb(PIT_GATE_PORT, (gate & ~0x02) | 0x01); /* gate channel 2 on, speaker off */
	for (n = 1; n <= CALIBRATE_TRIES; n++) {
		u64 err, cycles = calibrate_once(&err);

		if (err < best_err) {
			best = cycles;
			best_err = err;
		}
		if (best_err * CALIBRATE_PRECISION < best)
			break;
	}
	outb(PIT_GATE_PORT, gate);
	*tries = n > CALIBRATE_TRIES ? CALIBRATE_TRIES : n;
	*err_ppm = best ? best_err * 1000000 / best : 0;
	return best * 1000 / CALIBRATE_MS;
}

void time_mark_boot(void) { tsc_base = rdtsc(); }

void time_init(void)
{
	u16 divisor = PIT_HZ / TICK_HZ;
	unsigned tries;
	u64 err_ppm;

	tsc_freq = calibrate_tsc(&err_ppm, &tries);
	if (tsc_freq < 1000000)
		panic("time: TSC calibration gave %llu Hz; is the PIT missing?", tsc_freq);
	ns_mult = (NSEC_PER_SEC << 32) / tsc_freq;

	outb(PIT_CMD, 0x34); /* channel 0, lo/hi byte, mode 2 (rate generator) */
	outb(PIT_CH0, divisor & 0xff);
	outb(PIT_CH0, divisor >> 8);
	request_irq(PIT_IRQ, pit_tick, NULL, "timer");
	printk("time: TSC %llu.%03llu MHz (within %llu ppm, %u run%s), tick %d Hz\n",
	       (tsc_freq / 1000000), (tsc_freq / 1000 % 1000), err_ppm, tries, tries == 1 ? "" : "s",
	       TICK_HZ);
}

u64 tsc_to_ns(u64 cycles) { return (u64)(((unsigned __int128)cycles * ns_mult) >> 32); }
u64 now_ns(void) { return tsc_to_ns(rdtsc() - tsc_base); }
u64 tsc_hz(void) { return tsc_freq; }
u64 jiffies(void) { return ticks; }

void udelay(u64 us)
{
	u64 end = now_ns() + us * NSEC_PER_USEC;

	while (now_ns() < end)
		cpu_relax();
}

void mdelay(u64 ms) { udelay(ms * 1000); }

static int cmd_uptime(int argc, char **argv)
{
	u64 ns = now_ns();

	printk("uptime: %llu.%03llu s (%llu ticks, TSC %llu Hz)\n", (ns / NSEC_PER_SEC),
	       (ns / NSEC_PER_MSEC % 1000), ticks,
	       tsc_freq);
	return 0;
}
SHELL_COMMAND(uptime, cmd_uptime, "uptime", "time since boot, from the calibrated TSC");
