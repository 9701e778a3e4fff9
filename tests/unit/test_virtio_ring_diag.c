/*
 * tests/unit/test_virtio_ring_diag.c - the split ring's read-only views for diagnostics
 * (virtqueue_snapshot, virtqueue_desc_owners in drivers/virtio/virtio_ring.c), which the
 * vring and netstat commands print. Every field is checked against a ring whose state the test
 * built: buffers posted, some of them returned by the simulated device and not yet taken back.
 * Written for the survivors of make mutate (docs/testing.md): before it no unit test read them.
 */
#include <string.h>

#include "drivers/virtio/virtio_ring.h"
#include "kernel/errno.h"
#include "drivers/virtio/vring_trace.h"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/sim_device_harness.h"
#include "tests/unit/unit.h"

static int tok[8];
static u8 bytes[8][64];

static bool t_notify(struct virtqueue *vq) { (void)vq; return true; }
static void t_callback(struct virtqueue *vq) { (void)vq; }

static unsigned count_owner(const u8 *owner, unsigned num, u8 who)
{
	unsigned n = 0;

	for (unsigned i = 0; i < num; i++)
		n += owner[i] == who;
	return n;
}

/* Eight descriptors: three one-piece buffers and one two-piece buffer (out + in) posted; the
 * device returns the first two; then the driver takes one back. */
static void test_snapshot_and_owners(void)
{
	struct virtqueue *vq = vring_create_virtqueue(0, 8, false, false, t_notify, t_callback, "diag");
	struct vring_snapshot s;
	struct sim_device d;
	struct sim_buf b;
	struct scatterlist sg[2];
	u8 owner[8];
	unsigned len;

	CHECK(vq != NULL);
	if (!vq)
		return;
	for (int i = 0; i < 3; i++) {
		sg[0].addr = bytes[i];
		sg[0].len = 60;
		CHECK_EQ(virtqueue_add_outbuf(vq, sg, 1, &tok[i]), 0);
	}
	sg[0].addr = bytes[3];
	sg[0].len = 10;
	sg[1].addr = bytes[4];
	sg[1].len = 64;
	CHECK_EQ(virtqueue_add_sgs(vq, sg, 1, 1, &tok[3]), 0);
	virtqueue_kick(vq);

	virtqueue_snapshot(vq, &s);
	CHECK_EQ(s.avail_idx, 4);
	CHECK_EQ(s.used_idx, 0);
	CHECK_EQ(s.last_used, 0);
	CHECK_EQ(s.num_free, 3);
	CHECK(s.callbacks);
	virtqueue_desc_owners(vq, 0, owner);
	CHECK_EQ(count_owner(owner, 8, VRING_DESC_POSTED), 5);
	CHECK_EQ(count_owner(owner, 8, VRING_DESC_FREE), 3);

	/* the device returns the first two buffers (one descriptor each) */
	sim_attach(&d, vq);
	for (int i = 0; i < 2; i++) {
		CHECK(sim_pop(&d, &b));
		sim_push(&d, b.head, 0);
	}
	sim_flush(&d);
	virtqueue_snapshot(vq, &s);
	CHECK_EQ(s.used_idx, 2);
	CHECK_EQ(s.last_used, 0);
	virtqueue_desc_owners(vq, (u16)(s.used_idx - s.last_used), owner);
	CHECK_EQ(count_owner(owner, 8, VRING_DESC_USED), 2);
	CHECK_EQ(count_owner(owner, 8, VRING_DESC_POSTED), 3);
	CHECK_EQ(count_owner(owner, 8, VRING_DESC_FREE), 3);

	/* one taken back: its descriptor is free again, the other still used */
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	virtqueue_disable_cb(vq);
	virtqueue_snapshot(vq, &s);
	CHECK_EQ(s.last_used, 1);
	CHECK_EQ(s.num_free, 4);
	CHECK(!s.callbacks);
	virtqueue_desc_owners(vq, (u16)(s.used_idx - s.last_used), owner);
	CHECK_EQ(count_owner(owner, 8, VRING_DESC_USED), 1);
	CHECK_EQ(count_owner(owner, 8, VRING_DESC_POSTED), 3);
	CHECK_EQ(count_owner(owner, 8, VRING_DESC_FREE), 4);

	/* a used entry naming a descriptor that is not a chain head in flight marks nothing */
	vq->used->ring[1].id = 7;
	virtqueue_desc_owners(vq, 1, owner);
	CHECK_EQ(count_owner(owner, 8, VRING_DESC_USED), 0);

	vring_del_virtqueue(vq);
	CHECK_EQ(host_dma_live, 0);
}

/* The ring's trace points (drivers/virtio/vring_trace.h; what `vring trace` prints and
 * tests/qemu/test_trace.py reads): each step once, in the order the driver takes them, with
 * the descriptor it concerns and its value -- descriptors used by an add, whether the kick
 * notifies, the length the device wrote. */
struct trace_event {
	const char *step;
	u32 id, val;
};
static struct trace_event trace[32];
static unsigned ntrace;

static void record(const struct virtqueue *vq, const char *step, u32 id, u32 val)
{
	(void)vq;
	if (ntrace < ARRAY_SIZE(trace))
		trace[ntrace++] = (struct trace_event){ step, id, val };
}

