/*
 * tests/unit/test_virtio_ring_packed.c - host tests for drivers/virtio/virtio_ring_packed.c,
 * the packed virtqueue (virtio 1.2 section 2.8), through the same virtqueue_* calls drivers
 * make, against the simulated device of sim_packed_harness.c.
 *
 * Covers the layout, lists and indirect tables as the device reads them, a full ring,
 * out-of-order completion, kick and interrupt suppression with and without EVENT_IDX (the
 * event structures' off_wrap), the wrap of the ring and of the wrap counters over more than
 * 65536 descriptors, detach/reset, and a hostile device (ids out of range or not in flight,
 * lengths beyond the buffer, used descriptors where nothing was posted, random scribbles).
 * Every test ends by checking that no DMA allocation leaked.
 */
#include <errno.h> /* not kernel/errno.h: its strerror clashes with libc's; numbers match */
#include <string.h>

#include "drivers/virtio/virtio_ring.h"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/ring_test_harness.h"
#include "tests/unit/sim_packed_harness.h"
#include "tests/unit/unit.h"

static struct virtqueue *new_vq(unsigned num, bool event_idx, bool indirect)
{
	ring_test_reset();
	return vring_create_virtqueue_packed(0, num, event_idx, indirect, t_notify, t_callback, "pk");
}

static void del_vq(struct virtqueue *vq)
{
	vring_del_virtqueue(vq);
	CHECK_EQ(host_dma_live, 0);
}

/* Buffer ids: each either in flight or on the free-id list, exactly once; the slots the
 * buffers in flight cover plus the free slots make the ring. (Where the ring positions are
 * is checked by the tests themselves: a skipped bad id moves last_used without a buffer.) */
static bool ids_accounted(const struct virtqueue *vq)
{
	static u8 seen[VIRTQUEUE_MAX_SIZE];
	unsigned inflight = 0, slots = 0;
	u16 i = vq->free_head;

	memset(seen, 0, vq->num);
	for (unsigned h = 0; h < vq->num; h++)
		if (vq->desc_state[h].data) {
			seen[h] = 1;
			inflight++;
			slots += vq->desc_state[h].ndescs;
		}
	for (unsigned n = inflight; n < vq->num; n++) {
		if (i >= vq->num || seen[i])
			return false;
		seen[i] = 1;
		i = vq->desc_state[i].next;
	}
	return slots + vq->num_free == vq->num;
}

static u16 flags_at(const struct virtqueue *vq, unsigned slot)
{
	return vq->pdesc[slot].flags;
}

#define AV VRING_PACKED_DESC_F_AVAIL
#define US VRING_PACKED_DESC_F_USED

/* ---- layout ---- */

static void test_layout(void)
{
	struct virtqueue *vq;
	static const unsigned bad[] = { 0, 3, 100, 8192 };

	CHECK_EQ(vring_packed_size(256), 16 * 256 + 8); /* 2.8.10.1 */
	vq = new_vq(256, true, true);
	CHECK(vq != NULL);
	if (!vq)
		return;
	CHECK(vq->packed);
	CHECK(vq->desc == NULL && vq->avail == NULL && vq->used == NULL);
	CHECK_EQ(vq->desc_phys, virt_to_phys(vq->pdesc));
	CHECK_EQ(vq->desc_phys % 16, 0);
	CHECK_EQ(vq->avail_phys, vq->desc_phys + 16 * 256); /* driver area */
	CHECK_EQ(vq->used_phys, vq->avail_phys + 4);         /* device area */
	CHECK_EQ(vq->ring_bytes, vring_packed_size(256));
	CHECK_EQ(vq->num_free, 256);
	for (size_t k = 0; k < vq->ring_bytes; k++)
		CHECK(((u8 *)vq->ring_mem)[k] == 0); /* 2.8.13: zeroed; flags 0 = ENABLE */
	CHECK(ids_accounted(vq));
	del_vq(vq);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK(vring_create_virtqueue_packed(0, bad[i], false, false, t_notify, NULL, "x") == NULL);
	CHECK_EQ(host_dma_live, 0);
}

/* ---- adding buffers ---- */

/* Two readable and two writable pieces without indirect: four slots, the AVAIL/USED pair of
 * wrap 1 in each, NEXT on all but the last, WRITE on the writable ones, the id in every one. */
