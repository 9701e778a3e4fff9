/*
 * tests/unit/ring_test_harness.h - what the two ring tests share (test_virtio_ring.c, split;
 * test_virtio_ring_packed.c, packed): the transport's notify and the driver's callback as
 * counters, posting helpers, a small random generator, and the long run in which a
 * NAPI-like driver and a simulated device pass buffers until the indices wrap.
 *
 * The long run drives either simulated device through struct ring_sim (a few function
 * pointers), so one driver loop, one device loop and one set of expectations serve both rings.
 */
#ifndef TESTS_UNIT_RING_TEST_HARNESS_H
#define TESTS_UNIT_RING_TEST_HARNESS_H

#include "drivers/virtio/virtio_ring.h"
#include "kernel/types.h"

extern unsigned notify_calls, callback_calls;
extern bool notify_ok;      /* what t_notify answers */
extern bool napi_mode;      /* t_callback behaves like virtio-net's: disable, schedule poll */
extern bool poll_scheduled;
extern bool kicked;         /* the device has a notification to act on */
extern int tok[256];        /* tokens: only their addresses matter */

bool t_notify(struct virtqueue *vq);
void t_callback(struct virtqueue *vq);
void ring_test_reset(void); /* the counters and flags above back to their start */
u32 rnd(u32 n);             /* 0..n-1, a fixed sequence */

int post_in(struct virtqueue *vq, void *buf, u32 len, void *token);
int post_out(struct virtqueue *vq, void *buf, u32 len, void *token);
/* A buffer of npieces pieces of piece bytes each, the first nout device-readable. */
int post_pieces(struct virtqueue *vq, u8 *mem, unsigned npieces, unsigned nout, u32 piece,
		void *token);

/* The device side of the long run. */
struct ring_sim {
	void *dev;
	/* take the next available buffer, fill its writable part with sim_pattern(seed) and write
	 * its used entry; false when nothing is available */
	bool (*take_one)(void *dev, u8 seed);
	bool (*flush)(void *dev); /* publish; true when an interrupt is due */
	bool (*pending)(void *dev);
	void (*enable_notify)(void *dev);
	void (*disable_notify)(void *dev);
};

#define WRAP_WINDOW 32 /* buffers in flight at most, each with its token and memory */
#define WRAP_PIECES 4

struct wrap_run {
	struct virtqueue *vq;
	struct ring_sim sim;
	unsigned max_pieces; /* 1..WRAP_PIECES pieces per buffer */
	u32 posted, completed, target, taken;
	bool device_awake, failed;
	u32 exp_len[WRAP_WINDOW];
	u8 *first_in[WRAP_WINDOW]; /* the first device-writable piece, or NULL */
	u8 mem[WRAP_WINDOW][WRAP_PIECES][32];
};

/* Post in random bursts (random piece counts and lengths, readable and writable), kick; the
 * device sleeps until kicked and works in random bursts until the ring is empty; the driver
 * polls only when its callback scheduled it, checking every token, length and first byte in
 * order, and re-enables callbacks (delayed: now and then virtqueue_enable_cb_delayed).
 * Returns true when target buffers came back without a failure; false on a failure or a stall
 * (1000 rounds without progress: a lost kick or interrupt). */
bool wrap_run_loop(struct wrap_run *w, bool delayed);

/* What the device counted in the run, for wrap_run_check. */
struct wrap_device_counts {
	unsigned interrupts, interrupts_suppressed, chain_errors;
};
/* The expectations both rings share after a long run: every buffer back, the ring empty, no
 * bad entry, suppression at work on both sides and counted alike on both, indirect tables
 * used exactly when negotiated. NULL when all hold, else the first that does not. */
const char *wrap_run_check(const struct wrap_run *w, const struct wrap_device_counts *dev);

#endif
