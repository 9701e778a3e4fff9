/*
 * tests/unit/ring_test_harness.c - the ring tests' shared driver side and long run
 * (ring_test_harness.h).
 */
#include <errno.h>
#include <string.h>

#include "tests/unit/ring_test_harness.h"
#include "tests/unit/sim_device_harness.h" /* sim_pattern */

unsigned notify_calls, callback_calls;
bool notify_ok = true;
bool napi_mode, poll_scheduled, kicked;
int tok[256];

bool t_notify(struct virtqueue *vq)
{
	(void)vq;
	notify_calls++;
	kicked = true;
	return notify_ok;
}

void t_callback(struct virtqueue *vq)
{
	callback_calls++;
	if (napi_mode) {
		virtqueue_disable_cb(vq);
		poll_scheduled = true;
	}
}

void ring_test_reset(void)
{
	notify_calls = callback_calls = 0;
	notify_ok = true;
	napi_mode = poll_scheduled = kicked = false;
}

static u32 rng_state = 12345;

u32 rnd(u32 n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state % n;
}

int post_in(struct virtqueue *vq, void *buf, u32 len, void *token)
{
	struct scatterlist sg = { buf, len };

	return virtqueue_add_inbuf(vq, &sg, 1, token);
}

int post_out(struct virtqueue *vq, void *buf, u32 len, void *token)
{
	struct scatterlist sg = { buf, len };

	return virtqueue_add_outbuf(vq, &sg, 1, token);
}

int post_pieces(struct virtqueue *vq, u8 *mem, unsigned npieces, unsigned nout, u32 piece,
		void *token)
{
	struct scatterlist sg[40];

	for (unsigned i = 0; i < npieces; i++) {
		sg[i].addr = mem + i * piece;
		sg[i].len = piece;
	}
	return virtqueue_add_sgs(vq, sg, nout, npieces - nout, token);
}

/* Driver: post a random burst and kick once for it, as start_xmit would. */
static bool wrap_post(struct wrap_run *w)
{
	unsigned burst = rnd(w->vq->num + 1), added = 0;

	while (added < burst && w->posted < w->target && w->posted - w->completed < WRAP_WINDOW) {
		unsigned slot = w->posted % WRAP_WINDOW, np = 1 + rnd(w->max_pieces), nout = rnd(np + 1);
		struct scatterlist sg[WRAP_PIECES];
		u32 in = 0;
		int err;

		w->first_in[slot] = nout < np ? w->mem[slot][nout] : NULL;
		for (unsigned i = 0; i < np; i++) {
			sg[i].addr = w->mem[slot][i];
			sg[i].len = 1 + rnd(32);
			if (i >= nout)
				in += sg[i].len;
		}
		err = virtqueue_add_sgs(w->vq, sg, nout, np - nout, &tok[slot]);
		if (err == -ENOSPC)
			break;
		if (err) {
			w->failed = true;
			return false;
		}
		w->exp_len[slot] = in;
		w->posted++;
		added++;
	}
	if (added && !virtqueue_kick(w->vq))
		w->failed = true;
	return added != 0;
}

/* Device: sleeps until kicked, then works in random bursts until the ring is empty. */
static bool wrap_device(struct wrap_run *w)
{
	const struct ring_sim *s = &w->sim;
	unsigned n = 0, burst = 1 + rnd(w->vq->num);

	if (kicked && !w->device_awake) {
		w->device_awake = true;
		s->disable_notify(s->dev);
	}
	kicked = false;
	if (!w->device_awake)
		return false;
	while (n < burst && s->take_one(s->dev, (u8)w->taken)) {
		w->taken++;
		n++;
	}
	if (s->flush(s->dev))
		vring_interrupt(w->vq);
	if (!s->pending(s->dev)) {
		s->enable_notify(s->dev);
		if (!s->pending(s->dev)) /* the device's own race check */
			w->device_awake = false;
		else
			s->disable_notify(s->dev);
	}
	return n != 0;
}

/* Driver: a NAPI-like poll, scheduled only by the interrupt callback. */
static bool wrap_poll(struct wrap_run *w, bool delayed)
{
	unsigned budget = 1 + rnd(w->vq->num), got = 0, len;
	void *t;

	if (!poll_scheduled)
		return false;
	while (got < budget && (t = virtqueue_get_buf(w->vq, &len))) {
		unsigned slot = w->completed % WRAP_WINDOW;

		if (t != &tok[slot] || len != w->exp_len[slot]) {
			w->failed = true;
			return false;
		}
		/* the device numbers buffers in the order it takes them, which is ours */
		if (w->first_in[slot] && w->first_in[slot][0] != sim_pattern((u8)w->completed, 0))
			w->failed = true;
		w->completed++;
		got++;
	}
	if (got < budget) {
		bool idle = delayed && rnd(2) ? virtqueue_enable_cb_delayed(w->vq) : virtqueue_enable_cb(w->vq);

		if (idle)
			poll_scheduled = false;
		else
			virtqueue_disable_cb(w->vq);
	}
	return got != 0;
}

bool wrap_run_loop(struct wrap_run *w, bool delayed)
{
	unsigned idle = 0;

	napi_mode = true;
	while (w->completed < w->target && idle < 1000 && !w->failed) {
		bool progress = wrap_post(w);

		progress |= wrap_device(w);
		progress |= wrap_poll(w, delayed);
		idle = progress ? 0 : idle + 1;
	}
	napi_mode = false;
	return !w->failed && w->completed == w->target;
}

const char *wrap_run_check(const struct wrap_run *w, const struct wrap_device_counts *dev)
{
	const struct virtqueue *vq = w->vq;
	const struct virtqueue_stats *st = &vq->stats;

	if (w->completed != w->target || w->posted != w->target)
		return "not every buffer came back";
	if (st->added != w->target || st->completed != w->target)
		return "the ring counted other buffers than were passed";
	if (vq->num_free != vq->num)
		return "descriptors still taken";
	if (dev->chain_errors)
		return "the device saw a malformed buffer";
	if (st->bad_used_id + st->bad_used_len + st->bad_used_idx)
		return "bad entries counted from an honest device";
	if (!st->kicks_suppressed || !dev->interrupts_suppressed)
		return "no notification was ever suppressed";
	if (st->interrupts != dev->interrupts || st->kicks != notify_calls)
		return "interrupts or kicks counted differently on the two sides";
	if (vq->indirect ? !st->indirect : st->indirect != 0)
		return "indirect tables used where they should not be, or never";
	return NULL;
}