static void test_list_out_in(void)
{
	static u8 mem[4 * 64];
	struct virtqueue *vq = new_vq(8, false, false);
	struct psim_device d;
	struct psim_buf b;
	unsigned len;

	psim_attach(&d, vq);
	for (unsigned i = 0; i < 128; i++)
		mem[i] = (u8)i;
	CHECK_EQ(post_pieces(vq, mem, 4, 2, 64, &tok[0]), 0);
	CHECK_EQ(vq->num_free, 4);
	CHECK_EQ(flags_at(vq, 0), AV | VRING_DESC_F_NEXT);
	CHECK_EQ(flags_at(vq, 1), AV | VRING_DESC_F_NEXT);
	CHECK_EQ(flags_at(vq, 2), AV | VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
	CHECK_EQ(flags_at(vq, 3), AV | VRING_DESC_F_WRITE);
	CHECK_EQ(flags_at(vq, 4), 0);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(vq->pdesc[i].id, vq->pdesc[3].id);
		CHECK_EQ(vq->pdesc[i].len, 64);
		CHECK_EQ(vq->pdesc[i].addr, virt_to_phys(mem + 64 * i));
	}
	CHECK(ids_accounted(vq));

	CHECK(psim_pop(&d, &b));
	CHECK(!b.b.malformed);
	CHECK_EQ(b.ndescs, 4);
	CHECK_EQ(b.b.nout, 2);
	CHECK_EQ(b.b.nin, 2);
	CHECK(b.b.seg[0].addr == mem && b.b.seg[3].addr == mem + 192);
	CHECK(!psim_avail_pending(&d));
	psim_push(&d, b.b.head, sim_write(&b.b, 9, 100), b.ndescs);
	CHECK(psim_flush(&d));
	CHECK(virtqueue_more_used(vq));
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	CHECK_EQ(len, 100);
	CHECK_EQ(mem[128], sim_pattern(9, 0));
	CHECK_EQ(mem[227], sim_pattern(9, 99));
	CHECK_EQ(vq->num_free, 8);
	CHECK_EQ(vq->last_used_idx, 4);
	CHECK(virtqueue_get_buf(vq, &len) == NULL);
	CHECK(ids_accounted(vq));

	/* bad arguments change nothing */
	CHECK_EQ(post_pieces(vq, mem, 9, 0, 8, &tok[1]), -EINVAL); /* longer than the ring */
	CHECK_EQ(virtqueue_add_sgs(vq, NULL, 1, 0, &tok[1]), -EINVAL);
	CHECK_EQ(post_in(vq, mem, 0, &tok[1]), -EINVAL);
	CHECK_EQ(post_in(vq, mem, 8, NULL), -EINVAL);
	CHECK_EQ(vq->avail_idx_shadow, 4);
	CHECK_EQ(vq->stats.added, 1);
	CHECK_EQ(vq->stats.completed, 1);
	del_vq(vq);
}

static void test_indirect(void)
{
	static u8 mem[3 * 32];
	struct virtqueue *vq = new_vq(4, false, true);
	struct vring_packed_desc *t;
	struct psim_device d;
	struct psim_buf b;
	unsigned len;

	psim_attach(&d, vq);
	CHECK_EQ(post_pieces(vq, mem, 3, 1, 32, &tok[0]), 0);
	CHECK_EQ(vq->num_free, 3);
	CHECK_EQ(vq->stats.indirect, 1);
	CHECK_EQ(flags_at(vq, 0), AV | VRING_DESC_F_INDIRECT); /* no NEXT, no WRITE (2.8.7) */
	CHECK_EQ(vq->pdesc[0].len, 3 * 16);
	t = vq->desc_state[vq->pdesc[0].id].indir;
	CHECK_EQ(vq->pdesc[0].addr, virt_to_phys(t));
	CHECK_EQ(t[0].flags, 0);
	CHECK_EQ(t[1].flags, VRING_DESC_F_WRITE); /* the only flag allowed inside (2.8.19) */
	CHECK_EQ(t[2].flags, VRING_DESC_F_WRITE);
	CHECK(psim_pop(&d, &b));
	CHECK(!b.b.malformed && b.b.indirect);
	CHECK_EQ(b.ndescs, 1);
	CHECK_EQ(b.b.nout, 1);
	CHECK_EQ(b.b.in_bytes, 64);
	psim_push(&d, b.b.head, sim_write(&b.b, 3, b.b.in_bytes), b.ndescs);
	psim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	CHECK_EQ(len, 64);
	CHECK_EQ(mem[32], sim_pattern(3, 0));
	/* one piece never goes through a table */
	CHECK_EQ(post_in(vq, mem, 8, &tok[1]), 0);
	CHECK_EQ(flags_at(vq, 1), AV | VRING_DESC_F_WRITE);
	CHECK_EQ(vq->stats.indirect, 1);
	CHECK_EQ(psim_complete(&d, 4, 0, NULL), 1);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[1]);
	CHECK_EQ(d.chain_errors, 0);
	del_vq(vq);
}

