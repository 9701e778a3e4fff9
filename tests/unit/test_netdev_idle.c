/*
 * tests/unit/test_netdev_idle.c - the event loop (kernel/loop.c) idling over net/netdev.c's
 * poll list: a NAPI poll that an interrupt schedules after net_poll's last look must keep the
 * loop from halting.
 *
 * The sequence this replays (it cost a virtio-net guest under a UDP flood most of its receive
 * rate): net_poll runs the receive poll, which drains the ring and re-enables the queue's
 * interrupt; net_poll returns "nothing scheduled"; the device completes a buffer at once and
 * interrupts; the handler claims the poll and silences the queue (virtqueue_napi_schedule);
 * the loop, having been told "not busy", halts. Nothing wakes it but the next timer tick,
 * 10 ms later, while the device fills the ring and drops.
 *
 * Here the interrupt is injected by loop_wait's done() callback, which runs exactly between
 * loop_step (net_poll) and loop_idle; safe_halt, the CPU's halt, is a stand-in that records
 * whether a poll was pending and lets the clock run to the next tick, the only interrupt left.
 */
#include <string.h>

#include "tests/unit/kernel_harness.h"
#include "tests/unit/unit.h"
#include "kernel/loop.h"
#include "kernel/time.h"
#include "net/netdev.h"

#define TICK_NS (10 * NSEC_PER_MSEC) /* the PIT at 100 Hz */

struct fake_nic {
	struct net_device dev;
	struct napi_struct napi;
	unsigned polls;
	bool irq_enabled; /* the queue's interrupt: off while its poll is pending */
};

static struct fake_nic nic;
static unsigned halts, halts_with_poll_pending;

/* The CPU's "sti; hlt": with the queue silenced, the next interrupt is the tick. */
void safe_halt(void)
{
	halts++;
	if (nic.napi.scheduled)
		halts_with_poll_pending++;
	host_now_ns += TICK_NS - host_now_ns % TICK_NS;
}

bool shell_interrupted(void) { return false; }

/* Receive poll: always drains its (fake) queue, then completes and re-arms the interrupt. */
static int fake_poll(struct napi_struct *napi, int budget)
{
	struct fake_nic *n = container_of(napi, struct fake_nic, napi);

	n->polls++;
	napi_complete(napi);
	n->irq_enabled = true;
	return 0;
}

/* The queue's interrupt handler, as virtio-net's skb_recv_done does it. */
static void fake_irq(struct fake_nic *n)
{
	if (!n->irq_enabled)
		return;
	if (napi_schedule_prep(&n->napi)) {
		n->irq_enabled = false;
		__napi_schedule(&n->napi);
	}
}

static int fake_open(struct net_device *dev) { return 0; }
static enum netdev_tx fake_xmit(struct netbuf *nb, struct net_device *dev)
{
	netbuf_free(nb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops fake_ops = { .ndo_open = fake_open, .ndo_start_xmit = fake_xmit };

static void setup(void)
{
	static const u8 mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x42 };
	static bool registered;

	if (!registered) {
		memset(&nic, 0, sizeof(nic));
		nic.dev.priv = &nic;
		nic.dev.ops = &fake_ops;
		nic.dev.driver_name = "fake";
		nic.dev.mtu = 1500;
		nic.dev.carrier = true;
		nic.dev.rx_ring_size = nic.dev.tx_ring_size = 16;
		nic.dev.rx_buf_len = 1500 + ETH_HLEN;
		memcpy(nic.dev.mac, mac, ETH_ALEN);
		CHECK_EQ(register_netdev(&nic.dev), 0);
		netif_napi_add(&nic.dev, &nic.napi, fake_poll);
		loop_set_poll_hook(net_poll, net_poll_pending); /* as netdev_init does */
		registered = true;
	}
	nic.polls = 0;
	nic.irq_enabled = true;
	halts = halts_with_poll_pending = 0;
	host_now_ns = 1000 * TICK_NS;
}

/* done() for loop_wait: runs after loop_step, before loop_idle. The first time, the device
 * interrupts right there; done once the scheduled poll has run. */
static bool irq_after_net_poll(void *ctx)
{
	unsigned *fired = ctx;

	if (!*fired) {
		*fired = 1;
		fake_irq(&nic);
		CHECK(nic.napi.scheduled);
		CHECK(!nic.irq_enabled);
		return false;
	}
	return nic.polls > 0;
}

/* The interrupt lands after net_poll said "not busy": the loop runs the poll at once, without
 * halting (before the fix: one halt over the pending poll, and the poll a tick later). */
static void test_poll_scheduled_after_net_poll_runs_without_halting(void)
{
	unsigned fired = 0;
	u64 t0;

	setup();
	t0 = host_now_ns;
	CHECK(loop_wait(t0 + 5 * TICK_NS, irq_after_net_poll, &fired));
	CHECK_EQ(nic.polls, 1);
	CHECK_EQ(halts_with_poll_pending, 0);
	CHECK_EQ(halts, 0);
	CHECK_EQ(host_now_ns - t0, 0); /* no tick waited for */
	CHECK(nic.irq_enabled);
	CHECK(!net_poll_pending());
}

/* Nothing scheduled: the loop halts (one halt per tick), it does not spin. */
static void test_idle_loop_halts(void)
{
	u64 t0;

	setup();
	t0 = host_now_ns;
	CHECK(loop_wait(t0 + 3 * TICK_NS, NULL, NULL));
	CHECK_EQ(halts, 3);
	CHECK_EQ(nic.polls, 0);
	CHECK(!net_poll_pending());
}

/* `stall`: a scheduled poll waits until the stall is over, and the loop halts meanwhile
 * instead of spinning on it; the poll runs on the first loop pass after the stall. */
static void test_stall_halts_then_polls(void)
{
	u64 t0;

	setup();
	t0 = host_now_ns;
	net_stall(20);
	fake_irq(&nic);
	CHECK(!net_poll_pending()); /* stalled: nothing the loop should stay awake for */
	CHECK(loop_wait(t0 + 20 * NSEC_PER_MSEC, NULL, NULL));
	CHECK_EQ(nic.polls, 0);
	CHECK_EQ(halts, 2);
	CHECK(net_poll_pending()); /* the stall's time is up: the poll is due */
	CHECK(loop_wait(t0 + 30 * NSEC_PER_MSEC, NULL, NULL));
	CHECK_EQ(nic.polls, 1);
	CHECK(!net_poll_pending());
}

int main(void)
{
	host_quiet = 1;
	RUN(test_poll_scheduled_after_net_poll_runs_without_halting);
	RUN(test_idle_loop_halts);
	RUN(test_stall_halts_then_polls);
	return unit_summary("netdev_idle");
}
