/*
 * tests/unit/test_virtio_ring.c - host tests for drivers/virtio/virtio_ring.c, the split
 * virtqueue (virtio 1.x section 2.7), run against the simulated device in sim_device_harness.c.
 *
 * Covers the layout, chains and indirect tables, a full ring, kick and interrupt suppression
 * with and without EVENT_IDX, free-running indices past 65535, detach/reset, and a hostile
 * device (bad ids, lengths and indices). Every test ends by checking that no descriptor and
 * no DMA allocation leaked.
 */
#include <errno.h> /* not kernel/errno.h: its strerror clashes with libc's; numbers match */
#include <string.h>

#include "drivers/virtio/virtio_ring.h"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/ring_test_harness.h"
#include "tests/unit/sim_device_harness.h"
#include "tests/unit/unit.h"

/* ---- harness ---- */

static struct virtqueue *new_vq(unsigned num, bool event_idx, bool indirect)
{
	ring_test_reset();
	return vring_create_virtqueue(0, num, event_idx, indirect, t_notify, t_callback, "test");
}

static void del_vq(struct virtqueue *vq)
{
	vring_del_virtqueue(vq);
	CHECK_EQ(host_dma_live, 0);
}

/* Every descriptor is either on the free list or in exactly one chain in flight, and each
 * chain ends where desc_state says. Walks the driver's private links (desc_state[].next), and
 * checks that chains in flight show the device the same links. */
static bool descs_accounted(const struct virtqueue *vq)
{
	static u8 seen[VIRTQUEUE_MAX_SIZE];
	unsigned count = 0, n, h;
	u16 i = vq->free_head;

	memset(seen, 0, vq->num);
	for (n = 0; n < vq->num_free; n++) {
		if (i >= vq->num || seen[i])
			return false;
		seen[i] = 1;
		count++;
		i = vq->desc_state[i].next;
	}
	for (h = 0; h < vq->num; h++) {
		const struct vring_desc_state *st = &vq->desc_state[h];

		if (!st->data)
			continue;
		for (i = (u16)h, n = 0; n < st->ndescs; n++) {
			if (i >= vq->num || seen[i])
				return false;
			seen[i] = 1;
			count++;
			if (n + 1 < st->ndescs) {
				if (vq->desc[i].next != vq->desc_state[i].next)
					return false;
				i = vq->desc_state[i].next;
			}
		}
		if (i != st->last)
			return false;
	}
	return count == vq->num;
}

/* Fresh rings: avail and used parts all zero, descriptors empty (only the free list's next
 * links are set). */