/* A full ring refuses; the device completing out of order frees slots the driver reuses. */
static void test_full_and_out_of_order(void)
{
	static u8 mem[8][16];
	struct virtqueue *vq = new_vq(8, false, false);
	struct psim_device d;
	static struct psim_buf b[8];
	unsigned len;

	psim_attach(&d, vq);
	/* 3 + 2 + 1 + 2 slots */
	CHECK_EQ(post_pieces(vq, mem[0], 3, 0, 4, &tok[0]), 0);
	CHECK_EQ(post_pieces(vq, mem[1], 2, 1, 4, &tok[1]), 0);
	CHECK_EQ(post_in(vq, mem[2], 16, &tok[2]), 0);
	CHECK_EQ(post_pieces(vq, mem[3], 2, 0, 4, &tok[3]), 0);
	CHECK_EQ(vq->num_free, 0);
	CHECK_EQ(post_in(vq, mem[4], 16, &tok[4]), -ENOSPC);
	CHECK_EQ(vq->stats.full, 1);
	for (unsigned i = 0; i < 4; i++)
		CHECK(psim_pop(&d, &b[i]));
	CHECK_EQ(b[0].ndescs + b[1].ndescs + b[2].ndescs + b[3].ndescs, 8);
	/* completed last first: used descriptors go where the device writes next */
	psim_push(&d, b[3].b.head, 0, b[3].ndescs);
	psim_push(&d, b[1].b.head, 4, b[1].ndescs);
	psim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[3]);
	CHECK_EQ(len, 0);
	CHECK_EQ(vq->last_used_idx, 2);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[1]);
	CHECK_EQ(len, 4);
	CHECK_EQ(vq->last_used_idx, 4);
	CHECK(virtqueue_get_buf(vq, NULL) == NULL);
	CHECK_EQ(vq->num_free, 4);
	CHECK(ids_accounted(vq));
	/* the freed space is at the start of the next lap: wrap counter 0 */
	CHECK_EQ(post_pieces(vq, mem[4], 4, 0, 4, &tok[4]), 0);
	CHECK_EQ(flags_at(vq, 0) & (AV | US), US);
	CHECK_EQ(flags_at(vq, 3) & (AV | US), US);
	psim_push(&d, b[0].b.head, 0, b[0].ndescs);
	psim_push(&d, b[2].b.head, 16, b[2].ndescs);
	psim_flush(&d);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[2]);
	CHECK_EQ(len, 16);
	CHECK(psim_pop(&d, &b[4]));
	CHECK_EQ(b[4].ndescs, 4);
	psim_push(&d, b[4].b.head, 0, b[4].ndescs);
	psim_flush(&d);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[4]);
	CHECK_EQ(vq->num_free, 8);
	CHECK(ids_accounted(vq));
	CHECK_EQ(d.chain_errors, 0);
	del_vq(vq);
}

/* ---- notifications ---- */