static void check_trace(const struct trace_event *want, unsigned n)
{
	CHECK_EQ(ntrace, n);
	for (unsigned i = 0; i < n && i < ntrace; i++) {
		CHECK_STR(trace[i].step, want[i].step);
		CHECK_EQ(trace[i].id, want[i].id);
		CHECK_EQ(trace[i].val, want[i].val);
	}
	ntrace = 0;
}

static void test_trace_points(void)
{
	struct virtqueue *vq = vring_create_virtqueue(0, 8, false, false, t_notify, t_callback, "trace");
	struct sim_device d;
	struct sim_buf b;
	struct scatterlist sg[2];
	unsigned len;

	CHECK(vq != NULL);
	if (!vq)
		return;
	sim_attach(&d, vq);
	ntrace = 0;
	host_vq_trace = record;
	sg[0].addr = bytes[0];
	sg[0].len = 10;
	sg[1].addr = bytes[1];
	sg[1].len = 64;
	CHECK_EQ(virtqueue_add_sgs(vq, sg, 1, 1, &tok[0]), 0);
	virtqueue_kick(vq);
	check_trace((const struct trace_event[]){ { "virtqueue_add_sgs/descs", 0, 2 },
						  { "virtqueue_kick_prepare/kick", VQ_NOID, 1 },
						  { "virtqueue_notify", VQ_NOID, 0 } }, 3);
	CHECK(sim_pop(&d, &b));
	sim_push(&d, b.head, 40);
	sim_flush(&d);
	vring_interrupt(vq);
	virtqueue_disable_cb(vq);
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	virtqueue_enable_cb(vq);
	check_trace((const struct trace_event[]){ { "vring_interrupt", VQ_NOID, 0 },
						  { "virtqueue_disable_cb", VQ_NOID, 0 },
						  { "virtqueue_get_buf/len", 0, 40 },
						  { "virtqueue_enable_cb", VQ_NOID, 0 } }, 4);
	/* the device asks for no notifications (2.7.7): the kick is traced as not needed */
	vq->used->flags = VRING_USED_F_NO_NOTIFY;
	sg[0].addr = bytes[2];
	sg[0].len = 60;
	CHECK_EQ(virtqueue_add_outbuf(vq, sg, 1, &tok[1]), 0);
	virtqueue_kick(vq);
	CHECK(sim_pop(&d, &b)); /* the id traced is the head of the chain the device finds */
	check_trace((const struct trace_event[]){ { "virtqueue_add_sgs/descs", b.head, 1 },
						  { "virtqueue_kick_prepare/kick", VQ_NOID, 0 } }, 2);
	host_vq_trace = NULL;
	vring_del_virtqueue(vq);
	CHECK_EQ(host_dma_live, 0);
}

/* 2.7.5.2 (and 2.8.4 for packed): a descriptor chain holds less than 2^32 bytes: 0xffffffff
 * in all is a chain, one byte more is not. Only lengths: the device never reads these. */
static void test_chain_length_limit(void)
{
	struct virtqueue *vq = vring_create_virtqueue(0, 8, false, false, t_notify, t_callback, "big");
	struct scatterlist sg[2];

	CHECK(vq != NULL);
	if (!vq)
		return;
	sg[0].addr = bytes[0];
	sg[0].len = 0x80000000u;
	sg[1].addr = bytes[1];
	sg[1].len = 0x80000000u;
	CHECK_EQ(virtqueue_add_outbuf(vq, sg, 2, &tok[0]), -EINVAL);
	sg[1].len = 0x7fffffffu;
	CHECK_EQ(virtqueue_add_outbuf(vq, sg, 2, &tok[0]), 0);
	CHECK(virtqueue_detach_unused_buf(vq) == &tok[0]);
	vring_del_virtqueue(vq);
	CHECK_EQ(host_dma_live, 0);
}

/* Without EVENT_IDX, enable_cb_delayed is enable_cb (virtio_ring.h): one buffer of four used
 * while callbacks were off is reported (false: poll again), not left to a later interrupt. */
static void test_enable_cb_delayed_without_event_idx(void)
{
	struct virtqueue *vq = vring_create_virtqueue(0, 8, false, false, t_notify, t_callback, "delayed");
	struct sim_device d;
	struct sim_buf b;
	struct scatterlist sg;
	unsigned len;

	CHECK(vq != NULL);
	if (!vq)
		return;
	sim_attach(&d, vq);
	for (int i = 0; i < 4; i++) {
		sg.addr = bytes[i];
		sg.len = 60;
		CHECK_EQ(virtqueue_add_outbuf(vq, &sg, 1, &tok[i]), 0);
	}
	virtqueue_kick(vq);
	virtqueue_disable_cb(vq);
	CHECK(sim_pop(&d, &b));
	sim_push(&d, b.head, 0);
	sim_flush(&d);
	CHECK(!virtqueue_enable_cb_delayed(vq));
	CHECK(!(vq->avail->flags & VRING_AVAIL_F_NO_INTERRUPT)); /* callbacks on again */
	CHECK(virtqueue_get_buf(vq, &len) == &tok[0]);
	CHECK(virtqueue_enable_cb_delayed(vq)); /* nothing pending now */
	while (virtqueue_detach_unused_buf(vq))
		;
	vring_del_virtqueue(vq);
	CHECK_EQ(host_dma_live, 0);
}

int main(void)
{
	RUN(test_snapshot_and_owners);
	RUN(test_trace_points);
	RUN(test_chain_length_limit);
	RUN(test_enable_cb_delayed_without_event_idx);
	return unit_summary("virtio_ring_diag");
}