static bool rings_clear(const struct virtqueue *vq)
{
	const u8 *p = vq->ring_mem;
	size_t desc_bytes = sizeof(struct vring_desc) * vq->num;

	for (unsigned i = 0; i < vq->num; i++)
		if (vq->desc[i].addr || vq->desc[i].len || vq->desc[i].flags)
			return false;
	for (size_t i = desc_bytes; i < vq->ring_bytes; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- layout and creation ---- */

static void test_ring_layout(void)
{
	struct virtqueue *vq;
	static const unsigned bad[] = { 0, 3, 100, 8192, 65536 };

	/* 16*num + (6 + 2*num) rounded to 4096, then 6 + 8*num (2.7.2) */
	CHECK_EQ(vring_size(1), 4096 + 14);
	CHECK_EQ(vring_size(256), 8192 + 6 + 8 * 256);
	CHECK_EQ(vring_size(4096), 77824 + 6 + 8 * 4096);

	vq = new_vq(256, true, true);
	CHECK(vq != NULL);
	if (!vq)
		return;
	CHECK_EQ((char *)vq->avail - (char *)vq->desc, 16 * 256);
	CHECK_EQ((char *)vq->used - (char *)vq->desc, 8192);
	CHECK_EQ(vq->desc_phys, virt_to_phys(vq->desc));
	CHECK_EQ(vq->avail_phys, virt_to_phys(vq->avail));
	CHECK_EQ(vq->used_phys, virt_to_phys(vq->used));
	CHECK_EQ(vq->desc_phys % VRING_LEGACY_ALIGN, 0);
	CHECK_EQ(vq->used_phys % VRING_LEGACY_ALIGN, 0);
	CHECK_EQ(vq->ring_bytes, vring_size(256));
	CHECK_EQ(vq->indir_pool_phys % 16, 0);
	CHECK_EQ(vq->num_free, 256);
	CHECK_EQ(virtqueue_get_vring_size(vq), 256);
	CHECK(descs_accounted(vq));
	CHECK(rings_clear(vq));
	del_vq(vq);

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK(vring_create_virtqueue(0, bad[i], false, false, t_notify, NULL, "x") == NULL);
	CHECK(vring_create_virtqueue(0, 8, false, false, NULL, NULL, "x") == NULL);
	vring_del_virtqueue(NULL);
	CHECK_EQ(host_dma_live, 0);
}

/* Each allocation failing in turn must unwind the ones before it. */
static void test_create_alloc_failure(void)
{
	struct virtqueue *vq = NULL;
	long k;

	host_quiet = 1;
	for (k = 0; k < 8 && !vq; k++) {
		host_dma_fail_after = k;
		vq = new_vq(64, true, true);
		host_dma_fail_after = -1;
		if (!vq)
			CHECK_EQ(host_dma_live, 0);
	}
	CHECK(k >= 2); /* at least one failure path ran */
	CHECK(vq != NULL);
	if (vq)
		del_vq(vq);
}

/* ---- adding buffers ---- */

static void test_chain_out_in(void)
{
	static u8 hdr[10], payload[100], in1[30], in2[50];
	struct scatterlist sg[4] = { { hdr, 10 }, { payload, 100 }, { in1, 30 }, { in2, 50 } };
	struct virtqueue *vq = new_vq(16, false, false);
	struct sim_device d;
	struct sim_buf b;
	u8 out[110];
	unsigned len = 12345;
	u16 h;

	memset(hdr, 0xaa, sizeof(hdr));
	memset(payload, 0x55, sizeof(payload));
	memset(in1, 0, sizeof(in1));
	memset(in2, 0, sizeof(in2));
	sim_attach(&d, vq);
	CHECK_EQ(virtqueue_add_sgs(vq, sg, 2, 2, &tok[0]), 0);
	CHECK_EQ(vq->num_free, 12);
	CHECK_EQ(vq->stats.added, 1);
	CHECK_EQ(vq->stats.indirect, 0);
	CHECK_EQ(vq->desc_state[0].in_len, 80);

	/* descriptor flags as written: NEXT on all but the last, WRITE on the in pieces */
	h = 0;
	CHECK_EQ(vq->desc[h].flags, VRING_DESC_F_NEXT);
	h = vq->desc[h].next;
	CHECK_EQ(vq->desc[h].flags, VRING_DESC_F_NEXT);
	h = vq->desc[h].next;
	CHECK_EQ(vq->desc[h].flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
	h = vq->desc[h].next;
	CHECK_EQ(vq->desc[h].flags, VRING_DESC_F_WRITE);
	CHECK_EQ(vq->desc_state[0].last, h);

	CHECK(sim_pop(&d, &b));
	CHECK(!b.malformed && !b.indirect);
	CHECK_EQ(b.nsegs, 4);
	CHECK_EQ(b.nout, 2);
	CHECK_EQ(b.in_bytes, 80);
	CHECK(b.seg[0].addr == hdr && b.seg[1].addr == payload);
	CHECK(b.seg[2].addr == in1 && b.seg[3].addr == in2);
	CHECK_EQ(sim_read_out(&b, out, sizeof(out)), 110);
	CHECK(out[0] == 0xaa && out[9] == 0xaa && out[10] == 0x55 && out[109] == 0x55);

	sim_push(&d, b.head, sim_write(&b, 3, 60));
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	CHECK_EQ(len, 60);
	CHECK_EQ(in1[0], sim_pattern(3, 0));
	CHECK_EQ(in1[29], sim_pattern(3, 29));
	CHECK_EQ(in2[29], sim_pattern(3, 59));
	CHECK_EQ(in2[30], 0); /* beyond what the device wrote */
	CHECK(virtqueue_get_buf(vq, &len) == NULL);
	CHECK_EQ(len, 0);
	CHECK_EQ(vq->num_free, 16);
	CHECK_EQ(vq->stats.completed, 1);
	CHECK_EQ(d.chain_errors, 0);
	CHECK(descs_accounted(vq));
	del_vq(vq);
}

static void test_add_outbuf_inbuf(void)
{
	static u8 a[64], c[64];
	struct virtqueue *vq = new_vq(4, false, true);
	struct sim_device d;
	struct sim_buf b;
	unsigned len;

	sim_attach(&d, vq);
	CHECK_EQ(post_out(vq, a, 64, &tok[0]), 0);
	CHECK_EQ(post_in(vq, c, 64, &tok[1]), 0);
	CHECK_EQ(vq->stats.indirect, 0); /* a single piece never needs a table */
	CHECK(sim_pop(&d, &b));
	CHECK(!b.indirect && b.nout == 1 && b.nin == 0 && b.seg[0].addr == a);
	sim_push(&d, b.head, 0);
	CHECK(sim_pop(&d, &b));
	CHECK(!b.indirect && b.nout == 0 && b.nin == 1 && b.seg[0].addr == c);
	sim_push(&d, b.head, sim_write(&b, 9, 64));
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	CHECK_EQ(len, 0);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[1]); /* len is optional */
	CHECK_EQ(c[63], sim_pattern(9, 63));
	CHECK_EQ(vq->num_free, 4);
	del_vq(vq);
}

static void test_indirect(void)
{
	static u8 mem[8][3 * 16], big[40 * 8];
	struct virtqueue *vq = new_vq(8, false, true);
	struct sim_device d;
	struct sim_buf b;
	unsigned i, len;

	sim_attach(&d, vq);
	/* 8 buffers of 3 pieces each: 24 pieces in an 8-entry ring, one descriptor each */
	for (i = 0; i < 8; i++)
		CHECK_EQ(post_pieces(vq, mem[i], 3, 1, 16, &tok[i]), 0);
	CHECK_EQ(vq->num_free, 0);
	CHECK_EQ(vq->stats.indirect, 8);
	CHECK_EQ(vq->desc[0].flags, VRING_DESC_F_INDIRECT);
	CHECK_EQ(vq->desc[0].len, 3 * sizeof(struct vring_desc));
	CHECK_EQ(vq->desc[0].addr, virt_to_phys(vq->desc_state[0].indir));
	CHECK(vq->desc_state[0].indir == vq->indir_pool);
	CHECK_EQ(post_pieces(vq, mem[0], 3, 1, 16, &tok[8]), -ENOSPC);
	CHECK_EQ(vq->stats.full, 1);

	for (i = 0; i < 8; i++) {
		CHECK(sim_pop(&d, &b));
		CHECK(b.indirect && b.nsegs == 3 && b.nout == 1 && b.in_bytes == 32);
		CHECK(b.seg[0].addr == mem[i] && b.seg[2].addr == mem[i] + 32);
		sim_push(&d, b.head, sim_write(&b, (u8)i, 32));
	}
	sim_flush(&d);
	for (i = 0; i < 8; i++) {
		CHECK(virtqueue_get_buf(vq, &len) == &tok[i]);
		CHECK_EQ(len, 32);
		CHECK_EQ(mem[i][16], sim_pattern((u8)i, 0));
	}
	CHECK_EQ(vq->num_free, 8);
	CHECK_EQ(d.chain_errors, 0);
	del_vq(vq);

	/* more pieces than one table holds: a plain chain; exactly a table's worth: indirect */
	vq = new_vq(32, false, true);
	sim_attach(&d, vq);
	CHECK_EQ(post_pieces(vq, big, VIRTQUEUE_MAX_INDIRECT + 1, 2, 8, &tok[0]), 0);
	CHECK_EQ(vq->num_free, 32 - (VIRTQUEUE_MAX_INDIRECT + 1));
	CHECK_EQ(vq->stats.indirect, 0);
	CHECK_EQ(post_pieces(vq, big, VIRTQUEUE_MAX_INDIRECT, 2, 8, &tok[1]), 0);
	CHECK_EQ(vq->stats.indirect, 1);
	CHECK_EQ(vq->num_free, 32 - (VIRTQUEUE_MAX_INDIRECT + 1) - 1);
	CHECK(sim_pop(&d, &b));
	CHECK(!b.indirect && b.nsegs == VIRTQUEUE_MAX_INDIRECT + 1 && b.nout == 2);
	sim_push(&d, b.head, b.in_bytes);
	CHECK(sim_pop(&d, &b));
	CHECK(b.indirect && b.nsegs == VIRTQUEUE_MAX_INDIRECT);
	sim_push(&d, b.head, b.in_bytes);
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	CHECK_EQ(len, (VIRTQUEUE_MAX_INDIRECT - 1) * 8);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[1]);
	CHECK_EQ(vq->num_free, 32);
	CHECK_EQ(d.chain_errors, 0);
	CHECK(descs_accounted(vq));
	del_vq(vq);
}

static void test_queue_full(void)
{
	static u8 mem[16 * 9];
	struct virtqueue *vq = new_vq(8, false, false);
	struct scatterlist zero = { mem, 0 }, null = { NULL, 4 };
	unsigned i;

	for (i = 0; i < 2; i++)
		CHECK_EQ(post_pieces(vq, mem, 3, 1, 16, &tok[i]), 0);
	CHECK_EQ(vq->num_free, 2);
	CHECK_EQ(post_pieces(vq, mem, 3, 1, 16, &tok[2]), -ENOSPC);
	CHECK_EQ(vq->stats.full, 1);
	CHECK_EQ(vq->num_free, 2);       /* a refused add changes nothing */
	CHECK_EQ(vq->avail_idx_shadow, 2);
	CHECK_EQ(vq->avail->idx, 2);
	CHECK_EQ(post_pieces(vq, mem, 2, 1, 16, &tok[3]), 0);
	CHECK_EQ(vq->num_free, 0);
	CHECK_EQ(post_in(vq, mem, 16, &tok[4]), -ENOSPC);
	CHECK_EQ(vq->stats.full, 2);

	/* bad arguments: -EINVAL, not counted as full */
	CHECK_EQ(post_in(vq, mem, 16, NULL), -EINVAL);
	CHECK_EQ(virtqueue_add_sgs(vq, NULL, 1, 0, &tok[5]), -EINVAL);
	CHECK_EQ(virtqueue_add_sgs(vq, &zero, 0, 0, &tok[5]), -EINVAL);
	CHECK_EQ(virtqueue_add_inbuf(vq, &zero, 1, &tok[5]), -EINVAL);
	CHECK_EQ(virtqueue_add_inbuf(vq, &null, 1, &tok[5]), -EINVAL);
	CHECK_EQ(vq->stats.full, 2);
	CHECK_EQ(vq->stats.added, 3);

	while (virtqueue_detach_unused_buf(vq))
		;
	CHECK_EQ(vq->num_free, 8);
	/* longer than the ring without indirect: can never fit */
	CHECK_EQ(post_pieces(vq, mem, 9, 1, 16, &tok[6]), -EINVAL);
	CHECK_EQ(vq->num_free, 8);
	CHECK(descs_accounted(vq));
	del_vq(vq);
}

/* ---- available buffer notifications (kicks), 2.7.10 ---- */

static void test_kick_no_event_idx(void)
{
	static u8 mem[64];
	struct virtqueue *vq = new_vq(8, false, false);
	struct sim_device d;

	sim_attach(&d, vq);
	CHECK_EQ(post_in(vq, mem, 8, &tok[0]), 0);
	CHECK(virtqueue_kick(vq));
	CHECK_EQ(notify_calls, 1);
	CHECK_EQ(vq->stats.kicks, 1);
	CHECK(!virtqueue_kick_prepare(vq)); /* nothing new since the last kick */
	CHECK_EQ(vq->stats.kicks_suppressed, 0);

	sim_disable_notify(&d); /* device busy: NO_NOTIFY */
	CHECK_EQ(post_in(vq, mem + 8, 8, &tok[1]), 0);
	CHECK(virtqueue_kick(vq));
	CHECK_EQ(notify_calls, 1);
	CHECK_EQ(vq->stats.kicks_suppressed, 1);

	sim_enable_notify(&d);
	CHECK_EQ(post_in(vq, mem + 16, 8, &tok[2]), 0);
	CHECK_EQ(post_in(vq, mem + 24, 8, &tok[3]), 0);
	CHECK(virtqueue_kick_prepare(vq)); /* one kick covers the batch */
	CHECK(virtqueue_notify(vq));
	CHECK_EQ(notify_calls, 2);
	CHECK_EQ(vq->stats.kicks, 2);
	CHECK_EQ(sim_avail_pending(&d), 4);
	CHECK_EQ(sim_avail_event(&d), 0); /* the ring never reads it; the device never set it */

	sim_complete(&d, 8, 0, NULL);
	for (unsigned i = 0; i < 4; i++)
		CHECK(virtqueue_get_buf(vq, NULL) == &tok[i]);
	CHECK_EQ(vq->num_free, 8);
	del_vq(vq);
}

static void test_kick_event_idx(void)
{
	static u8 mem[64];
	struct virtqueue *vq = new_vq(8, true, false);
	struct sim_device d;
	struct sim_buf b;
	unsigned i;

	sim_attach(&d, vq);
	/* avail_event starts at 0: the first buffer (written at index 0) needs a kick */
	CHECK_EQ(post_in(vq, mem, 8, &tok[0]), 0);
	CHECK(virtqueue_kick(vq));
	CHECK_EQ(notify_calls, 1);
	/* the device has not caught up: further adds need no kick */
	CHECK_EQ(post_in(vq, mem + 8, 8, &tok[1]), 0);
	CHECK(!virtqueue_kick_prepare(vq));
	CHECK_EQ(post_in(vq, mem + 16, 8, &tok[2]), 0);
	CHECK_EQ(post_in(vq, mem + 24, 8, &tok[3]), 0);
	CHECK(!virtqueue_kick_prepare(vq));
	CHECK_EQ(vq->stats.kicks_suppressed, 2);

	for (i = 0; i < 4; i++)
		CHECK(sim_pop(&d, &b));
	CHECK_EQ(sim_avail_event(&d), 4); /* device: tell me about entry 4 */
	CHECK_EQ(post_in(vq, mem + 32, 8, &tok[4]), 0);
	CHECK_EQ(post_in(vq, mem + 40, 8, &tok[5]), 0);
	CHECK(virtqueue_kick(vq));
	CHECK_EQ(notify_calls, 2);

	/* device stops asking (avail_event stays 4) and takes both: no kick for the next one */
	sim_disable_notify(&d);
	CHECK(sim_pop(&d, &b) && sim_pop(&d, &b));
	CHECK_EQ(post_in(vq, mem + 48, 8, &tok[6]), 0);
	CHECK(!virtqueue_kick_prepare(vq));
	CHECK_EQ(vq->stats.kicks_suppressed, 3);

	/* 2.7.10.1: with EVENT_IDX the driver ignores NO_NOTIFY in used->flags */
	sim_enable_notify(&d);
	CHECK(sim_pop(&d, &b));
	WRITE_ONCE(d.used->flags, VRING_USED_F_NO_NOTIFY);
	CHECK_EQ(post_in(vq, mem + 56, 8, &tok[7]), 0);
	CHECK(virtqueue_kick(vq));
	CHECK_EQ(notify_calls, 3);
	CHECK_EQ(vq->stats.kicks, 3);

	while (virtqueue_detach_unused_buf(vq))
		;
	CHECK_EQ(vq->num_free, 8);
	del_vq(vq);
}

/* The event arithmetic spans fewer than 2^16 adds; past that a kick must be forced. */
static void test_kick_saturation(void)
{
	static u8 mem[8];
	struct virtqueue *vq = new_vq(4, true, false);
	struct sim_device d;
	unsigned i, got = 0;

	sim_attach(&d, vq); /* a polling device: never waits for a kick */
	for (i = 0; i < 0xfffe; i++) {
		CHECK_EQ(post_in(vq, mem, 8, &tok[0]), 0);
		sim_complete(&d, 1, 0, NULL);
		got += virtqueue_get_buf(vq, NULL) == &tok[0];
	}
	CHECK(!virtqueue_kick_prepare(vq)); /* device already asked only for the next one */
	for (i = 0; i < 0xffff; i++) {
		CHECK_EQ(post_in(vq, mem, 8, &tok[0]), 0);
		sim_complete(&d, 1, 0, NULL);
		got += virtqueue_get_buf(vq, NULL) == &tok[0];
	}
	CHECK(virtqueue_kick_prepare(vq));
	CHECK_EQ(got, 0xfffe + 0xffff);
	CHECK_EQ(vq->num_free, 4);
	del_vq(vq);
}

/* ---- used buffer notifications (interrupts), 2.7.7 ---- */

static void test_interrupt_no_event_idx(void)
{
	static u8 mem[64];
	struct virtqueue *vq = new_vq(8, false, false);
	struct sim_device d;
	bool irq;

	sim_attach(&d, vq);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(post_in(vq, mem + 8 * i, 8, &tok[i]), 0);
	sim_complete(&d, 1, 0, &irq);
	CHECK(irq);
	virtqueue_disable_cb(vq);
	CHECK_EQ(sim_avail_flags(&d), VRING_AVAIL_F_NO_INTERRUPT);
	sim_complete(&d, 1, 0, &irq);
	CHECK(!irq);
	CHECK_EQ(d.interrupts_suppressed, 1);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[1]);
	CHECK(virtqueue_enable_cb(vq)); /* nothing pending */
	CHECK_EQ(sim_avail_flags(&d), 0);
	sim_complete(&d, 1, 0, &irq);
	CHECK(irq);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[2]);

	/* the race check: a completion while callbacks were off makes enable_cb say "poll" */
	CHECK_EQ(post_in(vq, mem, 8, &tok[3]), 0);
	virtqueue_disable_cb(vq);
	sim_complete(&d, 1, 0, &irq);
	CHECK(!irq);
	CHECK(!virtqueue_enable_cb(vq));
	CHECK(virtqueue_more_used(vq));
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[3]);
	CHECK(!virtqueue_more_used(vq));
	CHECK(virtqueue_enable_cb_delayed(vq)); /* same as enable_cb here */
	CHECK_EQ(sim_avail_flags(&d), 0);
	CHECK_EQ(sim_used_event(&d), 0); /* never written without EVENT_IDX */
	CHECK_EQ(d.interrupts, 2);
	CHECK_EQ(vq->num_free, 8);
	del_vq(vq);
}