static void test_kick_suppression(void)
{
	static u8 mem[16];
	struct virtqueue *vq = new_vq(8, false, false);
	struct psim_device d;

	psim_attach(&d, vq);
	CHECK(!virtqueue_kick_prepare(vq)); /* nothing added */
	CHECK_EQ(post_in(vq, mem, 16, &tok[0]), 0);
	CHECK(virtqueue_kick(vq)); /* ENABLE (0) at start */
	CHECK_EQ(notify_calls, 1);
	psim_disable_notify(&d);
	CHECK_EQ(post_in(vq, mem, 16, &tok[1]), 0);
	CHECK(!virtqueue_kick_prepare(vq));
	CHECK_EQ(vq->stats.kicks_suppressed, 1);
	psim_enable_notify(&d);
	CHECK_EQ(post_in(vq, mem, 16, &tok[2]), 0);
	CHECK(virtqueue_kick_prepare(vq));
	/* a DESC from a device without EVENT_IDX negotiated is not a "disable" */
	d.device_event->flags = VRING_PACKED_EVENT_FLAG_DESC;
	CHECK_EQ(post_in(vq, mem, 16, &tok[3]), 0);
	CHECK(virtqueue_kick_prepare(vq));
	while (virtqueue_detach_unused_buf(vq))
		;
	del_vq(vq);

	/* EVENT_IDX: the device asks for a kick when the descriptor at its event slot, in its
	 * event lap, is made available (2.8.10) */
	vq = new_vq(8, true, false);
	psim_attach(&d, vq);
	d.device_event->off_wrap = 3 | 0x8000; /* slot 3, wrap 1 */
	d.device_event->flags = VRING_PACKED_EVENT_FLAG_DESC;
	CHECK_EQ(post_in(vq, mem, 16, &tok[0]), 0); /* slot 0 */
	CHECK(!virtqueue_kick_prepare(vq));
	CHECK_EQ(post_pieces(vq, mem, 2, 0, 8, &tok[1]), 0); /* slots 1-2 */
	CHECK(!virtqueue_kick_prepare(vq));
	CHECK_EQ(post_pieces(vq, mem, 2, 0, 8, &tok[2]), 0); /* slots 3-4: covers 3 */
	CHECK(virtqueue_kick_prepare(vq));
	/* the device takes everything, re-arms at its next slot (5, wrap 1) */
	CHECK_EQ(psim_complete(&d, 8, 0, NULL), 3);
	while (virtqueue_get_buf(vq, NULL))
		;
	CHECK_EQ(d.device_event->off_wrap, 5 | 0x8000);
	CHECK_EQ(post_pieces(vq, mem, 4, 0, 4, &tok[3]), 0); /* slots 5,6,7,0: wraps */
	CHECK(virtqueue_kick_prepare(vq));
	CHECK_EQ(psim_complete(&d, 8, 0, NULL), 1);
	while (virtqueue_get_buf(vq, NULL))
		;
	CHECK_EQ(d.device_event->off_wrap, 1); /* slot 1 of the lap with wrap 0 */
	CHECK_EQ(post_in(vq, mem, 16, &tok[4]), 0); /* slot 1, wrap 0: the event */
	CHECK(virtqueue_kick_prepare(vq));
	/* an event ahead of what was posted (slot 4 of this lap): no kick yet */
	d.device_event->off_wrap = 4;
	CHECK_EQ(post_in(vq, mem, 16, &tok[5]), 0); /* slot 2 */
	CHECK(!virtqueue_kick_prepare(vq));
	/* an event the device has long passed (slot 6 of the previous lap, behind every buffer it
	 * returned): a device that left it there waits for ever unless we kick */
	d.device_event->off_wrap = 6 | 0x8000;
	CHECK_EQ(post_in(vq, mem, 16, &tok[6]), 0); /* slot 3 */
	CHECK(virtqueue_kick_prepare(vq));
	CHECK_EQ(d.chain_errors, 0);
	while (virtqueue_detach_unused_buf(vq))
		;
	del_vq(vq);
}

/* Adding a whole lap or more without a kick: kick, whatever the event says. */
static void test_kick_saturation(void)
{
	static u8 mem[16];
	struct virtqueue *vq = new_vq(4, true, false);
	struct psim_device d;

	psim_attach(&d, vq);
	d.device_event->off_wrap = 0x8000 | 3;
	d.device_event->flags = VRING_PACKED_EVENT_FLAG_DESC;
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(post_in(vq, mem, 16, &tok[i]), 0);
	d.device_event->off_wrap = 3; /* wrap 0: reads as long passed */
	CHECK(virtqueue_kick_prepare(vq));
	while (virtqueue_detach_unused_buf(vq))
		;
	del_vq(vq);
}