static void test_interrupt_event_idx(void)
{
	static u8 mem[16 * 8];
	struct virtqueue *vq = new_vq(8, true, false);
	struct sim_device d;
	unsigned i, irqs;
	bool irq;

	sim_attach(&d, vq);
	for (i = 0; i < 4; i++)
		CHECK_EQ(post_in(vq, mem + 8 * i, 8, &tok[i]), 0);
	sim_complete(&d, 1, 0, &irq);
	CHECK(irq); /* used_event 0: interrupt at the first entry */
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
	CHECK_EQ(sim_used_event(&d), 1);
	sim_complete(&d, 1, 0, &irq);
	CHECK(irq);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[1]);
	CHECK_EQ(sim_used_event(&d), 2);

	virtqueue_disable_cb(vq);
	CHECK_EQ(sim_avail_flags(&d), 0); /* 2.7.7.1: flags stay 0 with EVENT_IDX */
	sim_complete(&d, 1, 0, &irq);
	CHECK(!irq);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[2]);
	CHECK_EQ(sim_used_event(&d), 1); /* not re-armed while disabled */
	CHECK(virtqueue_enable_cb(vq));
	CHECK_EQ(sim_used_event(&d), 3);
	sim_complete(&d, 1, 0, &irq);
	CHECK(irq);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[3]);

	/* delayed: 8 outstanding, interrupt only when the 7th (3/4 + 1) completes */
	virtqueue_disable_cb(vq);
	for (i = 0; i < 8; i++)
		CHECK_EQ(post_in(vq, mem + 8 * i, 8, &tok[8 + i]), 0);
	CHECK(virtqueue_enable_cb_delayed(vq));
	CHECK_EQ(sim_used_event(&d), 4 + 6);
	for (i = 0, irqs = 0; i < 8; i++) {
		sim_complete(&d, 1, 0, &irq);
		if (irq)
			irqs++;
		if (i == 6)
			CHECK(irq);
	}
	CHECK_EQ(irqs, 1);
	for (i = 0; i < 8; i++)
		CHECK(virtqueue_get_buf(vq, NULL) == &tok[8 + i]);

	/* delayed, but the device already passed the point: the caller must poll */
	virtqueue_disable_cb(vq);
	for (i = 0; i < 4; i++)
		CHECK_EQ(post_in(vq, mem + 8 * i, 8, &tok[i]), 0);
	sim_complete(&d, 4, 0, &irq);
	CHECK(!irq);
	CHECK(!virtqueue_enable_cb_delayed(vq));
	CHECK(!virtqueue_enable_cb(vq));
	for (i = 0; i < 4; i++)
		CHECK(virtqueue_get_buf(vq, NULL) == &tok[i]);
	CHECK(virtqueue_enable_cb_delayed(vq)); /* nothing outstanding: next entry */
	CHECK_EQ(sim_used_event(&d), vq->last_used_idx);
	CHECK_EQ(sim_avail_flags(&d), 0);
	CHECK_EQ(vq->num_free, 8);
	del_vq(vq);
}

static void test_vring_interrupt(void)
{
	static u8 mem[8];
	struct virtqueue *vq = new_vq(8, false, false);
	struct sim_device d;

	sim_attach(&d, vq);
	CHECK(!vring_interrupt(vq));
	CHECK_EQ(vq->stats.interrupts, 1);
	CHECK_EQ(vq->stats.spurious, 1);
	CHECK_EQ(callback_calls, 0);
	CHECK_EQ(post_in(vq, mem, 8, &tok[0]), 0);
	sim_complete(&d, 1, 0, NULL);
	CHECK(vring_interrupt(vq));
	CHECK_EQ(callback_calls, 1);
	CHECK_EQ(vq->stats.spurious, 1);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
	CHECK(!vring_interrupt(vq));
	CHECK_EQ(vq->stats.interrupts, 3);
	CHECK_EQ(vq->stats.spurious, 2);
	CHECK_EQ(callback_calls, 1);
	del_vq(vq);

	/* no callback registered: still safe */
	vq = vring_create_virtqueue(1, 8, false, false, t_notify, NULL, "nocb");
	sim_attach(&d, vq);
	CHECK_EQ(post_in(vq, mem, 8, &tok[0]), 0);
	sim_complete(&d, 1, 0, NULL);
	CHECK(vring_interrupt(vq));
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
	del_vq(vq);
}