static void test_interrupt_suppression(void)
{
	static u8 mem[8][16];
	struct virtqueue *vq = new_vq(8, false, false);
	struct psim_device d;
	bool irq;

	psim_attach(&d, vq);
	CHECK_EQ(post_in(vq, mem[0], 16, &tok[0]), 0);
	CHECK_EQ(psim_complete(&d, 8, 0, &irq), 1);
	CHECK(irq); /* ENABLE at start */
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
	virtqueue_disable_cb(vq);
	CHECK_EQ(vq->driver_event->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	CHECK_EQ(post_in(vq, mem[1], 16, &tok[1]), 0);
	CHECK_EQ(psim_complete(&d, 8, 0, &irq), 1);
	CHECK(!irq);
	/* enable_cb sees the buffer that came while callbacks were off */
	CHECK(!virtqueue_enable_cb(vq));
	CHECK_EQ(vq->driver_event->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[1]);
	CHECK(virtqueue_enable_cb(vq));
	del_vq(vq);

	/* EVENT_IDX: DESC with off_wrap at last_used; get_buf moves it along */
	vq = new_vq(8, true, false);
	psim_attach(&d, vq);
	CHECK(virtqueue_enable_cb(vq));
	CHECK_EQ(vq->driver_event->flags, VRING_PACKED_EVENT_FLAG_DESC);
	CHECK_EQ(vq->driver_event->off_wrap, 0x8000);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(post_in(vq, mem[i], 16, &tok[i]), 0);
	CHECK_EQ(psim_complete(&d, 2, 0, &irq), 2);
	CHECK(irq);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
	CHECK_EQ(vq->driver_event->off_wrap, 0x8000 | 1);
	/* slot 1 was used before the event moved there: the next one (slot 2) is past it and
	 * raises nothing (the driver, still polling, finds both)... */
	CHECK_EQ(psim_complete(&d, 1, 0, &irq), 1);
	CHECK(!irq);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[1]);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[2]);
	/* ...delayed: 3 outstanding, wake after 3 * 3 / 4 = 2 of them (event at slot 5) */
	CHECK(virtqueue_enable_cb_delayed(vq));
	CHECK_EQ(vq->driver_event->off_wrap, 0x8000 | 5);
	CHECK_EQ(psim_complete(&d, 2, 0, &irq), 2);
	CHECK(!irq);
	CHECK_EQ(psim_complete(&d, 1, 0, &irq), 1);
	CHECK(irq);
	while (virtqueue_get_buf(vq, NULL))
		;
	/* into the next lap: slots 6, 7, then 0 with wrap 0 */
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(post_in(vq, mem[i], 16, &tok[i]), 0);
	CHECK(virtqueue_enable_cb(vq));
	CHECK_EQ(vq->driver_event->off_wrap, 0x8000 | 6);
	CHECK_EQ(psim_complete(&d, 3, 0, &irq), 3);
	CHECK(irq);
	while (virtqueue_get_buf(vq, NULL))
		;
	CHECK_EQ(vq->driver_event->off_wrap, 1); /* slot 1, wrap 0 */
	/* enable_cb_delayed after the device already passed the event: poll (false) */
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(post_in(vq, mem[i], 16, &tok[i]), 0);
	virtqueue_disable_cb(vq);
	CHECK_EQ(psim_complete(&d, 4, 0, &irq), 4);
	CHECK(!irq);
	CHECK(!virtqueue_enable_cb_delayed(vq));
	while (virtqueue_get_buf(vq, NULL))
		;
	del_vq(vq);
}

static void test_vring_interrupt(void)
{
	static u8 mem[16];
	struct virtqueue *vq = new_vq(4, false, false);
	struct psim_device d;

	psim_attach(&d, vq);
	CHECK(!vring_interrupt(vq));
	CHECK_EQ(vq->stats.spurious, 1);
	CHECK_EQ(callback_calls, 0);
	CHECK_EQ(post_in(vq, mem, 16, &tok[0]), 0);
	psim_complete(&d, 1, 0, NULL);
	CHECK(vring_interrupt(vq));
	CHECK_EQ(callback_calls, 1);
	CHECK_EQ(vq->stats.interrupts, 2);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
	del_vq(vq);
}

/* ---- the wrap of the ring and of the wrap counters, far past 65536 descriptors ---- */