/* ---- long runs: indices wrap past 65535 ---- */

/* The split simulated device behind the long run's struct ring_sim. */
static bool split_take_one(void *dev, u8 seed)
{
	struct sim_device *d = dev;
	struct sim_buf b;

	if (!sim_pop(d, &b))
		return false;
	sim_push(d, b.head, sim_write(&b, seed, b.in_bytes));
	return true;
}

static bool split_flush(void *dev) { return sim_flush(dev); }
static bool split_pending(void *dev) { return sim_avail_pending(dev) != 0; }
static void split_enable_notify(void *dev) { sim_enable_notify(dev); }
static void split_disable_notify(void *dev) { sim_disable_notify(dev); }

static void run_wrap(unsigned num, bool event_idx, bool indirect)
{
	static struct wrap_run w;
	static struct sim_device d;
	struct wrap_device_counts counts;
	const char *why;

	memset(&w, 0, sizeof(w));
	w.vq = new_vq(num, event_idx, indirect);
	w.target = 70000;
	w.max_pieces = 3;
	w.sim = (struct ring_sim){ &d, split_take_one, split_flush, split_pending, split_enable_notify,
				   split_disable_notify };
	sim_attach(&d, w.vq);
	CHECK(wrap_run_loop(&w, event_idx));
	counts = (struct wrap_device_counts){ d.interrupts, d.interrupts_suppressed, d.chain_errors };
	why = wrap_run_check(&w, &counts);
	CHECK_STR(why ? why : "ok", "ok");
	CHECK_EQ(w.vq->avail_idx_shadow, (u16)w.target);
	CHECK_EQ(w.vq->last_used_idx, (u16)w.target);
	CHECK(descs_accounted(w.vq));
	del_vq(w.vq);
}

static void test_wrap_plain(void) { run_wrap(8, false, false); }
static void test_wrap_indirect(void) { run_wrap(4, false, true); }
static void test_wrap_event_idx(void) { run_wrap(8, true, false); }
static void test_wrap_event_idx_indirect(void) { run_wrap(16, true, true); }

/* ---- reset and teardown ---- */

static void detach_after_reset(bool indirect)
{
	static u8 mem[10][3 * 16];
	struct virtqueue *vq = new_vq(32, false, indirect);
	struct sim_device d;
	static struct sim_buf b[5];
	bool seen[10] = { false };
	unsigned i, n = 0;
	void *t;

	sim_attach(&d, vq);
	for (i = 0; i < 10; i++)
		CHECK_EQ(post_pieces(vq, mem[i], i % 2 ? 3 : 1, i % 2, 16, &tok[i]), 0);
	/* the device takes five and completes three before the reset */
	for (i = 0; i < 5; i++)
		CHECK(sim_pop(&d, &b[i]));
	for (i = 0; i < 3; i++)
		sim_push(&d, b[i].head, 0);
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);

	/* the device was reset: every other buffer comes back exactly once */
	while ((t = virtqueue_detach_unused_buf(vq))) {
		int k = (int *)t - tok;

		CHECK(k >= 1 && k < 10);
		if (k >= 1 && k < 10) {
			CHECK(!seen[k]);
			seen[k] = true;
		}
		if (++n > 20)
			break;
	}
	CHECK_EQ(n, 9);
	CHECK(virtqueue_detach_unused_buf(vq) == NULL);
	CHECK_EQ(vq->num_free, 32);
	CHECK(descs_accounted(vq));

	vring_reset(vq);
	CHECK_EQ(vq->avail->idx, 0);
	CHECK_EQ(vq->used->idx, 0);
	CHECK_EQ(vq->stats.added, 10);
	sim_attach(&d, vq);
	CHECK_EQ(post_pieces(vq, mem[0], 3, 1, 16, &tok[11]), 0);
	CHECK_EQ(sim_complete(&d, 8, 0, NULL), 1);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[11]);
	CHECK_EQ(vq->num_free, 32);
	CHECK_EQ(d.chain_errors, 0);
	del_vq(vq);
}

static void test_detach_after_reset(void)
{
	detach_after_reset(false);
	detach_after_reset(true);
}

static void test_vring_reset(void)
{
	static u8 mem[64];
	struct virtqueue *vq = new_vq(8, true, true);
	struct sim_device d;
	unsigned i;

	sim_attach(&d, vq);
	for (i = 0; i < 5; i++)
		CHECK_EQ(post_pieces(vq, mem, 2, 1, 8, &tok[i]), 0);
	CHECK(virtqueue_kick(vq));
	sim_complete(&d, 3, 0, NULL);
	for (i = 0; i < 3; i++)
		CHECK(virtqueue_get_buf(vq, NULL) == &tok[i]);
	virtqueue_disable_cb(vq);
	while (virtqueue_detach_unused_buf(vq))
		;
	vring_reset(vq);
	CHECK_EQ(vq->num_free, 8);
	CHECK_EQ(vq->free_head, 0);
	CHECK_EQ(vq->avail_idx_shadow, 0);
	CHECK_EQ(vq->last_used_idx, 0);
	CHECK_EQ(vq->avail_flags_shadow, 0);
	CHECK_EQ(vq->added_since_kick, 0);
	CHECK(!vq->broken);
	CHECK(rings_clear(vq));
	CHECK(descs_accounted(vq));
	for (i = 0; i < 8; i++)
		CHECK(vq->desc_state[i].data == NULL);
	CHECK_EQ(vq->stats.added, 5);
	CHECK_EQ(vq->stats.completed, 3);

	/* resetting with a buffer still posted: the ring recovers, and says so */
	host_log_clear();
	CHECK_EQ(post_in(vq, mem, 8, &tok[0]), 0);
	vring_reset(vq);
	CHECK(strstr(host_log, "reset drops 1") != NULL);
	CHECK_EQ(vq->num_free, 8);
	CHECK(descs_accounted(vq));
	del_vq(vq);
}

static void test_notify_failure(void)
{
	static u8 mem[8];
	struct virtqueue *vq = new_vq(8, false, false);

	CHECK_EQ(post_in(vq, mem, 8, &tok[0]), 0);
	notify_ok = false;
	CHECK(!virtqueue_kick(vq));
	CHECK(vq->broken);
	CHECK_EQ(notify_calls, 1);
	CHECK_EQ(vq->stats.kicks, 0);
	CHECK_EQ(post_in(vq, mem, 8, &tok[1]), -EIO);
	CHECK(!virtqueue_kick_prepare(vq));
	CHECK(!virtqueue_notify(vq));
	CHECK_EQ(notify_calls, 1); /* a broken queue does not touch the device */
	CHECK(virtqueue_detach_unused_buf(vq) == &tok[0]);
	vring_reset(vq);
	notify_ok = true;
	CHECK_EQ(post_in(vq, mem, 8, &tok[1]), 0);
	CHECK(virtqueue_kick(vq));
	CHECK(virtqueue_detach_unused_buf(vq) == &tok[1]);
	del_vq(vq);
}

/* ---- a hostile device ---- */