/* The packed simulated device behind the long run's struct ring_sim (ring_test_harness.h). */
static bool packed_take_one(void *dev, u8 seed)
{
	struct psim_device *d = dev;
	struct psim_buf pb;

	if (!psim_pop(d, &pb))
		return false;
	psim_push(d, pb.b.head, sim_write(&pb.b, seed, pb.b.in_bytes), pb.ndescs);
	return true;
}

static bool packed_flush(void *dev) { return psim_flush(dev); }
static bool packed_pending(void *dev) { return psim_avail_pending(dev); }
static void packed_enable_notify(void *dev) { psim_enable_notify(dev); }
static void packed_disable_notify(void *dev) { psim_disable_notify(dev); }

/* Lists of one to four descriptors straddle the end of the ring again and again; far more
 * than 65536 descriptors go round, so the 16-bit counts wrap and the wrap counters flip
 * thousands of times. */
static void run_wrap(unsigned num, bool event_idx, bool indirect)
{
	static struct wrap_run w;
	static struct psim_device d;
	struct wrap_device_counts counts;
	const char *why;

	memset(&w, 0, sizeof(w));
	w.vq = new_vq(num, event_idx, indirect);
	w.target = 70000;
	w.max_pieces = 4;
	w.sim = (struct ring_sim){ &d, packed_take_one, packed_flush, packed_pending, packed_enable_notify,
				   packed_disable_notify };
	psim_attach(&d, w.vq);
	CHECK(wrap_run_loop(&w, event_idx));
	counts = (struct wrap_device_counts){ d.interrupts, d.interrupts_suppressed, d.chain_errors };
	why = wrap_run_check(&w, &counts);
	CHECK_STR(why ? why : "ok", "ok");
	CHECK_EQ(w.vq->avail_idx_shadow, w.vq->last_used_idx);
	CHECK(d.used_written > 65536); /* the 16-bit counts went round */
	CHECK(d.used_written > 2 * w.target / 3); /* slots, not buffers */
	CHECK_EQ((u16)d.used_written, w.vq->last_used_idx);
	CHECK(ids_accounted(w.vq));
	del_vq(w.vq);
}

static void test_wrap_plain(void) { run_wrap(8, false, false); }
static void test_wrap_indirect(void) { run_wrap(4, false, true); }
static void test_wrap_event_idx(void) { run_wrap(8, true, false); }
static void test_wrap_event_idx_indirect(void) { run_wrap(16, true, true); }
static void test_wrap_large(void) { run_wrap(256, true, false); }

/* ---- reset ---- */

static void test_detach_and_reset(void)
{
	static u8 mem[10][3 * 16];
	struct virtqueue *vq = new_vq(32, true, false);
	struct psim_device d;
	static struct psim_buf b[5];
	bool seen[10] = { false };
	unsigned n = 0;
	void *t;

	psim_attach(&d, vq);
	for (unsigned i = 0; i < 10; i++)
		CHECK_EQ(post_pieces(vq, mem[i], i % 2 ? 3 : 1, i % 2, 16, &tok[i]), 0);
	for (unsigned i = 0; i < 5; i++)
		CHECK(psim_pop(&d, &b[i]));
	psim_push(&d, b[0].b.head, 0, b[0].ndescs);
	psim_flush(&d);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
	while ((t = virtqueue_detach_unused_buf(vq)) && n < 20) {
		int k = (int *)t - tok;

		CHECK(k >= 1 && k < 10 && !seen[k]);
		if (k >= 1 && k < 10)
			seen[k] = true;
		n++;
	}
	CHECK_EQ(n, 9);
	CHECK_EQ(vq->num_free, 32);
	vring_reset(vq);
	CHECK_EQ(vq->avail_idx_shadow, 0);
	CHECK_EQ(vq->last_used_idx, 0);
	CHECK_EQ(vq->driver_event->flags, 0);
	CHECK_EQ(flags_at(vq, 0), 0);
	CHECK(ids_accounted(vq));
	psim_attach(&d, vq); /* a reset device starts over too */
	CHECK_EQ(post_pieces(vq, mem[0], 3, 1, 16, &tok[11]), 0);
	CHECK_EQ(flags_at(vq, 0) & (AV | US), AV); /* wrap counter 1 again */
	CHECK_EQ(psim_complete(&d, 8, 0, NULL), 1);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[11]);
	CHECK_EQ(d.chain_errors, 0);
	del_vq(vq);
}