static void test_hostile_id_out_of_range(void)
{
	static u8 a[16], c[16];
	struct virtqueue *vq = new_vq(8, false, false);
	struct sim_device d;
	struct sim_buf ba, bc;
	unsigned len = 777;

	sim_attach(&d, vq);
	CHECK_EQ(post_in(vq, a, 16, &tok[0]), 0);
	CHECK_EQ(post_in(vq, c, 16, &tok[1]), 0);
	CHECK(sim_pop(&d, &ba) && sim_pop(&d, &bc));
	sim_push(&d, 8 + 3, 4);
	sim_push(&d, 0xffffffffu, 4);
	sim_push(&d, 0x10000u | ba.head, 4); /* would alias ba.head if truncated to 16 bits */
	sim_push(&d, ba.head, 4);
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	CHECK_EQ(len, 4);
	CHECK_EQ(vq->stats.bad_used_id, 3);
	CHECK(virtqueue_get_buf(vq, &len) == NULL);
	CHECK_EQ(vq->num_free, 7);
	sim_push(&d, bc.head, 16);
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[1]);
	CHECK_EQ(len, 16);
	CHECK_EQ(vq->num_free, 8);
	CHECK(!vq->broken);
	CHECK(descs_accounted(vq));
	del_vq(vq);
}

static void test_hostile_id_not_in_flight(void)
{
	static u8 mem[3 * 8], e[8];
	struct virtqueue *vq = new_vq(8, false, false);
	struct sim_device d;
	struct sim_buf bc, be;
	unsigned len;
	u16 second;

	sim_attach(&d, vq);
	CHECK_EQ(post_pieces(vq, mem, 3, 1, 8, &tok[0]), 0);
	CHECK_EQ(post_in(vq, e, 8, &tok[1]), 0);
	CHECK(sim_pop(&d, &bc) && sim_pop(&d, &be));
	second = vq->desc[bc.head].next;
	CHECK(vq->desc_state[7].data == NULL && vq->num_free == 4);
	sim_push(&d, second, 1); /* inside a chain, not its head */
	sim_push(&d, 7, 1);      /* a free descriptor */
	sim_push(&d, bc.head, 2);
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	CHECK_EQ(len, 2);
	CHECK_EQ(vq->stats.bad_used_id, 2);
	CHECK_EQ(vq->num_free, 7);
	CHECK(descs_accounted(vq));
	sim_push(&d, be.head, 8);
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[1]);
	CHECK_EQ(vq->num_free, 8);
	del_vq(vq);
}

static void test_hostile_len_too_big(void)
{
	static u8 e[64], f[32], g[64], h[64];
	struct virtqueue *vq = new_vq(8, false, true);
	struct sim_device d;
	struct sim_buf b[4];
	unsigned len, i;

	sim_attach(&d, vq);
	CHECK_EQ(post_in(vq, e, 64, &tok[0]), 0);
	CHECK_EQ(post_out(vq, f, 32, &tok[1]), 0);
	CHECK_EQ(post_in(vq, g, 64, &tok[2]), 0);
	CHECK_EQ(post_in(vq, h, 64, &tok[3]), 0);
	for (i = 0; i < 4; i++)
		CHECK(sim_pop(&d, &b[i]));
	sim_push(&d, b[0].head, 65);          /* one past the writable part */
	sim_push(&d, b[1].head, 1);           /* nothing was writable */
	sim_push(&d, b[2].head, 64);          /* exactly the writable part: fine */
	sim_push(&d, b[3].head, 0xffffffffu);
	sim_flush(&d);
	len = 99;
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	CHECK_EQ(len, 0);
	len = 99;
	CHECK(virtqueue_get_buf(vq, &len) == &tok[1]);
	CHECK_EQ(len, 0);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[2]);
	CHECK_EQ(len, 64);
	len = 99;
	CHECK(virtqueue_get_buf(vq, &len) == &tok[3]);
	CHECK_EQ(len, 0);
	CHECK_EQ(vq->stats.bad_used_len, 3);
	CHECK_EQ(vq->stats.completed, 4);
	CHECK_EQ(vq->num_free, 8);
	del_vq(vq);
}

static void test_hostile_double_completion(void)
{
	static u8 a[8], c[3 * 8];
	struct virtqueue *vq = new_vq(8, false, false);
	struct sim_device d;
	struct sim_buf ba, bc;

	sim_attach(&d, vq);
	CHECK_EQ(post_in(vq, a, 8, &tok[0]), 0);
	CHECK_EQ(post_pieces(vq, c, 3, 1, 8, &tok[1]), 0);
	CHECK(sim_pop(&d, &ba) && sim_pop(&d, &bc));
	sim_push(&d, ba.head, 1);
	sim_push(&d, ba.head, 1);
	sim_push(&d, bc.head, 2);
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[1]);
	CHECK_EQ(vq->stats.bad_used_id, 1);
	CHECK_EQ(vq->num_free, 8); /* not 9 or 11: nothing freed twice */
	sim_push(&d, bc.head, 2);  /* and again, long after */
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, NULL) == NULL);
	CHECK_EQ(vq->stats.bad_used_id, 2);
	CHECK_EQ(vq->stats.completed, 2);
	CHECK_EQ(vq->num_free, 8);
	CHECK(descs_accounted(vq));
	del_vq(vq);
}

/* A device that scribbles on the descriptor table (which it must not write, 2.7.5) cannot
 * corrupt the free list: the driver follows only its private copy of the links. */
static void test_hostile_desc_scribble(void)
{
	static u8 mem[4 * 32];
	struct virtqueue *vq = new_vq(8, false, false);
	struct sim_device d;
	struct sim_buf b;
	unsigned round, i;

	sim_attach(&d, vq);
	for (round = 0; round < 50; round++) {
		for (i = 0; i < 2; i++)
			CHECK_EQ(post_pieces(vq, mem + 64 * i, 3, 1, 16, &tok[i]), 0);
		for (i = 0; i < 2; i++) {
			CHECK(sim_pop(&d, &b));
			sim_push(&d, b.head, 16);
		}
		for (i = 0; i < vq->num; i++) /* garbage in every next field */
			vq->desc[i].next = (u16)(0xdead + round * 7 + i);
		sim_flush(&d);
		CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]);
		CHECK(virtqueue_get_buf(vq, NULL) == &tok[1]);
		CHECK_EQ(vq->num_free, 8);
		CHECK(descs_accounted(vq));
	}
	del_vq(vq);
}

static void test_hostile_used_idx(void)
{
	static u8 mem[3 * 16];
	struct virtqueue *vq = new_vq(8, false, true);
	struct sim_device d;
	struct sim_buf b;
	unsigned i, n = 0;

	/* more than num ahead: counted once, queue broken, nothing followed */
	sim_attach(&d, vq);
	for (i = 0; i < 3; i++)
		CHECK_EQ(post_pieces(vq, mem + 16 * i, i + 1, 0, 16, &tok[i]), 0);
	sim_set_used_idx(&d, 9);
	CHECK(virtqueue_get_buf(vq, NULL) == NULL);
	CHECK_EQ(vq->stats.bad_used_idx, 1);
	CHECK(vq->broken);
	CHECK(virtqueue_get_buf(vq, NULL) == NULL);
	CHECK_EQ(vq->stats.bad_used_idx, 1);
	CHECK(!virtqueue_more_used(vq));
	CHECK(!vring_interrupt(vq));
	CHECK_EQ(vq->stats.interrupts, 1);
	CHECK_EQ(vq->stats.spurious, 0); /* not spurious: the queue is out of service */
	CHECK_EQ(callback_calls, 0);
	CHECK_EQ(vq->stats.completed, 0);
	CHECK_EQ(post_in(vq, mem, 16, &tok[3]), -EIO);
	CHECK(!virtqueue_kick(vq));
	while (virtqueue_detach_unused_buf(vq))
		n++;
	CHECK_EQ(n, 3);
	CHECK_EQ(vq->num_free, 8);

	/* backwards (used idx behind last_used) is just as impossible */
	vring_reset(vq);
	CHECK(!vq->broken);
	sim_attach(&d, vq);
	CHECK_EQ(post_in(vq, mem, 16, &tok[0]), 0);
	sim_set_used_idx(&d, 0xffff);
	CHECK(virtqueue_get_buf(vq, NULL) == NULL);
	CHECK_EQ(vq->stats.bad_used_idx, 2);
	CHECK(virtqueue_detach_unused_buf(vq) == &tok[0]);

	/* exactly num ahead over zeroed entries (id 0): allowed, but each is checked */
	vring_reset(vq);
	sim_attach(&d, vq);
	CHECK_EQ(post_in(vq, mem, 16, &tok[0]), 0);
	CHECK_EQ(post_in(vq, mem + 16, 16, &tok[1]), 0);
	CHECK(sim_pop(&d, &b) && sim_pop(&d, &b));
	sim_set_used_idx(&d, 8);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[0]); /* entry 0 names head 0 */
	CHECK(virtqueue_get_buf(vq, NULL) == NULL);
	CHECK_EQ(vq->stats.bad_used_id, 7);
	CHECK_EQ(vq->stats.bad_used_idx, 2);
	CHECK(!vq->broken);
	CHECK_EQ(vq->num_free, 7);
	sim_push(&d, b.head, 16);
	sim_flush(&d);
	CHECK(virtqueue_get_buf(vq, NULL) == &tok[1]);
	CHECK_EQ(vq->num_free, 8);
	CHECK(descs_accounted(vq));
	del_vq(vq);
}

/* A device spraying random used entries and indices: no crash, no leak, and every buffer
 * comes back exactly once through get_buf or detach. */
static void test_hostile_random(void)
{
	static u8 mem[8][16];
	struct virtqueue *vq = new_vq(8, true, true);
	struct sim_device d;
	unsigned round, returned = 0, posted = 0;
	void *t;

	for (round = 0; round < 2000; round++) {
		sim_attach(&d, vq);
		for (unsigned i = 0; i < 8; i++)
			if (post_pieces(vq, mem[i], 1 + rnd(2), rnd(2), 8, &tok[i]) == 0)
				posted++;
		for (unsigned i = 0; i < 6; i++)
			sim_push(&d, rnd(3) ? rnd(10) : (u32)rnd(0x7fffffff) * 2, rnd(40));
		if (rnd(4) == 0)
			sim_set_used_idx(&d, (u16)rnd(0x10000));
		else
			sim_flush(&d);
		while ((t = virtqueue_get_buf(vq, NULL)))
			returned++;
		CHECK(descs_accounted(vq));
		while ((t = virtqueue_detach_unused_buf(vq)))
			returned++;
		vring_reset(vq);
	}
	CHECK_EQ(returned, posted);
	CHECK(vq->stats.bad_used_id > 0);
	CHECK(vq->stats.bad_used_len > 0);
	CHECK(vq->stats.bad_used_idx > 0);
	CHECK_EQ(vq->num_free, 8);
	del_vq(vq);
}

int main(void)
{
	RUN(test_ring_layout);
	RUN(test_create_alloc_failure);
	RUN(test_chain_out_in);
	RUN(test_add_outbuf_inbuf);
	RUN(test_indirect);
	RUN(test_queue_full);
	RUN(test_kick_no_event_idx);
	RUN(test_kick_event_idx);
	RUN(test_kick_saturation);
	RUN(test_interrupt_no_event_idx);
	RUN(test_interrupt_event_idx);
	RUN(test_vring_interrupt);
	RUN(test_wrap_plain);
	RUN(test_wrap_indirect);
	RUN(test_wrap_event_idx);
	RUN(test_wrap_event_idx_indirect);
	RUN(test_detach_after_reset);
	RUN(test_vring_reset);
	RUN(test_notify_failure);
	RUN(test_hostile_id_out_of_range);
	RUN(test_hostile_id_not_in_flight);
	RUN(test_hostile_len_too_big);
	RUN(test_hostile_double_completion);
	RUN(test_hostile_used_idx);
	RUN(test_hostile_random);
	RUN(test_hostile_desc_scribble);
	return unit_summary("virtio_ring");
}