static void test_notify_failure(void)
{
	static u8 mem[16];
	struct virtqueue *vq = new_vq(4, false, false);

	host_quiet = 1;
	CHECK_EQ(post_in(vq, mem, 16, &tok[0]), 0);
	notify_ok = false;
	CHECK(!virtqueue_kick(vq));
	CHECK(virtqueue_is_broken(vq));
	CHECK_EQ(post_in(vq, mem, 16, &tok[1]), -EIO);
	host_quiet = 0;
	while (virtqueue_detach_unused_buf(vq))
		;
	del_vq(vq);
}

/* ---- a hostile device ---- */

static void test_hostile_ids(void)
{
	static u8 mem[4][64];
	struct virtqueue *vq = new_vq(8, false, false);
	struct psim_device d;
	struct psim_buf b;
	unsigned len = 123;

	psim_attach(&d, vq);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(post_in(vq, mem[i], 64, &tok[i]), 0);
	CHECK(psim_pop(&d, &b));
	/* out of range, then an id that is free (never posted) */
	psim_push(&d, 8, 10, 1);
	psim_push(&d, 0xffff, 10, 1);
	psim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == NULL);
	CHECK_EQ(len, 0);
	CHECK_EQ(vq->stats.bad_used_id, 2);
	CHECK_EQ(vq->last_used_idx, 2); /* each skipped one slot */
	/* a real one after them is taken */
	psim_push(&d, b.b.head, 64, 1);
	psim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	CHECK_EQ(len, 64);
	/* the same id again: not in flight any more (a double completion) */
	psim_push(&d, b.b.head, 64, 1);
	psim_flush(&d);
	CHECK(virtqueue_get_buf(vq, NULL) == NULL);
	CHECK_EQ(vq->stats.bad_used_id, 3);
	CHECK(!virtqueue_is_broken(vq));
	CHECK_EQ(vq->stats.completed, 1);
	while (virtqueue_detach_unused_buf(vq))
		;
	CHECK_EQ(vq->num_free, 8);
	del_vq(vq);
}

static void test_hostile_len(void)
{
	static u8 mem[2][64];
	struct virtqueue *vq = new_vq(8, false, true);
	struct psim_device d;
	struct psim_buf b;
	struct scatterlist out = { mem[1], 64 };
	unsigned len = 7;

	psim_attach(&d, vq);
	CHECK_EQ(post_in(vq, mem[0], 64, &tok[0]), 0);
	CHECK_EQ(virtqueue_add_outbuf(vq, &out, 1, &tok[1]), 0);
	CHECK(psim_pop(&d, &b));
	psim_push(&d, b.b.head, 65, 1); /* one more than the buffer holds */
	CHECK(psim_pop(&d, &b));
	psim_push(&d, b.b.head, 1, 1);  /* a readable-only buffer: nothing to write */
	psim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]); /* back, so it is not lost... */
	CHECK_EQ(len, 0);                                /* ...but with nothing in it */
	CHECK(virtqueue_get_buf(vq, &len) == &tok[1]);
	CHECK_EQ(len, 0);
	CHECK_EQ(vq->stats.bad_used_len, 2);
	CHECK_EQ(vq->num_free, 8);
	del_vq(vq);
}

/* Used descriptors the driver never posted: the queue is broken, and a reset brings it back. */
static void test_hostile_broken_ring(void)
{
	static u8 mem[64];
	struct virtqueue *vq = new_vq(8, false, false);
	struct psim_device d;
	struct psim_buf b;
	void *t;

	host_quiet = 1;
	psim_attach(&d, vq);
	/* nothing in flight, yet slot 0 reads as used with wrap 1 */
	psim_push(&d, 0, 0, 1);
	CHECK(virtqueue_more_used(vq));
	CHECK(virtqueue_get_buf(vq, NULL) == NULL);
	CHECK_EQ(vq->stats.bad_used_idx, 1);
	CHECK(virtqueue_is_broken(vq));
	CHECK(!virtqueue_more_used(vq));
	CHECK(!vring_interrupt(vq));
	CHECK_EQ(post_in(vq, mem, 64, &tok[0]), -EIO);
	vring_reset(vq);
	CHECK(!virtqueue_is_broken(vq));

	/* a two-slot buffer behind a skipped bad id would run past what was posted */
	psim_attach(&d, vq);
	CHECK_EQ(post_pieces(vq, mem, 2, 0, 8, &tok[1]), 0);
	CHECK(psim_pop(&d, &b));
	psim_push(&d, 99, 0, 1);
	psim_push(&d, b.b.head, 0, 2);
	psim_flush(&d);
	CHECK(virtqueue_get_buf(vq, NULL) == NULL);
	CHECK_EQ(vq->stats.bad_used_id, 1);
	CHECK_EQ(vq->stats.bad_used_idx, 2);
	CHECK(virtqueue_is_broken(vq));
	t = virtqueue_detach_unused_buf(vq);
	CHECK(t == &tok[1]);
	CHECK(virtqueue_detach_unused_buf(vq) == NULL);
	CHECK_EQ(vq->num_free, 8);
	host_quiet = 0;
	del_vq(vq);
}

/* Random garbage in used descriptors and event structures, round after round: the driver
 * never returns a token twice or one not in flight, its accounting holds, and a queue it
 * declared broken comes back after detach and reset. */
static void test_hostile_random(void)
{
	static u8 mem[16][64];
	struct virtqueue *vq = new_vq(16, true, true);
	struct psim_device d;
	bool inflight[16] = { false };
	u32 seed = 12345;

	host_quiet = 1;
	psim_attach(&d, vq);
	for (unsigned round = 0; round < 4000; round++) {
		unsigned k = round % 16, len;
		void *t;

		seed = seed * 1103515245u + 12345u;
		if (!inflight[k] && post_pieces(vq, mem[k], 1 + (seed >> 8) % 3, (seed >> 12) % 2, 16, &tok[k]) == 0)
			inflight[k] = true;
		switch ((seed >> 16) % 4) {
		case 0: /* a random used descriptor */
			psim_push(&d, (u16)((seed >> 4) % 20), (seed >> 9) % 100, (u16)(1 + (seed >> 20) % 3));
			break;
		case 1: /* random event structure */
			d.device_event->off_wrap = (u16)(seed >> 3);
			d.device_event->flags = (u16)((seed >> 7) % 4);
			break;
		case 2: /* random flags anywhere */
			vq->pdesc[(seed >> 5) % 16].flags = (u16)(seed >> 11);
			break;
		default: /* honest work */
			psim_complete(&d, 4, 0, NULL);
		}
		virtqueue_kick(vq);
		while ((t = virtqueue_get_buf(vq, &len))) {
			int i = (int *)t - tok;

			CHECK(i >= 0 && i < 16 && inflight[i]);
			if (i >= 0 && i < 16)
				inflight[i] = false;
			CHECK(len <= 64);
		}
		CHECK(ids_accounted(vq));
		if (virtqueue_is_broken(vq) || round % 500 == 499) {
			while ((t = virtqueue_detach_unused_buf(vq))) {
				int i = (int *)t - tok;

				CHECK(i >= 0 && i < 16 && inflight[i]);
				if (i >= 0 && i < 16)
					inflight[i] = false;
			}
			vring_reset(vq);
			psim_attach(&d, vq);
		}
	}
	host_quiet = 0;
	CHECK(vq->stats.bad_used_id > 0);
	while (virtqueue_detach_unused_buf(vq))
		;
	del_vq(vq);
}

int main(void)
{
	RUN(test_layout);
	RUN(test_list_out_in);
	RUN(test_indirect);
	RUN(test_full_and_out_of_order);
	RUN(test_kick_suppression);
	RUN(test_kick_saturation);
	RUN(test_interrupt_suppression);
	RUN(test_vring_interrupt);
	RUN(test_wrap_plain);
	RUN(test_wrap_indirect);
	RUN(test_wrap_event_idx);
	RUN(test_wrap_event_idx_indirect);
	RUN(test_wrap_large);
	RUN(test_detach_and_reset);
	RUN(test_notify_failure);
	RUN(test_hostile_ids);
	RUN(test_hostile_len);
	RUN(test_hostile_broken_ring);
	RUN(test_hostile_random);
	return unit_summary("virtio_ring_packed");
}
